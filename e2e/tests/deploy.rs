//! `deploy/` (the kustomize component for Milo) checked offline, from `kubectl kustomize`
//! output: rendered onto a stand-in for Milo's base (`testdata/milo-base`, through the operator
//! overlay `testdata/milo-overlay`) and read field by field; built-in kinds against the
//! Kubernetes schemas (`kubernetes-validate`), the Certificates against cert-manager's CRD
//! schema (`check-jsonschema`), and its Envoy config through `envoy --mode validate`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use activity_e2e::envoy::validate;
use activity_e2e::tools;
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

const NAMESPACE: &str = "milo-system";
const MILO: &str = "milo-apiserver";
const ENVOY: &str = "activity-events-envoy";
const AUTHZ: &str = "activity-events-authz";
/// The label on everything the component adds (and nothing of Milo's), for the rollback.
const LABEL: &str = "app.kubernetes.io/component";

/// `kubectl kustomize` of a directory in the repository, one JSON value per document.
fn kustomize(dir: &str) -> Result<Vec<Value>> {
    let out = Command::new(tools::kubectl_bin()?)
        .arg("kustomize")
        .arg(tools::repo_root().join(dir))
        .output()
        .context("run kubectl kustomize")?;
    ensure!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    serde_saphyr::from_multiple(&text).context("parse kustomize output")
}

fn yaml_file(path: &str) -> Result<Value> {
    let text = std::fs::read_to_string(tools::repo_root().join(path))?;
    serde_saphyr::from_str(&text).with_context(|| format!("parse {path}"))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Result<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .with_context(|| format!("no string at {pointer} in {v}"))
}

fn array_at<'a>(v: &'a Value, pointer: &str) -> Result<&'a Vec<Value>> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .with_context(|| format!("no list at {pointer}"))
}

/// The rendered component and the handles every check needs.
struct Rendered {
    docs: Vec<Value>,
}

impl Rendered {
    fn load() -> Result<Rendered> {
        Ok(Rendered {
            docs: kustomize("testdata/milo-overlay")?,
        })
    }

    fn object(&self, kind: &str, name: &str) -> Result<&Value> {
        let found: Vec<&Value> = self
            .docs
            .iter()
            .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .collect();
        ensure!(found.len() == 1, "{kind}/{name}: found {}", found.len());
        Ok(found[0])
    }

    /// A generated ConfigMap: `name-<hash>`, so a changed file rolls the pods.
    fn generated(&self, name: &str) -> Result<&Value> {
        let prefix = format!("{name}-");
        let found: Vec<&Value> = self
            .docs
            .iter()
            .filter(|d| {
                d["kind"] == "ConfigMap"
                    && d["metadata"]["name"]
                        .as_str()
                        .and_then(|n| n.strip_prefix(&prefix))
                        .is_some_and(|hash| !hash.is_empty() && !hash.contains('-'))
            })
            .collect();
        ensure!(
            found.len() == 1,
            "ConfigMap {name}-<hash>: found {}",
            found.len()
        );
        Ok(found[0])
    }

    fn deployment(&self) -> Result<&Value> {
        self.object("Deployment", MILO)
    }

    fn pod(&self) -> Result<&Value> {
        self.deployment()?
            .pointer("/spec/template/spec")
            .context("no pod spec")
    }

    fn container(&self, name: &str) -> Result<&Value> {
        let found: Vec<&Value> = array_at(self.pod()?, "/containers")?
            .iter()
            .filter(|c| c["name"] == name)
            .collect();
        ensure!(found.len() == 1, "container {name}: found {}", found.len());
        Ok(found[0])
    }

    /// The production Envoy config as the component ships it.
    fn envoy_yaml(&self) -> Result<&str> {
        str_at(self.generated(ENVOY)?, "/data/envoy.yaml")
    }
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
}

/// Where a file a container reads comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    Secret {
        name: String,
        key: String,
    },
    ConfigMap {
        name: String,
        key: String,
    },
    /// Under no mount: the file is part of the image.
    Image,
}

fn secret(name: &str, key: &str) -> Source {
    Source::Secret {
        name: name.into(),
        key: key.into(),
    }
}

/// Resolve a file path through a container's mounts to the volume (and key) behind it.
fn resolve(pod: &Value, container: &Value, file: &str) -> Result<Source> {
    let mut best: Option<(&str, &Value)> = None;
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let path = m["mountPath"].as_str().context("mountPath")?;
        ensure!(
            m.get("subPath").is_none(),
            "subPath mounts are not expected"
        );
        let under = file
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('/'));
        if under && best.is_none_or(|(p, _)| p.len() < path.len()) {
            best = Some((path, m));
        }
    }
    let Some((path, mount)) = best else {
        return Ok(Source::Image);
    };
    let rel = &file[path.len() + 1..];
    let volume_name = str_at(mount, "/name")?;
    let volume = array_at(pod, "/volumes")?
        .iter()
        .find(|v| v["name"] == volume_name)
        .with_context(|| format!("mount of missing volume {volume_name}"))?;
    let (source, name_key) = if let Some(s) = volume.get("secret") {
        (s, "secretName")
    } else if let Some(c) = volume.get("configMap") {
        (c, "name")
    } else {
        bail!("volume {volume_name} is neither a Secret nor a ConfigMap: {volume}");
    };
    let name = str_at(source, &format!("/{name_key}"))?.to_owned();
    let key = match source.get("items").and_then(Value::as_array) {
        Some(items) => str_at(
            items
                .iter()
                .find(|i| i["path"] == rel)
                .with_context(|| format!("{file}: volume {volume_name} has no item {rel}"))?,
            "/key",
        )?
        .to_owned(),
        None => rel.to_owned(),
    };
    Ok(if name_key == "secretName" {
        Source::Secret { name, key }
    } else {
        Source::ConfigMap { name, key }
    })
}

