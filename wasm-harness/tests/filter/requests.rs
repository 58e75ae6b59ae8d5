//! The request headers callback: what goes upstream, with how many host calls.

use activity_wasm_harness::{Action, Vm};

use crate::common::*;

fn spoofing<'a>(mut h: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    h.extend([
        ("X-Remote-User", "mallory"),
        ("x-remote-group", "system:masters"),
        (
            "X-REMOTE-EXTRA-iam.miloapis.com%2Fparent-name",
            "victim-org",
        ),
        ("X-Remote-Uid", "0"),
        ("x-activity-events-route", "watch"),
    ]);
    h
}

#[test]
fn a_non_event_request_only_loses_client_sent_identity_headers() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    let sent = spoofing(request("GET", "/api/v1/namespaces/default/pods"));
    assert_eq!(s.request_headers(&sent, true), Action::Continue);
    s.expect_no_local_reply();
    // Envoy's codec lower-cases names before the filter sees them; the filter removes each
    // spoofable one by name, and reads nothing else (no metadata: Milo authenticates these).
    s.expect_calls(&[
        "proxy_get_header_map_pairs(request_headers)",
        "proxy_remove_header_map_value(request_headers, x-remote-user)",
        "proxy_remove_header_map_value(request_headers, x-remote-group)",
        "proxy_remove_header_map_value(request_headers, x-remote-extra-iam.miloapis.com%2fparent-name)",
        "proxy_remove_header_map_value(request_headers, x-remote-uid)",
        "proxy_remove_header_map_value(request_headers, x-activity-events-route)",
        "proxy_increment_metric(activity_events.spoofed_headers_removed, 1)",
    ]);
    let expected: Vec<(String, String)> = request("GET", "/api/v1/namespaces/default/pods")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // Everything else, Authorization included, goes to Milo as sent.
    assert_eq!(s.upstream_headers(), expected);
    vm.expect_counter("activity_events.spoofed_headers_removed", 1);

    // Milo's response is none of the filter's business.
    assert_eq!(
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false
        ),
        Action::Continue
    );
    assert_eq!(
        s.response_body(br#"{"kind":"PodList","apiVersion":"v1"}"#, true),
        Action::Continue
    );
    assert_eq!(s.client_body(), br#"{"kind":"PodList","apiVersion":"v1"}"#);
    assert_eq!(s.calls().len(), 7, "{:#?}", s.calls());
}

#[test]
fn a_clean_non_event_request_costs_one_host_call() {
    let vm = Vm::filter(None);
    let mut s = vm.stream();
    s.request_headers(&request("GET", "/healthz"), true);
    s.expect_calls(&["proxy_get_header_map_pairs(request_headers)"]);
    s.finish();
    assert_eq!(
        s.callbacks(),
        [
            "proxy_on_context_create",
            "proxy_on_request_headers = 0",
            "proxy_on_delete"
        ]
    );
    vm.expect_counter("activity_events.spoofed_headers_removed", 0);
}

#[test]
fn an_event_get_reads_headers_and_metadata_once_and_writes_the_headers_once() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    let mut sent = spoofing(request(
        "GET",
        "/api/v1/namespaces/default/events/e1?pretty=true",
    ));
    sent.push(("accept-encoding", "gzip"));
    assert_eq!(s.request_headers(&sent, true), Action::Continue);
    s.expect_no_local_reply();
    s.expect_calls(&[
        "proxy_get_header_map_pairs(request_headers)",
        &format!("proxy_get_property(metadata/filter_metadata/{NS})"),
        "proxy_increment_metric(activity_events.requests.core_v1.get, 1)",
        "proxy_increment_metric(activity_events.spoofed_headers_removed, 1)",
        "proxy_set_header_map_pairs(request_headers, 14 pairs)",
    ]);
    let upstream = s.upstream_headers();
    let got: Vec<(&str, &str)> = upstream
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (":method", "GET"),
            (":path", &*format!("{PREFIX}/namespaces/default/events/e1?pretty=true")),
            (":authority", "milo.example"),
            (":scheme", "https"),
            ("accept", "application/json"),
            ("user-agent", "kubectl/v1.37.0"),
            ("x-activity-events-route", "request"),
            ("x-remote-user", "alice@acme.example"),
            ("x-remote-uid", "u-1"),
            ("x-remote-group", "system:authenticated"),
            ("x-remote-group", "acme-devs"),
            (EXTRA_TYPE_HEADER, "Organization"),
            (EXTRA_NAME_HEADER, "acme"),
            (EXTRA_GROUP_HEADER, "resourcemanager.miloapis.com"),
        ][..],
        "Authorization, Accept-Encoding, the spoofed X-Remote-* and the non-allowlisted extra are gone"
    );
    vm.expect_counter("activity_events.requests.core_v1.get", 1);
    vm.expect_counter("activity_events.spoofed_headers_removed", 1);
}

#[test]
fn operations_are_counted_and_watches_get_the_watch_route() {
    let vm = Vm::filter(None);
    let cases = [
        ("GET", "/api/v1/events", "core_v1.list", "request"),
        (
            "GET",
            "/api/v1/namespaces/default/events?watch=true",
            "core_v1.watch",
            "watch",
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/events/e1",
            "core_v1.delete",
            "request",
        ),
        (
            "GET",
            "/apis/events.k8s.io/v1/namespaces/ns1/events/e1",
            "events_v1.get",
            "request",
        ),
        (
            "GET",
            "/apis/events.k8s.io/v1/watch/events",
            "events_v1.watch",
            "watch",
        ),
    ];
    for (method, path, counter, route) in cases {
        let mut s = stream_as(&vm, org_user());
        s.request_headers(&request(method, path), true);
        s.expect_no_local_reply();
        assert_eq!(
            s.upstream_header("x-activity-events-route").as_deref(),
            Some(route),
            "{path}"
        );
        vm.expect_counter(&format!("activity_events.requests.{counter}"), 1);
        s.finish();
    }
    vm.expect_counter("activity_events.requests.core_v1.get", 0);
}

