//! Responses back in the API the client asked for.
//!
//! Activity stores core/v1-shaped Events under its own `apiVersion`. Core clients get the same
//! bytes with `apiVersion: v1` on every Event (rewritten in the stream, nothing parsed);
//! events.k8s.io/v1 clients get each Event converted field by field (each object parsed on its
//! own, never a whole list). Watch streams are rewritten chunk by chunk. Kubernetes `Status`
//! bodies keep their shape but name the client's resource instead of Activity's.

mod scan;
pub mod walker;

use serde_json::{Map, Value};

use crate::k8s::api::{Api, Operation};
use crate::k8s::events;
use walker::{Layout, StreamError, Walker};

/// What the filter knows, at request time, about the response to come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePlan {
    /// The API the client speaks.
    pub api: Api,
    pub operation: Operation,
    /// Activity's `apiVersion` (`group/version`).
    pub upstream_api_version: String,
    /// `?pretty`: converted objects are indented.
    pub pretty: bool,
    /// Largest object (single response, watch event, list item) held back for conversion.
    pub max_object_bytes: usize,
}

/// How a response is treated once its headers are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Forward untouched (not JSON, compressed, or nothing to do).
    PassThrough,
    Rewrite,
}

impl ResponsePlan {
    fn group(&self) -> &str {
        self.upstream_api_version
            .split_once('/')
            .map_or("", |(g, _)| g)
    }