/// Every value of a key anywhere in a JSON tree.
fn values_of<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == key {
                    out.push(child);
                }
                values_of(child, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| values_of(i, key, out)),
        _ => {}
    }
}

fn envoy_cluster_address(config: &Value, cluster: &str) -> Result<String> {
    let c = array_at(config, "/static_resources/clusters")?
        .iter()
        .find(|c| c["name"] == cluster)
        .with_context(|| format!("no cluster {cluster}"))?;
    let addr = c
        .pointer("/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address")
        .with_context(|| format!("cluster {cluster} has no address"))?;
    Ok(format!(
        "{}:{}",
        str_at(addr, "/address")?,
        addr["port_value"]
    ))
}

/// The value following a flag in an argument list.
fn flag<'a>(args: &'a [Value], name: &str) -> Result<&'a str> {
    let at = args
        .iter()
        .position(|a| a == name)
        .with_context(|| format!("no {name} in {args:?}"))?;
    args.get(at + 1)
        .and_then(Value::as_str)
        .with_context(|| format!("{name} has no value"))
}

#[test]
fn the_component_renders_onto_milos_base_as_expected() -> Result<()> {
    let r = Rendered::load()?;

    // Exactly these objects, all in Milo's namespace; nothing for the hosting cluster's RBAC
    // (that belongs to Milo's API: deploy/milo-rbac).
    let mut seen: Vec<(String, String, String)> = r
        .docs
        .iter()
        .map(|d| {
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            let name = [ENVOY, "activity-events-authz-kubeconfig"]
                .iter()
                .find(|g| name.starts_with(&format!("{g}-")) && d["kind"] == "ConfigMap")
                .map_or(name, |g| *g);
            (
                d["apiVersion"].as_str().unwrap_or_default().to_owned(),
                d["kind"].as_str().unwrap_or_default().to_owned(),
                name.to_owned(),
            )
        })
        .collect();
    seen.sort();
    let want: Vec<(String, String, String)> = [
        ("apps/v1", "Deployment", MILO),
        (
            "cert-manager.io/v1",
            "Certificate",
            "activity-events-authz-client",
        ),
        ("cert-manager.io/v1", "Certificate", "milo-activity-client"),
        ("v1", "ConfigMap", "activity-events-authz-kubeconfig"),
        ("v1", "ConfigMap", ENVOY),
        ("v1", "Service", MILO),
    ]
    .iter()
    .map(|(a, k, n)| (a.to_string(), k.to_string(), n.to_string()))
    .collect();
    assert_eq!(seen, want);
    for d in &r.docs {
        assert_eq!(d["metadata"]["namespace"], NAMESPACE, "{}", d["metadata"]);
        let milos_own = d["metadata"]["name"] == MILO;
        let label = &d["metadata"]["labels"][LABEL];
        if milos_own {
            assert!(
                label.is_null(),
                "Milo's {} got the component label",
                d["kind"]
            );
        } else {
            assert_eq!(label, "activity-events", "{}", d["metadata"]);
        }
    }

    let deployment = r.deployment()?;
    let pod = r.pod()?;
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["annotations"]
            ["kubectl.kubernetes.io/default-container"],
        MILO
    );
    let names: BTreeSet<&str> = array_at(pod, "/containers")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from([MILO, ENVOY, AUTHZ]));

    // Milo: on the loopback, without its port and probes, otherwise exactly as in its base;
    // FEATURE_GATES is the overlay's.
    let milo = r.container(MILO)?;
    let base = yaml_file("testdata/milo-base/deployment.yaml")?;
    let base_milo = &base["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(base_milo["name"], MILO);
    assert_eq!(env(milo, "BIND_ADDRESS"), Some("127.0.0.1"));
    assert_eq!(env(milo, "SECURE_PORT"), Some("8443"));
    assert_eq!(
        env(milo, "FEATURE_GATES"),
        Some("DiscoveryContextFilter=true,ProjectSuspension=true")
    );
    for field in ["ports", "livenessProbe", "readinessProbe", "startupProbe"] {
        assert!(
            milo.get(field).is_none(),
            "Milo kept {field}: {}",
            milo[field]
        );
    }
    let mut milo_rest = milo.clone();
    let mut base_rest = base_milo.clone();
    for v in [&mut milo_rest, &mut base_rest] {
        let obj = v.as_object_mut().context("container")?;
        for field in [
            "env",
            "ports",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
        ] {
            obj.remove(field);
        }
    }
    assert_eq!(
        milo_rest, base_rest,
        "Milo's container changed beyond env, ports, probes"
    );
    let env_names = |c: &Value| -> Vec<String> {
        c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        env_names(milo),
        env_names(base_milo),
        "env vars added or dropped"
    );
    for e in array_at(base_milo, "/env")? {
        let name = str_at(e, "/name")?;
        if !["BIND_ADDRESS", "SECURE_PORT", "FEATURE_GATES"].contains(&name) {
            assert_eq!(env(milo, name), e["value"].as_str(), "{name} changed");
        }
    }

    // Port names are unique in the pod; `https` is Envoy's 6443, where the Service points and
    // where Envoy listens.
    let mut port_names = Vec::new();
    for c in array_at(pod, "/containers")? {
        for p in c["ports"].as_array().into_iter().flatten() {
            port_names.push((
                c["name"].clone(),
                p["name"].clone(),
                p["containerPort"].clone(),
            ));
        }
    }
    assert_eq!(
        port_names,
        vec![(json!(ENVOY), json!("https"), json!(6443))]
    );
    let service = r.object("Service", MILO)?;
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "https");
    assert_eq!(service["spec"]["ports"][0]["port"], 6443);
    let config: Value = serde_saphyr::from_str(r.envoy_yaml()?)?;
    assert_eq!(
        config.pointer("/static_resources/listeners/0/address/socket_address/port_value"),
        Some(&json!(6443))
    );

    // Envoy: the overlay's image, the ConfigMap's config, Milo's probes proxied to Milo.
    let envoy = r.container(ENVOY)?;
    assert_eq!(
        envoy["image"],
        "registry.example.com/activity-events-envoy:v0.1.0"
    );
    let envoy_args = array_at(envoy, "/args")?;
    let config_path = flag(envoy_args, "--config-path")?;
    assert_eq!(
        resolve(pod, envoy, config_path)?,
        Source::ConfigMap {
            name: str_at(r.generated(ENVOY)?, "/metadata/name")?.to_owned(),
            key: "envoy.yaml".into()
        }
    );
    assert_eq!(flag(envoy_args, "--concurrency")?, "2");
    for (probe, path) in [
        ("startupProbe", "/livez"),
        ("livenessProbe", "/livez"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(
            envoy[probe]["httpGet"],
            json!({ "path": path, "port": "https", "scheme": "HTTPS" }),
            "{probe}"
        );
        assert_eq!(
            envoy[probe]["httpGet"], base_milo[probe]["httpGet"],
            "{probe} is not Milo's"
        );
        assert_eq!(
            envoy[probe]["failureThreshold"], base_milo[probe]["failureThreshold"],
            "{probe}"
        );
    }

    // Every file envoy.yaml names comes from the right Secret key; the wasm from the image.
    let mut files: Vec<&Value> = Vec::new();
    values_of(&config, "filename", &mut files);
    let mut resolved = Vec::new();
    for f in files {
        let f = f.as_str().context("filename")?;
        resolved.push((f.to_owned(), resolve(pod, envoy, f)?));
    }
    resolved.sort_by(|a, b| a.0.cmp(&b.0));
    resolved.dedup_by(|a, b| a.0 == b.0);
    assert_eq!(
        resolved,
        vec![
            (
                "/etc/activity-events/tls/ca.crt".into(),
                secret("milo-activity-client-cert", "ca.crt")
            ),
            (
                "/etc/activity-events/tls/tls.crt".into(),
                secret("milo-activity-client-cert", "tls.crt")
            ),
            (
                "/etc/activity-events/tls/tls.key".into(),
                secret("milo-activity-client-cert", "tls.key")
            ),
            (
                "/etc/envoy/activity_events_filter.wasm".into(),
                Source::Image
            ),
            (
                "/etc/envoy/discovery/apis-events.k8s.io-v1.json".into(),
                Source::Image
            ),
            (
                "/etc/envoy/discovery/apis-events.k8s.io.json".into(),
                Source::Image
            ),
            (
                "/etc/envoy/discovery/openapi-v3-apis-events.k8s.io-v1.json".into(),
                Source::Image
            ),
            (
                "/etc/envoy/tls/tls.crt".into(),
                secret("milo-apiserver-tls", "tls.crt")
            ),
            (
                "/etc/envoy/tls/tls.key".into(),
                secret("milo-apiserver-tls", "tls.key")
            ),
            (
                "/etc/milo/tls/ca.crt".into(),
                secret("milo-apiserver-tls", "ca.crt")
            ),
        ]
    );
    // The sidecar serves with the very Secret Milo serves with.
    assert_eq!(
        resolve(
            pod,
            milo,
            env(milo, "TLS_CERT_FILE").context("TLS_CERT_FILE")?
        )?,
        secret("milo-apiserver-tls", "tls.crt")
    );
    // Envoy reaches Milo where Milo now listens, and the authorizer where it listens.
    let milo_addr = format!(
        "{}:{}",
        env(milo, "BIND_ADDRESS").context("BIND_ADDRESS")?,
        env(milo, "SECURE_PORT").context("SECURE_PORT")?
    );
    assert_eq!(envoy_cluster_address(&config, "milo-apiserver")?, milo_addr);

    // The authorizer: the documented command line, its kubeconfig for Milo in the pod.
    let authz = r.container(AUTHZ)?;
    assert_eq!(
        authz["image"],
        "registry.example.com/activity-events-authz:v0.1.0"
    );
    assert_eq!(authz["command"], json!(["activity-events-authz"]));
    let authz_args = array_at(authz, "/args")?;
    assert_eq!(authz_args.first(), Some(&json!("serve")));
    assert_eq!(
        envoy_cluster_address(&config, AUTHZ)?,
        flag(authz_args, "--listen")?
    );
    let kubeconfig_path = flag(authz_args, "--milo-kubeconfig")?;
    let kubeconfig_map = r.generated("activity-events-authz-kubeconfig")?;
    assert_eq!(
        resolve(pod, authz, kubeconfig_path)?,
        Source::ConfigMap {
            name: str_at(kubeconfig_map, "/metadata/name")?.to_owned(),
            key: "kubeconfig".into()
        }
    );
    let kubeconfig: Value = serde_saphyr::from_str(str_at(kubeconfig_map, "/data/kubeconfig")?)?;
    assert_eq!(kubeconfig["current-context"], "milo");
    let cluster = &kubeconfig["clusters"][0]["cluster"];
    assert_eq!(cluster["server"], format!("https://{milo_addr}"));
    assert_eq!(cluster["tls-server-name"], "localhost");
    let user = &kubeconfig["users"][0]["user"];
    assert_eq!(
        kubeconfig["contexts"][0]["context"]["user"],
        kubeconfig["users"][0]["name"]
    );
    for (path, want) in [
        (
            str_at(cluster, "/certificate-authority")?,
            secret("milo-apiserver-tls", "ca.crt"),
        ),
        (
            str_at(user, "/client-certificate")?,
            secret("activity-events-authz-client-cert", "tls.crt"),
        ),
        (
            str_at(user, "/client-key")?,
            secret("activity-events-authz-client-cert", "tls.key"),
        ),
    ] {
        assert_eq!(resolve(pod, authz, path)?, want, "{path}");
    }
    // The authorizer never sees Milo's serving key.
    for m in array_at(authz, "/volumeMounts")? {
        let path = str_at(m, "/mountPath")?;
        assert_ne!(
            resolve(pod, authz, &format!("{path}/tls.key")).unwrap_or(Source::Image),
            secret("milo-apiserver-tls", "tls.key")
        );
    }

    // Both new containers: numeric non-root users, nothing writable or escalatable, resources.
    for c in [envoy, authz] {
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{}", c["name"]);
        assert!(
            sc["runAsUser"].as_u64().is_some_and(|u| u > 0),
            "{}",
            c["name"]
        );
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
        for kind in ["requests", "limits"] {
            for res in ["cpu", "memory"] {
                assert!(
                    c["resources"][kind][res].is_string(),
                    "{} {kind}.{res}",
                    c["name"]
                );
            }
        }
    }

    // Volumes: unique names, every mount backed, key material not world-readable.
    let volumes = array_at(pod, "/volumes")?;
    let volume_names: Vec<&str> = volumes.iter().filter_map(|v| v["name"].as_str()).collect();
    let unique: BTreeSet<&str> = volume_names.iter().copied().collect();
    assert_eq!(unique.len(), volume_names.len(), "{volume_names:?}");
    for c in array_at(pod, "/containers")? {
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            assert!(unique.contains(str_at(m, "/name")?), "{m}");
        }
    }
    for v in volumes {
        let name = str_at(v, "/name")?;
        if name.starts_with("activity-events-") && v.get("secret").is_some() {
            assert_eq!(v["secret"]["defaultMode"], 0o440, "{name}");
        }
    }

    // The Secrets Envoy and the authorizer read are the ones the Certificates write.
    assert_eq!(
        r.object("Certificate", "milo-activity-client")?["spec"]["secretName"],
        "milo-activity-client-cert"
    );
    assert_eq!(
        r.object("Certificate", "activity-events-authz-client")?["spec"]["secretName"],
        "activity-events-authz-client-cert"
    );
    Ok(())
}

