//! Real Kubernetes client libraries through the sandbox: kube-rs with k8s-openapi typed
//! clients for core/v1 Events, and kube's events.k8s.io/v1 `Recorder`.

use std::time::Duration;

use activity_e2e::sandbox::{Options, Sandbox};
use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::{Event as Publish, EventType, Recorder, Reporter};
use kube::{Client, Config};
use serde_json::json;

async fn client(s: &Sandbox, context: &str) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(&s.kubeconfig)?;
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options).await?;
    Ok(Client::try_from(config)?)
}

fn scope_of(stored: &serde_json::Value) -> (String, String) {
    let a = &stored["metadata"]["annotations"];
    (
        a["platform.miloapis.com/scope.type"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        a["platform.miloapis.com/scope.name"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_core_v1_client_create_get_list_watch_patch() -> Result<()> {
    let s = Sandbox::start("kube-core", Options::default()).await?;
    let events: Api<Event> = Api::namespaced(client(&s, "org").await?, "default");

    // Start a watch first, so the create below must arrive as an event.
    let mut watch = events
        .watch(&WatchParams::default().timeout(20), "0")
        .await?
        .boxed();

    let e: Event = serde_json::from_value(json!({
        "metadata": {"name": "kube-core-1", "namespace": "default",
                     "annotations": {"platform.miloapis.com/scope.name": "forged"}},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "my-pod", "namespace": "default"},
        "reason": "Started", "message": "from kube-rs", "type": "Normal",
        "source": {"component": "kube-rs-test"}
    }))?;
    let created = events.create(&PostParams::default(), &e).await?;
    assert_eq!(created.metadata.name.as_deref(), Some("kube-core-1"));
    assert_eq!(created.message.as_deref(), Some("from kube-rs"));

    let got = events.get("kube-core-1").await?;
    assert_eq!(got.involved_object.name.as_deref(), Some("my-pod"));
    let list = events.list(&ListParams::default()).await?;
    assert_eq!(list.items.len(), 1);
    let by_selector = events
        .list(&ListParams::default().fields("involvedObject.name=my-pod"))
        .await?;
    assert_eq!(by_selector.items.len(), 1);

    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = watch.try_next().await? {
            if let WatchEvent::Added(e) = ev {
                if e.metadata.name.as_deref() == Some("kube-core-1") {
                    return Ok::<_, kube::Error>(e);
                }
            }
        }
        Err(kube::Error::LinesCodecMaxLineLengthExceeded)
    })
    .await??;
    assert_eq!(seen.reason.as_deref(), Some("Started"));

    let patched = events
        .patch(
            "kube-core-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"message": "patched by kube-rs"})),
        )
        .await?;
    assert_eq!(patched.message.as_deref(), Some("patched by kube-rs"));

    let stored = s
        .stored()
        .await?
        .into_iter()
        .find(|e| e["metadata"]["name"] == "kube-core-1")
        .expect("stored");
    assert_eq!(scope_of(&stored), ("Organization".into(), "acme".into()));
    assert_eq!(stored["message"], "patched by kube-rs");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_recorder_publishes_creates_then_series_patches() -> Result<()> {
    let s = Sandbox::start("kube-recorder", Options::default()).await?;
    let kube = client(&s, "project").await?;
    let recorder = Recorder::new(
        kube.clone(),
        Reporter {
            controller: "example.com/sandbox-controller".into(),
            instance: Some("sandbox-controller-0".into()),
        },
    );
    let regarding = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some("web-0".into()),
        namespace: Some("default".into()),
        uid: Some("uid-web-0".into()),
        ..ObjectReference::default()
    };
    let publish = Publish {
        type_: EventType::Warning,
        reason: "BackOff".into(),
        note: Some("Back-off restarting failed container".into()),
        action: "Restarting".into(),
        secondary: None,
    };
    for _ in 0..3 {
        recorder.publish(&publish, &regarding).await?;
    }

    let requests = s.received_events().await?;
    let methods: Vec<&str> = requests
        .iter()
        .filter_map(|r| r["method"].as_str())
        .collect();
    assert_eq!(methods, vec!["POST", "PATCH", "PATCH"], "{requests:#?}");

    let stored = s.stored().await?;
    assert_eq!(stored.len(), 1, "{stored:#?}");
    let e = &stored[0];
    assert_eq!(scope_of(e), ("Project".into(), "web-app".into()));
    assert_eq!(e["involvedObject"]["name"], "web-0");
    assert_eq!(e["message"], "Back-off restarting failed container");
    assert_eq!(e["reportingComponent"], "example.com/sandbox-controller");
    assert_eq!(e["series"]["count"], 3);

    // Read back through the events.k8s.io/v1 typed API: everything decodes.
    let events: Api<EventV1> = Api::namespaced(kube, "default");
    let list = events.list(&ListParams::default()).await?;
    assert_eq!(list.items.len(), 1);
    let ev = &list.items[0];
    assert_eq!(
        ev.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("web-0")
    );
    assert_eq!(
        ev.note.as_deref(),
        Some("Back-off restarting failed container")
    );
    assert_eq!(ev.series.as_ref().map(|s| s.count), Some(3));
    assert_eq!(
        ev.reporting_controller.as_deref(),
        Some("example.com/sandbox-controller")
    );
    let one = events
        .get(ev.metadata.name.as_deref().unwrap_or_default())
        .await?;
    assert_eq!(one.action.as_deref(), Some("Restarting"));
    Ok(())
}