/// The whole routing table (`testdata/routes.tsv`), through the built filter: each row is
/// forwarded to its upstream path, passed through untouched, or refused with its status.
#[test]
fn the_routing_table_holds_through_the_wasm() {
    let vm = Vm::filter(None);
    let table = String::from_utf8(fixture("routes.tsv")).unwrap();
    let mut rows = 0;
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (method, path, expected) = (cols[0], cols[1], cols[2]);
        let writes = matches!(method, "POST" | "PUT" | "PATCH");
        let content_type = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        let headers = if writes {
            write(method, path, content_type)
        } else {
            request(method, path)
        };
        // A row under a tenant's control plane is made by a user Milo put in that context.
        let user = match control_plane_of(path) {
            Some((kind, name, group)) => user_in(kind, &name, group),
            None => org_user(),
        };
        let mut s = stream_as(&vm, user);
        s.request_headers(&headers, !writes);
        match expected {
            "pass" => {
                s.expect_no_local_reply();
                assert_eq!(s.upstream_header(":path").as_deref(), Some(path), "{line}");
                assert_eq!(s.count_calls("proxy_get_property"), 0, "{line}");
            }
            code if code.parse::<u32>().is_ok() => {
                let code: u32 = code.parse().unwrap();
                let reason = match code {
                    400 => "BadRequest",
                    404 => "NotFound",
                    405 => "MethodNotAllowed",
                    other => panic!("no reason for {other}"),
                };
                s.expect_status_reply(code, reason);
                assert!(!s.forwarded(), "{line}");
            }
            _ => {
                s.expect_no_local_reply();
                assert_eq!(
                    s.upstream_header(":path").as_deref(),
                    Some(cols[3]),
                    "{line}"
                );
            }
        }
        s.finish();
        rows += 1;
    }
    assert!(rows > 70, "only {rows} rows");
}

#[test]
fn impersonation_is_refused_before_the_identity_is_read() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    let mut h = request("GET", "/api/v1/namespaces/default/events");
    h.push(("Impersonate-User", "system:admin"));
    assert_eq!(s.request_headers(&h, true), Action::Pause);
    let status = s.expect_status_reply(403, "Forbidden");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("impersonation"),
        "{status}"
    );
    s.expect_calls(&[
        "proxy_get_header_map_pairs(request_headers)",
        "proxy_increment_metric(activity_events.rejections.forbidden, 1)",
        "proxy_send_local_response(403, activity_events_forbidden)",
    ]);
    assert!(!s.forwarded());
    vm.expect_counter("activity_events.rejections.forbidden", 1);
}

/// The example of the README, kept true.
#[test]
fn the_readme_example() {
    use activity_wasm_harness::Value;
    let vm = Vm::filter(Some(r#"{"max_body_bytes": 64}"#));
    let mut s = vm.stream();
    s.set_metadata(
        "envoy.filters.http.ext_authz",
        Value::object([("user", Value::from("alice"))]),
    );
    assert_eq!(
        s.request_headers(&[(":method", "GET"), (":path", "/api/v1/events")], true),
        Action::Continue
    );
    s.expect_calls(&[
        "proxy_get_header_map_pairs(request_headers)",
        "proxy_get_property(metadata/filter_metadata/envoy.filters.http.ext_authz)",
        "proxy_increment_metric(activity_events.requests.core_v1.list, 1)",
        "proxy_set_header_map_pairs(request_headers, 4 pairs)",
    ]);
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/apis/activity.miloapis.com/v1alpha1/events")
    );
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    s.response_body(
        br#"{"kind":"EventList","apiVersion":"activity.miloapis.com/v1alpha1","items":[]}"#,
        true,
    );
    assert_eq!(s.client_json()["apiVersion"], "v1");
    s.finish();
}

/// The Milo control plane a fixture path addresses (kind, id, API group), read the simple way:
/// a project segment anywhere wins over a leading organization or user prefix.
fn control_plane_of(path: &str) -> Option<(&'static str, String, &'static str)> {
    let path = path.split('?').next().unwrap_or(path);
    // Milo's order: the project router cuts `.../projects/{id}/control-plane` first; a user
    // or organization prefix right after it is the last context, and wins.
    let mut rest = path.to_owned();
    let mut found = None;
    if let Some(i) = path.find("/projects/") {
        let tail = &path[i + "/projects/".len()..];
        if let Some((id, after)) = tail.split_once('/') {
            if let Some(after) = after.strip_prefix("control-plane/") {
                found = Some(("Project", id.to_owned(), "resourcemanager.miloapis.com"));
                rest = format!("/{after}");
            }
        }
    }
    let org = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/";
    let user = "/apis/iam.miloapis.com/v1alpha1/users/";
    for (prefix, kind, group) in [
        (org, "Organization", "resourcemanager.miloapis.com"),
        (user, "User", "iam.miloapis.com"),
    ] {
        if let Some(tail) = rest.strip_prefix(prefix) {
            if let Some((id, tail)) = tail.split_once('/') {
                if tail == "control-plane" || tail.starts_with("control-plane/") {
                    return Some((kind, id.to_owned(), group));
                }
            }
        }
    }
    found
}