#[test]
fn certificates_are_the_documented_ones() -> Result<()> {
    let r = Rendered::load()?;
    let usages = json!(["digital signature", "key encipherment", "client auth"]);
    let private_key = json!({ "algorithm": "RSA", "size": 2048, "rotationPolicy": "Always" });
    let secret_template = json!({ "labels": { LABEL: "activity-events" } });
    assert_eq!(
        r.object("Certificate", "milo-activity-client")?["spec"],
        json!({
            "secretName": "milo-activity-client-cert",
            "commonName": "milo-apiserver",
            "usages": usages,
            "privateKey": private_key,
            "secretTemplate": secret_template,
            "issuerRef": { "group": "cert-manager.io", "kind": "ClusterIssuer", "name": "activity-ca-issuer" },
        })
    );
    assert_eq!(
        r.object("Certificate", "activity-events-authz-client")?["spec"],
        json!({
            "secretName": "activity-events-authz-client-cert",
            "commonName": "activity-events-authz",
            "usages": usages,
            "privateKey": private_key,
            "secretTemplate": secret_template,
            "issuerRef": { "group": "cert-manager.io", "kind": "ClusterIssuer", "name": "milo-client-ca-issuer" },
        })
    );
    Ok(())
}

#[test]
fn milo_rbac_grants_the_authorizer_reviews_and_nothing_else() -> Result<()> {
    let docs = kustomize("deploy/milo-rbac")?;
    assert_eq!(docs.len(), 2, "{docs:?}");
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole")
        .context("ClusterRole")?;
    assert_eq!(
        role["rules"],
        json!([
            { "apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"] },
            { "apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"] },
        ])
    );
    let binding = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .context("ClusterRoleBinding")?;
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    // The user is the authorizer's certificate's common name.
    let cert = Rendered::load()?
        .object("Certificate", "activity-events-authz-client")?
        .clone();
    assert_eq!(
        binding["subjects"],
        json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": cert["spec"]["commonName"] }])
    );
    Ok(())
}

