#!/usr/bin/env python3
"""The instruction-count benchmark of scripts/bench.sh (the default mode).

What users pay is the front Envoy's work per request. It is counted, not timed: the front Envoy
runs under valgrind's callgrind, its counters are zeroed after a warm-up (callgrind_control -z),
N requests run on one kept-alive connection, the counters are dumped (callgrind_control -d) and
the instructions an idle front Envoy executes in the same time are subtracted. That count does
not depend on the machine's load, so it can be compared across runs and machines.

Every configuration is one listener of the same front Envoy, so all shares come from one run:
  topology  plain    HTTP/1.1, no TLS, identity set by set_metadata (the microscope)
            sidecar  TLS + HTTP/2 downstream, jwt_authn with an ES256 token, mTLS upstream
            milo     the sidecar's TLS and mTLS, ext_authz to the real authorizer (reviews
                     against the Milo stand-in, caches warm), the filter
  mode      group    the filter's Activity-group mode (paths and objects converted)
            std      standard paths (activity_prefix /api/v1: nothing converted)
  variant   base     the same chain without the events filter (milo: and without ext_authz)
            filter   the chain with the events filter (and its buffer filter)
            filterb  the same with BENCH_WASM_B (plain only; e.g. the build without wasm-opt)
            noop     the plain chain with the SDK's do-nothing filter (plain only)
            authz    the Milo chain with ext_authz, without the events filter (milo only)
The upstream is a second Envoy (not measured) answering every scenario with fixed bodies, over
plain HTTP or mTLS.

Afterwards, with the front Envoy running natively: S4 watch throughput and the p99 latency the
filter adds, in the sidecar topology (wall clock, h2load).

Usage (scripts/bench.sh sets all of these): sidecar.py with the environment
  BENCH_OUT, ENVOY, H2LOAD, WASM, NOOP_WASM, MILO_BIN, AUTHZ_BIN, BENCH_N, BENCH_N_LIST,
  BENCH_SCENARIOS, BENCH_TOPOLOGIES, BENCH_NOOP, BENCH_WALL
"""
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
import base64

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(os.environ["BENCH_OUT"])
ENVOY = os.environ["ENVOY"]
H2LOAD = os.environ["H2LOAD"]
WASM = os.environ["WASM"]
NOOP_WASM = os.environ.get("NOOP_WASM", "")
# A second build of the filter measured next to WASM (plaintext only), e.g. without wasm-opt.
WASM_B = os.environ.get("BENCH_WASM_B", "")
MILO_BIN = os.environ.get("MILO_BIN", "")
AUTHZ_BIN = os.environ.get("AUTHZ_BIN", "")
N = int(os.environ.get("BENCH_N", "2000"))
# A 500-event list costs the filter ~50x a GET: fewer requests give the same precision.
N_LIST = int(os.environ.get("BENCH_N_LIST", str(max(N // 10, 20))))
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "S1 S2 S3 S5").split()
TOPOLOGIES = os.environ.get("BENCH_TOPOLOGIES", "plain sidecar milo").split()
MODES = os.environ.get("BENCH_MODES", "group std").split()
WITH_NOOP = os.environ.get("BENCH_NOOP", "1") == "1" and NOOP_WASM
WALL = os.environ.get("BENCH_WALL", "1") == "1"
WALL_N = int(os.environ.get("BENCH_WALL_N", "10000"))
WALL_CONNS = int(os.environ.get("BENCH_WALL_CONNECTIONS", "4"))
WATCH_STREAMS = int(os.environ.get("BENCH_WATCH_STREAMS", "20"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
DATA = OUT / "data"
ORG_PATH = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane"
ACT_PREFIX = "/apis/activity.miloapis.com/v1alpha1"

procs = []


def say(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def stop_all():
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    procs.clear()


# --- certificates and the ES256 token -----------------------------------------------------

def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def certs(dir_):
    """A CA, a server certificate (localhost, 127.0.0.1, activity.local) and a client one."""
    dir_.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (dir_ / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(name, sans, usage):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        (dir_ / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (dir_ / f"{name}-key.pem").write_bytes(pem_key(key))

    import ipaddress
    leaf("server", [x509.DNSName("localhost"), x509.DNSName("activity.local"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
         x509.oid.ExtendedKeyUsageOID.SERVER_AUTH)
    leaf("client", [x509.DNSName("envoy.bench")], x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(dir_):
    """An ES256 key, its JWKS and a token for an organization member (claims as the sandbox's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    nums = key.public_key().public_numbers()
    jwks = {"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "bench",
                      "x": b64u(nums.x.to_bytes(32, "big")), "y": b64u(nums.y.to_bytes(32, "big"))}]}
    (dir_ / "jwks.json").write_text(json.dumps(jwks))
    now = int(time.time())
    claims = {"iss": "https://sandbox.activity.local", "aud": "milo-sandbox",
              "sub": "alice@acme.example", "uid": "uid-alice",
              "groups": ["system:authenticated", "acme-members"],
              "extra": {"iam.miloapis.com/parent-type": ["Organization"],
                        "iam.miloapis.com/parent-name": ["acme"],
                        "iam.miloapis.com/parent-api-group": ["resourcemanager.miloapis.com"]},
              "iat": now, "nbf": now - 60, "exp": now + 86400}
    signing = b64u(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "bench"}).encode()) + "." + \
        b64u(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
    return signing + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


# --- Envoy configurations (JSON is YAML) ---------------------------------------------------

def hcm(stat, routes, filters, tls_like=False):
    cfg = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": stat,
           "route_config": {"name": stat, "max_direct_response_body_size_bytes": 67108864,
                            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
           "http_filters": filters}
    if tls_like:
        # As the sandbox's listener (envoy/sandbox.yaml).
        cfg.update({"codec_type": "AUTO", "normalize_path": True, "merge_slashes": True,
                    "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
                    "request_timeout": "0s", "stream_idle_timeout": "300s"})
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": cfg}


def downstream_tls(alpn):
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": {"alpn_protocols": alpn, "tls_certificates": [{
            "certificate_chain": {"filename": str(OUT / "certs/server.pem")},
            "private_key": {"filename": str(OUT / "certs/server-key.pem")}}]}}}


def listener(name, chain, tls=None, address_port=0):
    fc = {"filters": [chain]}
    if tls:
        fc["transport_socket"] = tls
    return {"name": name, "per_connection_buffer_limit_bytes": 2097152,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": address_port}},
            "filter_chains": [fc]}


def router():
    return {"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def upstream_config():
    ctype = [{"header": {"key": "content-type", "value": "application/json"}}]
    act = r"/apis/activity\.miloapis\.com/v1alpha1/.*"

    def resp(status, name):
        return {"status": status, "body": {"filename": str(DATA / name)}}
    post = [{"name": ":method", "string_match": {"exact": "POST"}}]
    watch = [{"name": "watch", "string_match": {"exact": "true"}}]
    routes = [
        {"match": {"safe_regex": {"regex": act}, "headers": post}, "direct_response": resp(201, "created.json")},
        {"match": {"prefix": "/", "headers": post}, "direct_response": resp(201, "created-v1.json")},
        {"match": {"safe_regex": {"regex": act + "/events/test-event"}}, "direct_response": resp(200, "event.json")},
        {"match": {"safe_regex": {"regex": ".*/events/test-event"}}, "direct_response": resp(200, "event-v1.json")},
        {"match": {"safe_regex": {"regex": act + "/events"}, "query_parameters": watch}, "direct_response": resp(200, "watch.jsonl")},
        {"match": {"safe_regex": {"regex": ".*/events"}, "query_parameters": watch}, "direct_response": resp(200, "watch-v1.jsonl")},
        {"match": {"safe_regex": {"regex": act + "/events"}}, "direct_response": resp(200, "list.json")},
        {"match": {"safe_regex": {"regex": ".*/events"}}, "direct_response": resp(200, "list-v1.json")},
        {"match": {"prefix": "/"}, "direct_response": resp(200, "pods.json")},
    ]
    # The buffer filter reads each request whole before the direct response: answered early,
    # an HTTP/1.1 request's connection is closed, and every POST would pay a new (m)TLS
    # connection from the front Envoy.
    buffer = {"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", "max_request_bytes": 2097152}}
    chain = hcm("upstream", routes, [buffer, router()])
    chain["typed_config"]["route_config"]["virtual_hosts"][0]["response_headers_to_add"] = ctype
    mtls = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": str(OUT / "certs/server.pem")},
                                  "private_key": {"filename": str(OUT / "certs/server-key.pem")}}],
            "validation_context": {"trusted_ca": {"filename": str(OUT / "certs/ca.pem")}}}}}
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "static_resources": {"listeners": [listener("plain", chain), listener("mtls", chain, mtls)]}}


RETRY = {"retry_on": "5xx,reset,connect-failure,refused-stream,retriable-status-codes",
         "retriable_status_codes": [429], "num_retries": 3,
         "retry_back_off": {"base_interval": "0.1s", "max_interval": "2s"}}
BUFFER_OFF = {"envoy.filters.http.buffer": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute", "disabled": True}}
BUFFER_ON = {"envoy.filters.http.buffer": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
    "buffer": {"max_request_bytes": 2097152}}}
AUTHZ_OFF = {"envoy.filters.http.ext_authz": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", "disabled": True}}


def filter_config(topology, mode):
    prefix = "/api/v1" if mode == "std" else ACT_PREFIX
    if topology == "sidecar":
        # As scripts/run.sh --jwt: the identity from the token's claims.
        identity = {"metadata_namespace": "envoy.filters.http.jwt_authn",
                    "user": ["jwt_payload", "sub"], "uid": ["jwt_payload", "uid"],
                    "groups": ["jwt_payload", "groups"], "extra": ["jwt_payload", "extra"],
                    "userinfo": ["jwt_payload", "userinfo"]}
        return {"activity_prefix": prefix, "identity": identity}
    if topology == "milo":
        return {"activity_prefix": prefix, "identity": {
            "metadata_namespace": "envoy.filters.http.ext_authz", "userinfo": "userinfo"}}
    return {"activity_prefix": prefix}


def wasm_filter(name, code, vm_id, config):
    return {"name": "envoy.filters.http.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {"name": name, "root_id": "" if vm_id == "noop" else "activity_events",
                   "failure_policy": "FAIL_CLOSED",
                   "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                     "value": json.dumps(config)},
                   "vm_config": {"vm_id": vm_id, "runtime": "envoy.wasm.runtime.v8",
                                 "code": {"local": {"filename": code}}}}}}


def front_config(authz_port):
    identity = {"name": "envoy.filters.http.set_metadata", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.set_metadata.v3.Config",
        "metadata": [{"metadata_namespace": "envoy.filters.http.ext_authz", "value": {
            "user": "alice@acme.example", "uid": "uid-alice",
            "groups": ["system:authenticated", "acme-members"],
            "extra": {"iam.miloapis.com/parent-type": ["Organization"],
                      "iam.miloapis.com/parent-name": ["acme"],
                      "iam.miloapis.com/parent-api-group": ["resourcemanager.miloapis.com"]}}}]}}
    jwt_authn = {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {"sandbox": {"issuer": "https://sandbox.activity.local", "audiences": ["milo-sandbox"],
                                  "local_jwks": {"filename": str(OUT / "certs/jwks.json")},
                                  "payload_in_metadata": "jwt_payload"}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
            {"provider_name": "sandbox"}, {"allow_missing_or_failed": {}}]}}}]}}
    ext_authz = {"name": "envoy.filters.http.ext_authz", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "transport_api_version": "V3",
        # The sandbox's 5 s, stretched: a review's wall time runs slow under valgrind on a busy
        # machine, and the count does not depend on the timeout.
        "grpc_service": {"envoy_grpc": {"cluster_name": "authz"}, "timeout": "60s"},
        "failure_mode_allow": False, "status_on_error": {"code": "ServiceUnavailable"},
        "stat_prefix": "activity_events_authz"}}
    compressor = {"name": "envoy.filters.http.compressor", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor",
        "response_direction_config": {"common_config": {"min_content_length": 256, "content_type": ["application/json"]}},
        "compressor_library": {"name": "gzip", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip"}}}}
    buffer = {"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", "max_request_bytes": 2097152}}

    listeners = []
    for topo in ("plain", "sidecar", "milo"):
        if topo == "milo" and not AUTHZ_BIN:
            continue
        cluster = "upstream" if topo == "plain" else "upstream-mtls"
        real = topo != "plain"
        retry = {"retry_policy": RETRY} if real else {}
        for mode in ("group", "std"):
            variants = ["base", "filter"] + (["noop"] if topo == "plain" and WITH_NOOP else []) \
                + (["filterb"] if topo == "plain" and WASM_B else []) \
                + (["authz"] if topo == "milo" else [])
            for variant in variants:
                name = f"{topo}-{mode}-{variant}"
                if variant in ("filter", "filterb"):
                    routes = [
                        {"match": {"prefix": "/", "headers": [{"name": "x-activity-events-route", "string_match": {"exact": "watch"}}]},
                         "request_headers_to_remove": ["x-activity-events-route"],
                         "route": {"cluster": cluster, "timeout": "0s", **retry}},
                        {"match": {"prefix": "/", "headers": [{"name": "x-activity-events-route", "present_match": True}]},
                         "request_headers_to_remove": ["x-activity-events-route"],
                         "route": {"cluster": cluster, "timeout": "30s" if real else "0s", **retry},
                         "typed_per_filter_config": BUFFER_ON},
                    ]
                    if topo == "milo":
                        # As envoy/sandbox.yaml: possible event paths are reviewed, the rest not.
                        routes.append({"match": {"safe_regex": {"regex": "(?i).*(events|watch|%).*"}},
                                       "route": {"cluster": cluster, "timeout": "0s"},
                                       "typed_per_filter_config": BUFFER_OFF})
                        routes.append({"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "0s"},
                                       "typed_per_filter_config": {**BUFFER_OFF, **AUTHZ_OFF}})
                    else:
                        routes.append({"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "0s"},
                                       "typed_per_filter_config": BUFFER_OFF})
                else:
                    # Without the filter Envoy routes event paths itself (a native regex rewrite in
                    # Activity-group mode), with the same route policy as the filter's route.
                    ev = r"^(?:.*/control-plane)?/api/v1/(namespaces/[^/]+/events.*|events.*)$"
                    route = {"cluster": cluster, "timeout": "0s", **retry}
                    if mode == "group":
                        route["regex_rewrite"] = {"pattern": {"regex": r"^(?:.*/control-plane)?/api/v1/(.*)$"},
                                                  "substitution": ACT_PREFIX + r"/\1"}
                    rest = {"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "0s"}}
                    if variant == "authz":
                        # ext_authz alone reviews what the events filter's chain reviews.
                        rest["typed_per_filter_config"] = AUTHZ_OFF
                    routes = [{"match": {"safe_regex": {"regex": ev}}, "route": route}, rest]
                filters = []
                if topo == "plain":
                    filters.append(identity)
                elif topo == "sidecar":
                    filters += [jwt_authn, compressor]
                elif variant in ("filter", "authz"):
                    filters += [ext_authz, compressor]
                else:
                    filters.append(compressor)
                if variant == "filter":
                    filters += [wasm_filter(f"events-{topo}-{mode}", WASM, "activity_events",
                                            filter_config(topo, mode)), buffer]
                elif variant == "filterb":
                    filters += [wasm_filter(f"events-b-{topo}-{mode}", WASM_B, "activity_events_b",
                                            filter_config(topo, mode)), buffer]
                elif variant == "noop":
                    filters.append(wasm_filter(f"noop-{mode}", NOOP_WASM, "noop", {}))
                filters.append(router())
                tls = downstream_tls(["h2", "http/1.1"]) if real else None
                listeners.append(listener(name, hcm(name, routes, filters, real), tls))

    def static_cluster(name, port, extra=None):
        c = {"name": name, "type": "STATIC", "connect_timeout": "2s",
             # As the activity cluster in envoy.yaml: bounds the body chunks filters see.
             "per_connection_buffer_limit_bytes": 262144,
             "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
                 "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}
        c.update(extra or {})
        return c
    up = upstream_ports()
    clusters = [
        static_cluster("upstream", up["plain"]),
        static_cluster("upstream-mtls", up["mtls"], {"transport_socket": {
            "name": "envoy.transport_sockets.tls", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": "activity.local",
                "common_tls_context": {
                    "tls_certificates": [{"certificate_chain": {"filename": str(OUT / "certs/client.pem")},
                                          "private_key": {"filename": str(OUT / "certs/client-key.pem")}}],
                    "validation_context": {"trusted_ca": {"filename": str(OUT / "certs/ca.pem")},
                                           "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": "activity.local"}}]}}}}}),
    ]
    if authz_port:
        clusters.append(static_cluster("authz", authz_port, {"typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}}}))
    # No periodic stats flush inside a measured window (it would land in some windows only).
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "stats_flush_interval": "299s",
            "static_resources": {"listeners": listeners, "clusters": clusters}}


# --- processes -----------------------------------------------------------------------------

def admin_get(admin, path):
    import urllib.request
    with urllib.request.urlopen(f"http://{admin}{path}", timeout=10) as r:
        return r.read().decode()


def start_envoy(name, config, base_id, wrapper=()):
    cfg = OUT / f"{name}.json"
    cfg.write_text(json.dumps(config, indent=1))
    admin_file = OUT / f"{name}-admin"
    admin_file.unlink(missing_ok=True)
    log = open(OUT / f"{name}.log", "w")
    p = subprocess.Popen([*wrapper, ENVOY, "-c", str(cfg), "--concurrency", "1", "--disable-hot-restart",
                          "--base-id", str(base_id), "--admin-address-path", str(admin_file)],
                         stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    deadline = time.time() + 600
    while time.time() < deadline:
        if p.poll() is not None:
            sys.exit(f"{name} Envoy exited:\n" + (OUT / f"{name}.log").read_text()[-3000:])
        if admin_file.exists() and admin_file.read_text().strip():
            try:
                if admin_get(admin_file.read_text().strip(), "/ready").strip() == "LIVE":
                    break
            except OSError:
                pass
        time.sleep(0.3)
    else:
        sys.exit(f"{name} Envoy did not become ready")
    admin = admin_file.read_text().strip()
    ports = {l["name"]: l["local_address"]["socket_address"]["port_value"]
             for l in json.loads(admin_get(admin, "/listeners?format=json"))["listener_statuses"]}
    return p, admin, ports


_upstream_ports = {}


def upstream_ports():
    return _upstream_ports


def wait_line(path, pattern, p, what):
    for _ in range(600):
        if path.exists():
            m = re.search(pattern, path.read_text())
            if m:
                return m
        if p.poll() is not None:
            sys.exit(f"{what} exited")
        time.sleep(0.1)
    sys.exit(f"{what} did not start")


def start_milo():
    """The Milo stand-in and the authorizer, as scripts/run.sh starts them; returns
    (authz gRPC port, alice's token)."""
    d = OUT / "milo"
    subprocess.run([MILO_BIN, "sandbox-files", "--dir", str(d)], check=True, stdout=subprocess.DEVNULL)
    out = OUT / "milo.out"
    p = subprocess.Popen([MILO_BIN, "serve", "--tokens", str(d / "tokens.csv"), "--policy", str(d / "policy.json"),
                          "--tls-cert", str(OUT / "certs/server.pem"), "--tls-key", str(OUT / "certs/server-key.pem")],
                         stdout=open(out, "w"), stderr=open(OUT / "milo.log", "w"))
    procs.append(p)
    m = wait_line(out, r"READY main=\S+:(\d+)", p, "the Milo stand-in")
    (OUT / "authz-kubeconfig").write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: milo
  cluster:
    server: https://localhost:{m.group(1)}
    certificate-authority: {OUT / 'certs/ca.pem'}
users:
- name: authz
  user:
    tokenFile: {d / 'authz.token'}
contexts:
- name: milo
  context: {{ cluster: milo, user: authz }}
current-context: milo
""")
    aout = OUT / "authz.out"
    # A longer review timeout than the default 5 s, for a busy machine (not measured: the
    # reviews of the measured requests come from the authorizer's warm caches).
    a = subprocess.Popen([AUTHZ_BIN, "serve", "--listen", "127.0.0.1:0", "--milo-kubeconfig", str(OUT / "authz-kubeconfig"),
                          "--milo-timeout=30s"],
                         stdout=open(aout, "w"), stderr=open(OUT / "authz.log", "w"))
    procs.append(a)
    m = wait_line(aout, r'"grpc":"[^"]*:(\d+)"', a, "the authorizer")
    return int(m.group(1)), (d / "alice.token").read_text().strip()


# --- requests ------------------------------------------------------------------------------

PATHS = {
    "S1": "/api/v1/namespaces/default/events/test-event",
    "S2": "/api/v1/namespaces/default/events",
    "S3": "/api/v1/namespaces/default/events",
    "S4": "/api/v1/namespaces/default/events?watch=true",
    "S5": "/api/v1/namespaces/default/pods",
}
LABELS = {
    "S1": "S1 GET one event",
    "S2": "S2 POST create (upstream keeps connections)",
    "S3": "S3 LIST 500 events",
    "S5": "S5 non-event GET",
}


class Client:
    def __init__(self, ports, tokens):
        self.ports, self.tokens = ports, tokens

    def args(self, listener, scenario, n, conns=1):
        topo = listener.split("-")[0]
        port = self.ports[listener]
        path = PATHS[scenario]
        if topo == "milo":
            path = ORG_PATH + path
        a = [H2LOAD, "-n", str(n), "-c", str(conns), "-t", "1", "-m", "1"]
        if topo == "plain":
            a += ["--h1", f"http://127.0.0.1:{port}{path}"]
        else:
            a += ["-H", f"authorization: Bearer {self.tokens[topo]}", f"https://127.0.0.1:{port}{path}"]
        if scenario == "S2":
            a += ["-d", str(DATA / "create-request.json"), "-H", "content-type: application/json"]
        return a

    def run(self, listener, scenario, n, conns=1, extra=(), check=True):
        r = subprocess.run(self.args(listener, scenario, n, conns) + list(extra),
                           capture_output=True, text=True)
        text = r.stdout
        m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
        if check and (r.returncode != 0 or not m or int(m.group(1)) != n):
            sys.exit(f"{listener} {scenario}: not every request succeeded:\n{text}\n{r.stderr}")
        return text


def check_rewrites(ports, tokens):
    """The filter listeners really run the filter: S1 answers as core/v1 in both modes, and the
    Activity-group baseline (no filter) shows the Activity group (nothing converts it)."""
    import ssl
    import urllib.request
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for name, port in ports.items():
        topo, mode, variant = name.split("-")
        if topo not in TOPOLOGIES:
            continue
        scheme = "http" if topo == "plain" else "https"
        path = (ORG_PATH if topo == "milo" else "") + PATHS["S1"]
        req = urllib.request.Request(f"{scheme}://127.0.0.1:{port}{path}")
        if topo in tokens:
            req.add_header("authorization", f"Bearer {tokens[topo]}")
        with urllib.request.urlopen(req, context=ctx if scheme == "https" else None, timeout=60) as r:
            api = json.loads(r.read())["apiVersion"]
        want = "v1" if variant in ("filter", "filterb") or mode == "std" else ACT_PREFIX.removeprefix("/apis/")
        if api != want:
            sys.exit(f"{name}: S1 answered apiVersion {api}, expected {want}")


# --- callgrind -----------------------------------------------------------------------------

class Callgrind:
    def __init__(self, pid, dir_):
        self.pid, self.dir = pid, dir_

    def _ctl(self, flag):
        subprocess.run(["callgrind_control", flag, str(self.pid)], check=True, stdout=subprocess.DEVNULL)

    def zero(self):
        self._ctl("-z")

    def dump(self, label=None):
        """The instructions counted since the last zero. With BENCH_KEEP_PROFILES=1 the profile
        is kept as callgrind/LABEL.out (callgrind_annotate reads it), else deleted."""
        before = set(self.dir.glob("callgrind.out.*"))
        self._ctl("-d")
        for _ in range(200):
            new = set(self.dir.glob("callgrind.out.*")) - before
            if new:
                f = max(new, key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else -1)
                for _ in range(100):
                    m = re.search(r"^summary: (\d+)$", f.read_text(errors="replace"), re.M)
                    if m:
                        if label and os.environ.get("BENCH_KEEP_PROFILES") == "1":
                            f.rename(self.dir / f"{label}.out")
                        else:
                            f.unlink()
                        return int(m.group(1))
                    time.sleep(0.1)
            time.sleep(0.1)
        sys.exit("callgrind_control -d wrote no profile")


def measure(cg, client, idle_rate, listener, scenario, n, tries=1):
    """Instructions per request; with tries > 1 the lowest of that many windows (one-off work,
    such as V8 compiling a function for the first time, only ever adds)."""
    client.run(listener, scenario, max(n // 10, 20))  # warm-up: connections, caches, VM memory
    best = None
    for _ in range(tries):
        cg.zero()
        t0 = time.monotonic()
        client.run(listener, scenario, n)
        elapsed = time.monotonic() - t0
        v = (cg.dump(f"{listener}-{scenario}") - idle_rate * elapsed) / n
        best = v if best is None else min(best, v)
    return best


def idle_rate(cg, seconds=5.0):
    cg.zero()
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    return cg.dump() / elapsed


# --- wall clock (sidecar): watch throughput and added latency ------------------------------

def wall(client):
    """Rounds interleave the configurations, so drift in the machine's load hits them alike."""
    rates, p50s, p99s = {}, {}, {}
    for _ in range(ROUNDS):
        for mode in MODES:
            for variant in ("base", "filter"):
                name = f"sidecar-{mode}-{variant}"
                key = (mode, variant)
                text = client.run(name, "S4", WATCH_STREAMS)
                m = re.search(r"finished in ([\d.]+)(ms|s)", text)
                secs = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
                data = int(re.search(r"traffic: .*?, [\d.]+[KMG]?B \((\d+)\) data", text).group(1))
                rates.setdefault(key, []).append(data / secs / 1e6)
                log = OUT / f"lat-{name}.tsv"
                log.unlink(missing_ok=True)
                client.run(name, "S1", WALL_N, conns=WALL_CONNS, extra=["--log-file", str(log)])
                lat = sorted(int(line.split("\t")[2]) for line in log.read_text().splitlines() if line.strip())
                p99s.setdefault(key, []).append(lat[int(len(lat) * 0.99) - 1])
                p50s.setdefault(key, []).append(lat[len(lat) // 2])
    res = {}
    for key in rates:
        mode, variant = key
        res[("S4", mode, variant)] = statistics.median(rates[key])
        res[("p99", mode, variant)] = statistics.median(p99s[key])
        res[("p50", mode, variant)] = statistics.median(p50s[key])
    return res


# --- main ----------------------------------------------------------------------------------

def main():
    global AUTHZ_BIN
    OUT.mkdir(parents=True, exist_ok=True)
    DATA.mkdir(exist_ok=True)
    subprocess.run([sys.executable, str(ROOT / "bench/bodies.py"), str(DATA)], check=True)
    certs(OUT / "certs")
    tokens = {"sidecar": jwt(OUT / "certs")}
    authz_port = 0
    if "milo" in TOPOLOGIES and MILO_BIN and AUTHZ_BIN:
        authz_port, tokens["milo"] = start_milo()
    elif "milo" in TOPOLOGIES:
        say("no MILO_BIN/AUTHZ_BIN: skipping the Milo profile")
    if not authz_port:
        AUTHZ_BIN = ""

    say("starting the upstream Envoy")
    _, _, ports = start_envoy("upstream", upstream_config(), 81)
    _upstream_ports.update(ports)
    front = front_config(authz_port)
    listeners = [l["name"] for l in front["static_resources"]["listeners"]]
    results = {"n": N, "n_list": N_LIST, "listeners": listeners, "instr": {}, "wall": {}}
    if WASM_B:
        results.update(wasm_b=os.path.basename(WASM_B), wasm_b_size=os.path.getsize(WASM_B))

    if WALL and "sidecar" in TOPOLOGIES:
        say("wall clock: S4 watch throughput and S1 latency in the sidecar topology (native Envoy)")
        p, _, fports = start_envoy("front-native", front, 82)
        client = Client(fports, tokens)
        for l in listeners:
            client.run(l, "S1", 2)
        results["wall"] = {"|".join(k): v for k, v in wall(client).items()}
        results["wall"].update(rounds=ROUNDS, streams=WATCH_STREAMS, n=WALL_N, conns=WALL_CONNS)
        p.terminate()
        p.wait()
        procs.remove(p)

    say("starting the front Envoy under callgrind (slow: the wasm is compiled under valgrind)")
    cgdir = OUT / "callgrind"
    cgdir.mkdir(exist_ok=True)
    p, _, fports = start_envoy("front", front, 83, wrapper=(
        # Uncompressed names: each dump kept by BENCH_KEEP_PROFILES reads on its own.
        "valgrind", "--tool=callgrind", "--smc-check=all-non-file", "--compress-strings=no",
        f"--callgrind-out-file={cgdir}/callgrind.out"))
    cg = Callgrind(p.pid, cgdir)
    client = Client(fports, tokens)

    say("sanity check: every configuration answers every scenario")
    for l in listeners:
        if l.split("-")[0] not in TOPOLOGIES:
            continue
        if l.startswith("milo-"):
            # The first review fills the authorizer's caches (TokenReview, SubjectAccessReview).
            client.run(l, "S1", 1, check=False)
        for s in SCENARIOS:
            client.run(l, s, 1)
    check_rewrites(fports, tokens)
    idle = [idle_rate(cg)]
    say(f"idle front Envoy: {idle[0]:,.0f} instructions/s")

    order = []
    for s in SCENARIOS:
        for topo in TOPOLOGIES:
            for mode in MODES:
                for variant in ("base", "noop", "authz", "filter", "filterb"):
                    name = f"{topo}-{mode}-{variant}"
                    if name in fports:
                        order.append((s, name))
    for i, (s, name) in enumerate(order, 1):
        n = N_LIST if s == "S3" else N
        # Few S3 requests per window: a one-off cost would weigh more there.
        v = measure(cg, client, idle[0], name, s, n, tries=2 if s == "S3" else 1)
        say(f"[{i}/{len(order)}] {s} {name}: {v:,.0f} instructions/request ({n} requests)")
        results["instr"][f"{s}|{name}"] = [v]

    # Repeatability: the same measurement again, a few times.
    if REPEATS > 1 and "plain" in TOPOLOGIES and "S1" in SCENARIOS:
        key = "S1|plain-group-filter"
        for _ in range(REPEATS - 1):
            results["instr"][key].append(measure(cg, client, idle[0], "plain-group-filter", "S1", N))
        say(f"repeats of {key}: {', '.join(f'{x:,.0f}' for x in results['instr'][key])}")
    idle.append(idle_rate(cg))
    results["idle_rate"] = idle
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    say(f"raw results in {OUT / 'results.json'}")


def on_term(*_):
    raise SystemExit("stopped")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    try:
        main()
    finally:
        stop_all()