    /// Decide from the response headers. Compressed or non-JSON bodies are left alone: the
    /// filter asks Activity for uncompressed JSON, so they only come from a misbehaving upstream.
    pub fn treatment(
        &self,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Treatment {
        if crate::k8s::discovery::completes(content_type, content_encoding) {
            Treatment::Rewrite
        } else {
            Treatment::PassThrough
        }
    }

    /// A rewriter for a response with this HTTP status.
    pub fn rewriter(&self, status: u16) -> ResponseRewriter {
        let to = self.api.api_version().to_owned();
        let from = self.upstream_api_version.clone();
        let watch = self.operation == Operation::Watch && status < 300;
        let layout = if status >= 300 {
            // Errors are small Status objects: read them whole.
            Layout::Documents
        } else {
            match (self.api, self.operation) {
                (Api::CoreV1, op) => Layout::RewriteApiVersion {
                    from,
                    to,
                    single: !matches!(op, Operation::List | Operation::Watch),
                },
                (Api::EventsV1, Operation::List) => Layout::ListItems { from, to },
                (Api::EventsV1, _) => Layout::Documents,
            }
        };
        let item_layout = matches!(layout, Layout::ListItems { .. });
        ResponseRewriter {
            walker: Walker::new(layout, self.max_object_bytes),
            ctx: Context {
                api: self.api,
                upstream_api_version: self.upstream_api_version.clone(),
                group: self.group().to_owned(),
                pretty: self.pretty,
            },
            watch,
            item_layout,
            ended: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Context {
    api: Api,
    upstream_api_version: String,
    group: String,
    pretty: bool,
}

/// Response bodies are read from the host in slices of this size: only the output, not a
/// second copy of the input, is ever the size of a chunk.
pub const READ_SLICE: usize = 64 * 1024;

/// The per-response rewriting state.
pub struct ResponseRewriter {
    walker: Walker,
    ctx: Context,
    watch: bool,
    /// Captured values are list items (which may lack `kind`).
    item_layout: bool,
    ended: bool,
}

impl ResponseRewriter {
    /// Rewrite one chunk of the body, appending to `out` (so a caller that reads a chunk in
    /// slices builds one output buffer). `false`: end the stream after forwarding `out`.
    pub fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> bool {
        if self.ended {
            return false;
        }
        let ctx = &self.ctx;
        let item_layout = self.item_layout;
        let mut on_value = |value: &[u8], out: &mut Vec<u8>| {
            convert_value(value, ctx, item_layout, out);
        };
        match self.walker.push(chunk, out, &mut on_value) {
            Ok(()) => true,
            Err(StreamError::TooLarge { limit }) => {
                self.ended = true;
                if self.watch {
                    out.extend_from_slice(&too_large_watch_event(limit));
                }
                false
            }
        }
    }

    /// The end of the body: what is still held back.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        if !self.ended {
            self.walker.finish(out);
        }
    }

    /// Whether the rewritten body is exactly as long as the original (then `content-length`
    /// can stay).
    pub fn preserves_length(&self) -> bool {
        self.walker.preserves_length()
    }

    /// Bytes currently held back.
    pub fn held_bytes(&self) -> usize {
        self.walker.held_bytes()
    }
}

/// A watch `ERROR` event carrying a Status, for an event too large to convert.
fn too_large_watch_event(limit: usize) -> Vec<u8> {
    let status = serde_json::json!({
        "type": "ERROR",
        "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("a watch event is larger than the proxy's limit of {limit} bytes; the watch is ended"),
            "reason": "InternalError", "code": 500
        }
    });
    let mut out = serde_json::to_vec(&status).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Convert one complete JSON value; a value that does not parse is forwarded as it came.
fn convert_value(raw: &[u8], ctx: &Context, list_item: bool, out: &mut Vec<u8>) {
    let Ok(mut value) = serde_json::from_slice::<Value>(raw) else {
        out.extend_from_slice(raw);
        return;
    };
    if list_item {
        if let Some(obj) = value.as_object_mut() {
            match obj.get("kind").and_then(Value::as_str) {
                None | Some("Event") => event_to_client(obj, ctx, true),
                Some(_) => to_client(&mut value, ctx),
            }
        }
    } else {
        to_client(&mut value, ctx);
    }
    let written = if ctx.pretty {
        serde_json::to_writer_pretty(&mut *out, &value)
    } else {
        serde_json::to_writer(&mut *out, &value)
    };
    if written.is_err() {
        out.extend_from_slice(raw);
    }
}

/// Bring any response document into the client's API, by its `kind`.
fn to_client(value: &mut Value, ctx: &Context) {
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    match obj.get("kind").and_then(Value::as_str) {
        Some("Event") => event_to_client(obj, ctx, false),
        Some("EventList") => {
            if let Some(Value::Array(items)) = obj.get_mut("items") {
                for item in items.iter_mut() {
                    if let Some(o) = item.as_object_mut() {
                        event_to_client(o, ctx, true);
                    }
                }
            }
            if is_upstream(obj, ctx) {
                obj.insert(
                    "apiVersion".into(),
                    Value::String(ctx.api.api_version().to_owned()),
                );
            }
        }
        Some("Table") => {
            if let Some(Value::Array(rows)) = obj.get_mut("rows") {
                for row in rows.iter_mut() {
                    if let Some(o) = row.get_mut("object") {
                        to_client(o, ctx);
                    }
                }
            }
        }
        Some("Status") => fix_status(obj, ctx),
        None if obj.contains_key("type") && obj.contains_key("object") => {
            if let Some(o) = obj.get_mut("object") {
                to_client(o, ctx);
            }
        }
        _ => {}
    }
}

fn is_upstream(obj: &Map<String, Value>, ctx: &Context) -> bool {
    obj.get("apiVersion").and_then(Value::as_str) == Some(ctx.upstream_api_version.as_str())
}

/// An Event stored by Activity, in the client's API. List items may carry no `apiVersion`.
fn event_to_client(obj: &mut Map<String, Value>, ctx: &Context, list_item: bool) {
    let ours = is_upstream(obj, ctx) || (list_item && !obj.contains_key("apiVersion"));
    if !ours {
        return;
    }
    match ctx.api {
        Api::CoreV1 => {
            if obj.contains_key("apiVersion") {
                obj.insert("apiVersion".into(), Value::String("v1".into()));
            }
        }
        Api::EventsV1 => events::core_to_events_v1(obj),
    }
}

/// Status messages and details name the resource the client asked for.
fn fix_status(obj: &mut Map<String, Value>, ctx: &Context) {
    if ctx.group.is_empty() {
        return;
    }
    let (group, resource) = match ctx.api {
        Api::CoreV1 => ("", "events".to_owned()),
        Api::EventsV1 => ("events.k8s.io", "events.events.k8s.io".to_owned()),
    };
    if let Some(Value::String(msg)) = obj.get_mut("message") {
        *msg = msg
            .replace(&format!("events.{}", ctx.group), &resource)
            .replace(&format!("Event.{} ", ctx.group), "Event ");
    }
    if let Some(Value::Object(details)) = obj.get_mut("details") {
        if details.get("group").and_then(Value::as_str) == Some(ctx.group.as_str()) {
            if group.is_empty() {
                details.remove("group");
            } else {
                details.insert("group".into(), Value::String(group.into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What became of a chunk.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Outcome {
        /// Forward these bytes in place of the chunk.
        Forward(Vec<u8>),
        /// Forward these bytes, then end the stream (reset): the body cannot be rewritten further.
        Abort(Vec<u8>),
    }

    /// The chunk-at-a-time view of the rewriter the tests are written against.
    trait ChunkRewriter {
        fn push(&mut self, chunk: &[u8]) -> Outcome;
        fn finish(&mut self) -> Vec<u8>;
    }

    impl ChunkRewriter for ResponseRewriter {
        fn push(&mut self, chunk: &[u8]) -> Outcome {
            let mut out = Vec::with_capacity(chunk.len() + 64);
            if self.push_into(chunk, &mut out) {
                Outcome::Forward(out)
            } else {
                Outcome::Abort(out)
            }
        }

        fn finish(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            self.finish_into(&mut out);
            out
        }
    }
    use serde_json::json;

    const ACT: &str = "activity.miloapis.com/v1alpha1";

    fn plan(api: Api, operation: Operation) -> ResponsePlan {
        ResponsePlan {
            api,
            operation,
            upstream_api_version: ACT.into(),
            pretty: false,
            max_object_bytes: 1 << 20,
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// Run a whole body through a rewriter in chunks of `chunk` bytes.
    fn run(plan: &ResponsePlan, status: u16, body: &[u8], chunk: usize) -> Vec<u8> {
        let mut rw = plan.rewriter(status);
        let mut out = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            match rw.push(c) {
                Outcome::Forward(b) => out.extend(b),
                Outcome::Abort(b) => {
                    out.extend(b);
                    return out;
                }
            }
        }
        out.extend(rw.finish());
        out
    }

    fn json_of(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn watch_events(bytes: &[u8]) -> Vec<Value> {
        serde_json::Deserializer::from_slice(bytes)
            .into_iter::<Value>()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn treatment_needs_uncompressed_json() {
        let p = plan(Api::CoreV1, Operation::Get);
        assert_eq!(
            p.treatment(Some("application/json"), None),
            Treatment::Rewrite
        );
        assert_eq!(
            p.treatment(Some("application/json; charset=utf-8"), Some("identity")),
            Treatment::Rewrite
        );
        assert_eq!(
            p.treatment(Some("application/json"), Some("gzip")),
            Treatment::PassThrough
        );
        assert_eq!(
            p.treatment(Some("application/vnd.kubernetes.protobuf"), None),
            Treatment::PassThrough
        );
        assert_eq!(p.treatment(None, None), Treatment::PassThrough);
    }

    #[test]
    fn core_object_list_and_table() {
        let out = json_of(&run(
            &plan(Api::CoreV1, Operation::Get),
            200,
            &fixture("responses/event.json"),
            13,
        ));
        assert_eq!(out["apiVersion"], "v1");
        assert_eq!(out["involvedObject"]["apiVersion"], "v1");
        let list = json_of(&run(
            &plan(Api::CoreV1, Operation::List),
            200,
            &fixture("responses/event-list.json"),
            64,
        ));
        assert_eq!(list["apiVersion"], "v1");
        assert_eq!(list["kind"], "EventList");
        for item in list["items"].as_array().unwrap() {
            assert!(item.get("apiVersion").is_none_or(|v| v == "v1"), "{item}");
        }
        let table = json_of(&run(
            &plan(Api::CoreV1, Operation::List),
            200,
            &fixture("responses/table-objects.json"),
            5,
        ));
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(table["rows"][0]["object"]["apiVersion"], "v1");
    }

    #[test]
    fn core_rewrite_keeps_every_other_byte() {
        let body = fixture("responses/event-list.json");
        // The fixture has exactly two Activity apiVersions: the list's and the first item's.
        // Padded with spaces so the length (and content-length) stays.
        let expected = String::from_utf8(body.clone()).unwrap().replace(
            "\"activity.miloapis.com/v1alpha1\"",
            &format!("\"v1\"{}", " ".repeat(28)),
        );
        for chunk in [1, 2, 3, 100, body.len()] {
            let out = run(&plan(Api::CoreV1, Operation::List), 200, &body, chunk);
            assert_eq!(out.len(), body.len());
            assert_eq!(String::from_utf8(out).unwrap(), expected, "chunk {chunk}");
        }
        assert!(plan(Api::CoreV1, Operation::Get)
            .rewriter(200)
            .preserves_length());
        assert!(!plan(Api::CoreV1, Operation::Get)
            .rewriter(404)
            .preserves_length());
        assert!(!plan(Api::EventsV1, Operation::Get)
            .rewriter(200)
            .preserves_length());
    }

    #[test]
    fn events_v1_object_is_converted() {
        let out = json_of(&run(
            &plan(Api::EventsV1, Operation::Get),
            200,
            &fixture("responses/event.json"),
            7,
        ));
        assert_eq!(out["apiVersion"], "events.k8s.io/v1");
        assert_eq!(out["regarding"]["name"], "test-pod");
        assert_eq!(out["note"], "Pulled image");
        assert!(out.get("involvedObject").is_none());
        assert!(out.get("message").is_none());
    }

    #[test]
    fn events_v1_list_converts_each_item() {
        let body = fixture("responses/event-list.json");
        for chunk in [1, 7, 4096] {
            let list = json_of(&run(
                &plan(Api::EventsV1, Operation::List),
                200,
                &body,
                chunk,
            ));
            assert_eq!(list["apiVersion"], "events.k8s.io/v1");
            let items = list["items"].as_array().unwrap();
            assert_eq!(items.len(), 3);
            for item in items {
                assert!(item.get("regarding").is_some(), "{item}");
                assert!(item.get("involvedObject").is_none());
            }
            assert_eq!(list["metadata"]["continue"], "abc");
        }
    }

    #[test]
    fn watch_stream_split_at_every_byte_boundary() {
        let body = fixture("responses/watch.jsonl");
        let core_full = run(&plan(Api::CoreV1, Operation::Watch), 200, &body, body.len());
        let events_full = run(
            &plan(Api::EventsV1, Operation::Watch),
            200,
            &body,
            body.len(),
        );
        for split in 1..body.len() {
            for (api, full) in [(Api::CoreV1, &core_full), (Api::EventsV1, &events_full)] {
                let p = plan(api, Operation::Watch);
                let mut rw = p.rewriter(200);
                let mut out = Vec::new();
                for part in [&body[..split], &body[split..]] {
                    match rw.push(part) {
                        Outcome::Forward(b) => out.extend(b),
                        Outcome::Abort(_) => panic!("aborted"),
                    }
                }
                out.extend(rw.finish());
                assert_eq!(&out, full, "{api:?} split at {split}");
            }
        }
        let core = watch_events(&core_full);
        assert_eq!(core.len(), 4);
        assert_eq!(core[0]["type"], "ADDED");
        assert_eq!(core[0]["object"]["apiVersion"], "v1");
        assert_eq!(core[2]["type"], "BOOKMARK");
        assert_eq!(core[2]["object"]["apiVersion"], "v1");
        assert_eq!(core[3]["type"], "ERROR");
        assert_eq!(core[3]["object"]["kind"], "Status");
        let events = watch_events(&events_full);
        assert_eq!(events[1]["type"], "MODIFIED");
        assert_eq!(events[1]["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(events[1]["object"]["regarding"]["name"], "test-pod");
        assert_eq!(events[2]["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(events[3]["object"]["apiVersion"], "v1");
    }

    #[test]
    fn many_events_in_one_chunk_and_memory_stays_bounded() {
        let one = br#"{"type":"ADDED","object":{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1","metadata":{"name":"e"},"involvedObject":{"name":"p"},"message":"m"}}
"#;
        let body: Vec<u8> = one.iter().copied().cycle().take(one.len() * 200).collect();
        for api in [Api::CoreV1, Api::EventsV1] {
            let p = plan(api, Operation::Watch);
            let mut rw = p.rewriter(200);
            let mut out = Vec::new();
            for c in body.chunks(1000) {
                if let Outcome::Forward(b) = rw.push(c) {
                    out.extend(b);
                }
                assert!(rw.held_bytes() < one.len() * 2);
            }
            out.extend(rw.finish());
            assert_eq!(watch_events(&out).len(), 200, "{api:?}");
        }
    }

    #[test]
    fn an_oversized_watch_event_ends_the_stream_with_an_error_event() {
        let mut p = plan(Api::EventsV1, Operation::Watch);
        p.max_object_bytes = 100;
        let big = format!(
            "{{\"type\":\"ADDED\",\"object\":{{\"kind\":\"Event\",\"apiVersion\":\"{ACT}\",\"message\":\"{}\"}}}}\n",
            "x".repeat(500)
        );
        let mut rw = p.rewriter(200);
        let Outcome::Abort(out) = rw.push(big.as_bytes()) else {
            panic!("expected abort");
        };
        let events = watch_events(&out);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "ERROR");
        assert_eq!(events[0]["object"]["code"], 500);
        assert_eq!(rw.push(b"more"), Outcome::Abort(vec![]));
    }

    #[test]
    fn status_bodies_name_the_clients_resource() {
        let body = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"events.activity.miloapis.com \"x\" not found","reason":"NotFound",
            "details":{"name":"x","group":"activity.miloapis.com","kind":"events"},"code":404})
        .to_string();
        let core = json_of(&run(
            &plan(Api::CoreV1, Operation::Get),
            404,
            body.as_bytes(),
            9,
        ));
        assert_eq!(core["message"], "events \"x\" not found");
        assert!(core["details"].get("group").is_none());
        let ev = json_of(&run(
            &plan(Api::EventsV1, Operation::Get),
            404,
            body.as_bytes(),
            9,
        ));
        assert_eq!(ev["message"], "events.events.k8s.io \"x\" not found");
        assert_eq!(ev["details"]["group"], "events.k8s.io");
        // Anything else at an error status passes through intact.
        assert_eq!(
            run(&plan(Api::CoreV1, Operation::Get), 500, b"{\"x\":1}", 2),
            b"{\"x\":1}"
        );
    }

    #[test]
    fn pretty_output_for_converted_objects() {
        let mut p = plan(Api::EventsV1, Operation::Get);
        p.pretty = true;
        let out = String::from_utf8(run(&p, 200, &fixture("responses/event.json"), 100)).unwrap();
        assert!(
            out.contains("\n  \"apiVersion\": \"events.k8s.io/v1\""),
            "{out}"
        );
    }
}