#[test]
fn the_component_ships_the_production_envoy_config() -> Result<()> {
    let root = tools::repo_root();
    let production = std::fs::read_to_string(root.join("envoy/envoy.yaml"))?;
    let shipped = std::fs::read_to_string(root.join("deploy/envoy.yaml"))?;
    assert!(
        production == shipped,
        "deploy/envoy.yaml differs from envoy/envoy.yaml; copy it: cp envoy/envoy.yaml deploy/"
    );
    assert_eq!(Rendered::load()?.envoy_yaml()?, production);
    Ok(())
}

/// Run a validator; returns (success, stdout + stderr).
fn run_tool(bin: &Path, args: &[&str], files: &[PathBuf]) -> Result<(bool, String)> {
    let out = Command::new(bin)
        .args(args)
        .args(files)
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), log))
}

fn write_json(dir: &Path, name: &str, v: &Value) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(v)?)?;
    Ok(path)
}

#[test]
fn built_in_kinds_pass_the_kubernetes_schemas() -> Result<()> {
    let dir = tools::run_dir("deploy-kubernetes-validate")?;
    let bin = tools::kubernetes_validate_bin()?;
    let mut docs = Rendered::load()?.docs;
    docs.retain(|d| d["apiVersion"] != "cert-manager.io/v1");
    docs.extend(kustomize("deploy/milo-rbac")?);
    let mut files = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        files.push(write_json(&dir, &format!("{i}.json"), d)?);
    }
    let (ok, log) = run_tool(&bin, &["--strict"], &files)?;
    assert!(ok, "{log}");
    // Every document was checked against a schema, none skipped as unknown.
    assert_eq!(
        log.matches(" passed for resource ").count(),
        docs.len(),
        "{log}"
    );
    assert!(!log.contains("Couldn't find schema"), "{log}");

    // The validator does reject what the API server would: an unknown container field.
    let mut broken = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .context("Deployment")?
        .clone();
    broken["spec"]["template"]["spec"]["containers"][1]["livenessProbes"] = json!({});
    let (ok, log) = run_tool(
        &bin,
        &["--strict"],
        &[write_json(&dir, "broken.json", &broken)?],
    )?;
    assert!(!ok, "kubernetes-validate accepted an unknown field: {log}");
    assert!(log.contains("livenessProbes"), "{log}");
    Ok(())
}

/// A CRD's structural schema as a JSON Schema that, like the API server, refuses unknown
/// fields (the API server prunes them; kubectl's strict field validation refuses them).
fn strict_schema(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .map(|(k, c)| (k.clone(), strict_schema(c)))
                .collect();
            let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !preserves
            {
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strict_schema).collect()),
        other => other.clone(),
    }
}

#[test]
fn certificates_pass_cert_managers_crd_schema() -> Result<()> {
    let dir = tools::run_dir("deploy-check-jsonschema")?;
    let bin = tools::check_jsonschema_bin()?;
    let crd = yaml_file("testdata/cert-manager/cert-manager.io_certificates.yaml")?;
    let version = array_at(&crd, "/spec/versions")?
        .iter()
        .find(|v| v["name"] == "v1")
        .context("no v1 in the CRD")?;
    let schema = strict_schema(
        version
            .pointer("/schema/openAPIV3Schema")
            .context("no openAPIV3Schema")?,
    );
    let schema_file = write_json(&dir, "certificate.schema.json", &schema)?;
    let schema_arg = schema_file.display().to_string();
    let args = ["--schemafile", schema_arg.as_str()];

    let certs: Vec<Value> = Rendered::load()?
        .docs
        .into_iter()
        .filter(|d| d["apiVersion"] == "cert-manager.io/v1")
        .collect();
    assert_eq!(certs.len(), 2);
    assert!(certs.iter().all(|c| c["kind"] == "Certificate"));
    let mut files = Vec::new();
    for (i, c) in certs.iter().enumerate() {
        files.push(write_json(&dir, &format!("certificate-{i}.json"), c)?);
    }
    let (ok, log) = run_tool(&bin, &args, &files)?;
    assert!(ok, "{log}");

    // The schema does catch a misspelt field and a usage cert-manager does not know.
    for (name, mutate) in [
        ("typo", json!({ "secretname": "x" })),
        ("usage", json!({ "usages": ["client-auth"] })),
    ] {
        let mut bad = certs[0].clone();
        for (k, v) in mutate.as_object().context("mutation")? {
            bad["spec"][k] = v.clone();
        }
        let (ok, log) = run_tool(
            &bin,
            &args,
            &[write_json(&dir, &format!("{name}.json"), &bad)?],
        )?;
        assert!(!ok, "check-jsonschema accepted the {name} mutation: {log}");
    }
    Ok(())
}

#[test]
fn the_shipped_envoy_config_validates_with_the_mounts_replaced() -> Result<()> {
    let dir = tools::run_dir("deploy-envoy-validate")?;
    let r = Rendered::load()?;
    let c = activity_standin::generate_certs(&dir.join("certs"), "activity.local", false)?;
    let wasm = tools::filter_wasm()?;
    let discovery = tools::repo_root().join("envoy/discovery");
    let mut config = r.envoy_yaml()?.to_owned();
    // The files the pod mounts (see the render test), pointed at generated certificates.
    for (from, to) in [
        ("/etc/envoy/tls/tls.crt", &c.server),
        ("/etc/envoy/tls/tls.key", &c.server_key),
        ("/etc/activity-events/tls/tls.crt", &c.client),
        ("/etc/activity-events/tls/tls.key", &c.client_key),
        ("/etc/activity-events/tls/ca.crt", &c.ca),
        ("/etc/milo/tls/ca.crt", &c.ca),
        ("/etc/envoy/activity_events_filter.wasm", &wasm),
        ("/etc/envoy/discovery", &discovery),
    ] {
        assert!(
            config.contains(from),
            "{from} not in the shipped envoy.yaml"
        );
        config = config.replace(from, &to.display().to_string());
    }
    assert!(
        !config.contains("/etc/"),
        "a mounted path is left: {config}"
    );
    config = config
        .replace("port_value: 6443", "port_value: 0")
        .replace("port_value: 9901", "port_value: 0");
    let (ok, log) = validate(&dir, &config)?;
    assert!(ok, "{log}");
    Ok(())
}

/// An optional request header: (name, value).
type Header = Option<(&'static str, &'static str)>;

/// The production config made runnable on this machine without changing its routes or filters:
/// plain HTTP on the listener and to the two upstreams (recorders), the authorizer's cluster on
/// `authz_port`, ports picked at run time, the built filter.
fn local_production_config(milo: u16, activity: u16, authz_port: u16) -> Result<String> {
    let text = std::fs::read_to_string(tools::repo_root().join("envoy/envoy.yaml"))?;
    let mut config: Value = serde_saphyr::from_str(&text)?;
    config["admin"]["address"]["socket_address"]["port_value"] = json!(0);
    let listener = &mut config["static_resources"]["listeners"][0];
    listener["address"]["socket_address"] = json!({ "address": "127.0.0.1", "port_value": 0 });
    let chain = listener["filter_chains"][0]
        .as_object_mut()
        .context("filter chain")?;
    ensure!(
        chain.remove("transport_socket").is_some(),
        "listener had no TLS"
    );
    let mut files = Vec::new();
    values_of(&config, "filename", &mut files);
    ensure!(files.contains(&&json!("/etc/envoy/activity_events_filter.wasm")));
    let wasm = tools::filter_wasm()?.display().to_string();
    let mut text = serde_json::to_string(&config)?;
    text = text.replace("/etc/envoy/activity_events_filter.wasm", &wasm);
    let discovery = tools::repo_root().join("envoy/discovery");
    text = text.replace("/etc/envoy/discovery", &discovery.display().to_string());
    let mut config: Value = serde_json::from_str(&text)?;
    for cluster in config["static_resources"]["clusters"]
        .as_array_mut()
        .context("clusters")?
    {
        let (port, tls) = match cluster["name"].as_str() {
            Some("milo-apiserver") => (milo, true),
            Some("activity") => (activity, true),
            Some(AUTHZ) => (authz_port, false),
            other => bail!("unexpected cluster {other:?}"),
        };
        let obj = cluster.as_object_mut().context("cluster")?;
        ensure!(obj.remove("transport_socket").is_some() == tls, "{obj:?}");
        cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"] = json!({ "address": "127.0.0.1", "port_value": port });
    }
    Ok(serde_json::to_string_pretty(&config)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn production_routes_review_every_possible_event_request_and_fail_closed() -> Result<()> {
    use activity_e2e::envoy::Envoy;
    use activity_e2e::recorder::Recorder;

    tools::install_crypto_provider();
    let milo = Recorder::start("milo").await?;
    let activity = Recorder::start("activity").await?;
    // The authorizer is down: nothing listens on its port.
    let authz_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tools::run_dir("deploy-production-routes")?;
    let config = local_production_config(milo.port(), activity.port(), authz_port)?;
    let envoy = Envoy::start(&dir, &config)?;
    let base = envoy.url("milo")?;
    let client = reqwest::Client::new();
    let event = std::fs::read_to_string(tools::repo_root().join("testdata/test-event.yaml"))?;

    // Everything an event request can look like before the filter has seen it is reviewed:
    // with the authorizer down that is a 503 Status, and nothing reaches Milo or Activity.
    let reviewed: &[(&str, &str, Header)] = &[
        ("GET", "/api/v1/namespaces/default/events", None),
        ("GET", "/api/v1/namespaces/default/events/test-event", None),
        ("GET", "/api/v1/events?watch=true", None),
        ("GET", "/api/v1/watch/namespaces/default/events", None),
        ("GET", "/apis/events.k8s.io/v1/namespaces/default/events", None),
        ("GET", "/apis/events.k8s.io/v1/events", None),
        ("POST", "/api/v1/namespaces/default/events", None),
        ("DELETE", "/api/v1/namespaces/default/events/test-event", None),
        ("GET", "/api/v1/namespaces/default/%65vents", None),
        ("GET", "/api/v1/namespaces/default/ev%65nts/x", None),
        ("GET", "/api/v1/namespaces/default/EVENTS", None),
        ("GET", "/api/v1//namespaces/default/./events", None),
        (
            "GET",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/api/v1/namespaces/default/events",
            None,
        ),
        ("GET", "/projects/web-app/control-plane/api/v1/events", None),
        // A client-sent route marker does not skip the review.
        ("GET", "/api/v1/namespaces/default/pods", Some(("x-activity-events-route", "request"))),
        ("GET", "/api/v1/namespaces/default/pods", Some(("x-activity-events-route", "watch"))),
    ];
    for (method, path, header) in reviewed {
        let mut req = client.request(method.parse()?, format!("{base}{path}"));
        if let Some((k, v)) = header {
            req = req.header(*k, *v);
        }
        if *method == "POST" {
            req = req
                .header("content-type", "application/yaml")
                .body(event.clone());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 503, "{method} {path} {header:?}: {body}");
        assert_eq!(ctype, "application/json", "{method} {path}");
        assert_eq!(body["kind"], "Status", "{body}");
        assert_eq!(body["reason"], "ServiceUnavailable", "{body}");
        assert_eq!(body["code"], 503, "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("authorization service is unavailable")),
            "{body}"
        );
    }
    assert!(milo.records().is_empty(), "{:?}", milo.records());
    assert!(activity.records().is_empty(), "{:?}", activity.records());
    // ext_authz counts per route target cluster: cluster.<name>.ext_authz.<prefix>.error.
    let authz_errors = || -> Result<u64> {
        Ok(envoy
            .stats()?
            .lines()
            .filter_map(|l| l.split_once(": "))
            .filter(|(k, _)| {
                k.starts_with("cluster.") && k.ends_with(".ext_authz.activity_events_authz.error")
            })
            .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
            .sum())
    };
    let errors = authz_errors()?;
    assert_eq!(errors, reviewed.len() as u64, "{}", envoy.stats()?);

    // The rest of Milo's API (probes included) does not pay for a review: it reaches Milo even
    // with the authorizer down.
    let milo_only = [
        "/livez",
        "/readyz",
        "/version",
        "/api",
        "/api/v1",
        "/apis",
        "/api/v1/namespaces/default/pods",
        "/apis/apps/v1/namespaces/default/deployments",
        "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/api/v1/namespaces/default/configmaps",
        "/openapi/v3",
    ];
    for path in milo_only {
        let resp = client.get(format!("{base}{path}")).send().await?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["upstream"], "milo", "{path}: {body}");
    }
    let seen: Vec<String> = milo.records().into_iter().map(|r| r.path).collect();
    assert_eq!(seen, milo_only.to_vec());
    assert!(activity.records().is_empty());
    assert_eq!(authz_errors()?, errors, "a non-event request was reviewed");
    Ok(())
}

/// A stand-in for the authorizer (`authz/`), written from the ext_authz contract only: event
/// paths need a known token and get the identity as `userinfo` dynamic metadata; other paths
/// are allowed at once; denials carry a Kubernetes Status body.
mod stand_in_authz {
    use std::sync::{Arc, Mutex};

    use base64::Engine;
    use envoy_types::ext_authz::v3::pb::{
        Authorization, AuthorizationServer, CheckRequest, CheckResponse, HttpStatusCode,
    };
    use envoy_types::ext_authz::v3::{
        CheckRequestExt, CheckResponseExt, DeniedHttpResponseBuilder,
    };
    use envoy_types::pb::google::protobuf::{value::Kind, Struct, Value as PbValue};
    use tonic::{Request, Response, Status};

    pub const ALICE: &str = "Bearer alice-token";
    pub const MILO_DOWN: &str = "Bearer milo-down";

    pub fn userinfo() -> serde_json::Value {
        serde_json::json!({
            "username": "alice@acme.example",
            "uid": "uid-alice",
            "groups": ["system:authenticated", "acme-members"],
            "extra": {
                "iam.miloapis.com/parent-type": ["Organization"],
                "iam.miloapis.com/parent-name": ["acme"],
                "iam.miloapis.com/parent-api-group": ["resourcemanager.miloapis.com"],
            },
        })
    }

    pub fn status(code: u16, reason: &str, message: &str) -> String {
        serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
        })
        .to_string()
    }

    #[derive(Clone, Default)]
    pub struct StandIn {
        /// (method, path) of every check.
        pub checks: Arc<Mutex<Vec<(String, String)>>>,
    }

    fn denied(code: HttpStatusCode, body: String) -> CheckResponse {
        let mut http = DeniedHttpResponseBuilder::new();
        http.set_http_status(code)
            .add_header("content-type", "application/json", None, false)
            .set_body(body);
        let mut resp = CheckResponse::with_status(Status::permission_denied("denied"));
        resp.set_http_response(http);
        resp
    }

    #[tonic::async_trait]
    impl Authorization for StandIn {
        async fn check(
            &self,
            request: Request<CheckRequest>,
        ) -> Result<Response<CheckResponse>, Status> {
            let request = request.into_inner();
            let http = request
                .attributes
                .as_ref()
                .and_then(|a| a.request.as_ref())
                .and_then(|r| r.http.as_ref())
                .ok_or_else(|| Status::invalid_argument("no HTTP attributes"))?;
            if let Ok(mut checks) = self.checks.lock() {
                checks.push((http.method.clone(), http.path.clone()));
            }
            // Event requests name the resource `events` (a rough rule, enough for these paths).
            if !http
                .path
                .split(['/', '?'])
                .any(|segment| segment == "events")
            {
                return Ok(Response::new(CheckResponse::with_status(Status::ok(
                    "not an event request",
                ))));
            }
            let token = request
                .get_client_headers()
                .and_then(|h| h.get("authorization"))
                .map(String::as_str);
            let resp = match token {
                Some(ALICE) => {
                    let b64 =
                        base64::engine::general_purpose::STANDARD.encode(userinfo().to_string());
                    let mut fields = std::collections::HashMap::new();
                    fields.insert(
                        "userinfo".to_owned(),
                        PbValue {
                            kind: Some(Kind::StringValue(b64)),
                        },
                    );
                    let mut resp = CheckResponse::with_status(Status::ok("allowed"));
                    resp.set_dynamic_metadata(Some(Struct { fields }));
                    resp
                }
                Some(MILO_DOWN) => denied(
                    HttpStatusCode::ServiceUnavailable,
                    status(503, "ServiceUnavailable", "stand-in: Milo is unreachable"),
                ),
                _ => denied(
                    HttpStatusCode::Unauthorized,
                    status(401, "Unauthorized", "Unauthorized"),
                ),
            };
            Ok(Response::new(resp))
        }
    }

    /// Serve on a loopback port picked now; the task ends with the test's runtime.
    pub async fn start() -> anyhow::Result<(StandIn, u16)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let stand_in = StandIn::default();
        let server = tonic::transport::Server::builder()
            .add_service(AuthorizationServer::new(stand_in.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        Ok((stand_in, port))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn production_chain_hands_the_authorizers_identity_to_the_filter() -> Result<()> {
    use activity_e2e::envoy::Envoy;
    use activity_e2e::recorder::Recorder;
    use stand_in_authz::{status, ALICE, MILO_DOWN};

    tools::install_crypto_provider();
    let milo = Recorder::start("milo").await?;
    let activity = Recorder::start("activity").await?;
    let (authz, authz_port) = stand_in_authz::start().await?;
    let dir = tools::run_dir("deploy-production-chain")?;
    let envoy = Envoy::start(
        &dir,
        &local_production_config(milo.port(), activity.port(), authz_port)?,
    )?;
    let base = envoy.url("milo")?;
    let client = reqwest::Client::new();
    let checks = || authz.checks.lock().map(|c| c.clone()).unwrap_or_default();

    // Allowed: the identity from the CheckResponse's dynamic metadata becomes the front-proxy
    // headers Activity sees; the token does not travel on.
    let resp = client
        .get(format!("{base}/api/v1/namespaces/default/events"))
        .header("authorization", ALICE)
        .header("x-remote-user", "mallory")
        .send()
        .await?;
    let code = resp.status().as_u16();
    let text = resp.text().await?;
    assert_eq!(code, 200, "{text}\n{}", envoy.log_tail(30));
    let got = activity.records();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(r.path, "/api/v1/namespaces/default/events");
    assert_eq!(r.headers_named("x-remote-user"), vec!["alice@acme.example"]);
    assert_eq!(r.header("x-remote-uid"), Some("uid-alice"));
    assert_eq!(
        r.headers_named("x-remote-group"),
        vec!["system:authenticated", "acme-members"]
    );
    assert_eq!(
        r.header("x-remote-extra-iam.miloapis.com%2fparent-type"),
        Some("Organization")
    );
    assert_eq!(
        r.header("x-remote-extra-iam.miloapis.com%2fparent-name"),
        Some("acme")
    );
    assert_eq!(r.header("authorization"), None);
    assert_eq!(
        checks(),
        vec![(
            "GET".to_owned(),
            "/api/v1/namespaces/default/events".to_owned()
        )]
    );
    activity.clear();

    // Denied, whatever the code: the authorizer's own Status, unchanged; nothing forwarded.
    for (token, code, body) in [
        (
            "Bearer wrong",
            401,
            status(401, "Unauthorized", "Unauthorized"),
        ),
        (
            MILO_DOWN,
            503,
            status(503, "ServiceUnavailable", "stand-in: Milo is unreachable"),
        ),
    ] {
        let resp = client
            .post(format!("{base}/api/v1/namespaces/default/events"))
            .header("authorization", token)
            .header("content-type", "application/json")
            .body(r#"{"metadata":{"name":"x"}}"#)
            .send()
            .await?;
        assert_eq!(resp.status().as_u16(), code);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        assert_eq!(resp.text().await?, body);
    }
    assert!(activity.records().is_empty(), "{:?}", activity.records());
    assert!(milo.records().is_empty(), "{:?}", milo.records());

    // The rest of Milo's API is not reviewed; spoofed identity headers never reach Milo either.
    let before = checks().len();
    let resp = client
        .get(format!("{base}/api/v1/namespaces/default/pods"))
        .header("authorization", "Bearer for-milo")
        .header("X-Remote-User", "mallory")
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(checks().len(), before, "a non-event request was reviewed");
    let to_milo = milo.records();
    assert_eq!(to_milo.len(), 1);
    assert_eq!(to_milo[0].header("authorization"), Some("Bearer for-milo"));
    assert_eq!(to_milo[0].header("x-remote-user"), None);

    // A non-event path that looks like one costs one review, which allows it at once.
    let path = "/apis/example.com/v1/namespaces/default/bigevents";
    let resp = client.get(format!("{base}{path}")).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(checks().last(), Some(&("GET".to_owned(), path.to_owned())));
    assert_eq!(milo.records().len(), 2);
    assert!(activity.records().is_empty());
    Ok(())
}
