//! Responses back in the API the client asked for.
//!
//! Activity stores core/v1-shaped Events under its own `apiVersion`. Core clients get the same
//! bytes with `apiVersion: v1` on every Event (rewritten in the stream, nothing parsed);
//! events.k8s.io/v1 clients get each Event converted field by field (each object parsed on its
//! own, never a whole list). Watch streams are rewritten chunk by chunk. Kubernetes `Status`
//! bodies keep their shape but name the client's resource instead of Activity's.
//!
//! A misbehaving upstream never gets its own objects through: a compressed body is refused
//! before it is read (Envoy's decompressor, after this filter, normally removes the encoding),
//! a body not declared as JSON is parsed whole and refused unless it is, and a body the walker
//! or the converter refuses ends as a Kubernetes `Status` (502): the whole reply when nothing has
//! been sent yet, a watch `ERROR` event on a watch, and a reset stream when part of a streamed
//! body is already on its way (Envoy sends response headers before this filter sees the body).

mod bytemask;
mod level;
pub mod output;
mod scan;
pub mod walker;

use serde_json::{Map, Value};

use crate::k8s::api::{Api, Operation};
use crate::k8s::events;
use crate::k8s::status::{Rejection, UpstreamFault};
use output::Output;
use walker::{Layout, Walker};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Treatment {
    /// Forward untouched: a reply Envoy made itself, not Activity's.
    PassThrough,
    /// JSON: rewritten as it streams.
    Rewrite,
    /// Declared as something else (or nothing): parsed as JSON document by document, and
    /// refused unless it is JSON. The reply is then declared `application/json`.
    Strict,
    /// Answer with this instead: the body cannot be read at all.
    Refuse(Rejection),
}

/// Whether a `content-type` is JSON (any parameters: `;stream=watch`, `;as=Table`, charset).
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
    })
}

impl ResponsePlan {
    fn group(&self) -> &str {
        self.upstream_api_version
            .split_once('/')
            .map_or("", |(g, _)| g)
    }

    /// Decide from the response headers. `from_upstream` tells whether Activity sent the
    /// response (asked only when the content type is not JSON: Envoy's own replies, such as a
    /// 503 for a failed connection, are plain text and carry nothing of Activity's).
    pub fn treatment(
        &self,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        from_upstream: impl FnOnce() -> bool,
    ) -> Treatment {
        if let Some(enc) = content_encoding {
            let enc = enc.trim();
            if !enc.is_empty() && !enc.eq_ignore_ascii_case("identity") {
                return Treatment::Refuse(Rejection::upstream(&UpstreamFault::Encoding(
                    enc.to_owned(),
                )));
            }
        }
        if is_json(content_type) {
            Treatment::Rewrite
        } else if from_upstream() {
            Treatment::Strict
        } else {
            Treatment::PassThrough
        }
    }

    /// A rewriter for a JSON response with this HTTP status.
    pub fn rewriter(&self, status: u16) -> ResponseRewriter {
        self.rewriter_for(status, false)
    }

    /// A rewriter for a response with this HTTP status; `strict`: the body is not declared as
    /// JSON, so every document is parsed whole.
    pub fn rewriter_for(&self, status: u16, strict: bool) -> ResponseRewriter {
        let to = self.api.api_version().to_owned();
        let from = self.upstream_api_version.clone();
        let watch = self.operation == Operation::Watch && status < 300;
        let layout = if status >= 300 || strict {
            // Errors are small Status objects: read them whole. So is what is not declared JSON.
            Layout::Documents
        } else {
            match (self.api, self.operation) {
                // A delete answers with a Status (or the object): read whole, so its details
                // name the client's group.
                (_, Operation::Delete) => Layout::Documents,
                (Api::CoreV1, _) => Layout::RewriteApiVersion { from, to },
                (Api::EventsV1, Operation::List) => Layout::ListItems { from, to },
                (Api::EventsV1, _) => Layout::Documents,
            }
        };
        let item_layout = matches!(layout, Layout::ListItems { .. });
        // One document answers a non-watch request other than a list: hold it until it is
        // complete, so that a refusal can replace it whole (lists stream).
        let hold = !watch
            && (matches!(layout, Layout::Documents)
                || (self.api == Api::CoreV1 && self.operation != Operation::List));
        let mut walker = Walker::new(layout, self.max_object_bytes);
        if watch {
            // Every watch event is held until complete: its size is capped however it is cut.
            walker = walker.with_document_limit(self.max_object_bytes);
        }
        ResponseRewriter {
            walker,
            ctx: Context {
                api: self.api,
                upstream_api_version: self.upstream_api_version.clone(),
                group: self.group().to_owned(),
                pretty: self.pretty,
            },
            watch,
            item_layout,
            hold,
            pending: Vec::new(),
            sent: false,
            failure: None,
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

/// Response chunks up to this size are read from the host whole, so that what goes through
/// unchanged is never copied ([`output::Output`]). Larger ones are read in slices of
/// [`READ_SLICE`] (the output of all but the last slice is then copied), so that the VM never
/// holds the input of a chunk and its output both at a size above this.
pub const READ_WHOLE: usize = 1024 * 1024;

/// The slices a chunk larger than [`READ_WHOLE`] is read in.
pub const READ_SLICE: usize = 64 * 1024;

/// What the host does once a rewrite has failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `out` ends with what replaces the rest (a watch `ERROR` event, or a `Status` in place
    /// of the whole body): forward it, drop whatever else comes, end the stream.
    Replaced(Rejection),
    /// Part of the body has already gone on: reset the stream.
    Reset(Rejection),
}

impl Failure {
    pub fn rejection(&self) -> &Rejection {
        match self {
            Failure::Replaced(r) | Failure::Reset(r) => r,
        }
    }
}

/// The per-response rewriting state.
pub struct ResponseRewriter {
    walker: Walker,
    ctx: Context,
    watch: bool,
    /// Captured values are list items (which may lack `kind`).
    item_layout: bool,
    /// Output is held in `pending` until the document (a watch: each event) is complete.
    hold: bool,
    pending: Vec<u8>,
    /// A held document has gone on: a later refusal can only reset.
    sent: bool,
    failure: Option<Failure>,
}

impl ResponseRewriter {
    /// Rewrite one chunk of the body, appending to `out` (so a caller that reads a chunk in
    /// slices builds one output buffer). `false`: the rewrite failed ([`Self::failure`] says
    /// what to do); forward `out`, then end the stream.
    pub fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> bool {
        let mut output = Output::over(chunk, std::mem::take(out));
        let ok = self.push_to(chunk, &mut output);
        *out = output.into_vec();
        ok
    }

    /// [`Self::push_into`] an [`Output`] over `chunk`, which copies none of the bytes that go
    /// through unchanged (the host then writes back only what changed).
    pub fn push_to(&mut self, chunk: &[u8], out: &mut Output<'_>) -> bool {
        if self.failure.is_some() {
            return false;
        }
        let ctx = &self.ctx;
        let item_layout = self.item_layout;
        let mut on_value =
            |value: &[u8], out: &mut Vec<u8>| convert_value(value, ctx, item_layout, out);
        let result = if self.hold || self.watch {
            self.walker.push(chunk, &mut self.pending, &mut on_value)
        } else {
            self.walker.push_to(chunk, out, &mut on_value)
        };
        if let Err(fault) = result {
            if self.watch {
                // The events completed before the refused one still go.
                if let Some(end) = self.walker.last_boundary() {
                    out.written()
                        .extend(self.pending.drain(..end.min(self.pending.len())));
                }
            }
            self.fail(fault, out.written());
            return false;
        }
        if self.watch || self.hold {
            // Each document goes on once it is complete, never in part. (Not at the end of the
            // stream: a body Envoy's decompressor ends with trailers has no end-of-stream here.)
            if let Some(end) = self.walker.last_boundary() {
                // Copied once, straight from `pending`; only the unfinished rest is moved.
                let end = end.min(self.pending.len());
                let done = self.pending.get(..end).unwrap_or_default();
                if !self.sent {
                    self.sent = done.iter().any(|b| !b.is_ascii_whitespace());
                }
                out.extend_from_slice(done);
                self.pending.drain(..end);
            }
        }
        true
    }

    /// The end of the body: what is still held back. `false`: the body was refused
    /// ([`Self::failure`]); forward `out` all the same.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) -> bool {
        let mut output = Output::over(&[], std::mem::take(out));
        let ok = self.finish_to(&mut output);
        *out = output.into_vec();
        ok
    }

    /// [`Self::finish_into`] an [`Output`].
    pub fn finish_to(&mut self, out: &mut Output<'_>) -> bool {
        if self.failure.is_some() {
            return false;
        }
        match self.walker.finish() {
            Ok(()) => {
                // (Nothing held: what went through unchanged stays uncopied.)
                if !self.pending.is_empty() {
                    out.written().append(&mut self.pending);
                }
                true
            }
            Err(fault) => {
                self.fail(fault, out.written());
                false
            }
        }
    }

    /// Replace what is left by a refusal: a watch gets an `ERROR` event, a held body a
    /// `Status`; a streamed body that has begun can only be cut.
    fn fail(&mut self, fault: UpstreamFault, out: &mut Vec<u8>) {
        let rejection = Rejection::upstream(&fault);
        self.pending.clear();
        let failure = if self.watch {
            out.extend_from_slice(&watch_error_event(&rejection));
            Failure::Replaced(rejection)
        } else if self.hold && !self.sent {
            out.extend_from_slice(&rejection.to_json());
            Failure::Replaced(rejection)
        } else {
            Failure::Reset(rejection)
        };
        self.failure = Some(failure);
    }

    /// Why the rewrite stopped, once it has.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Whether this is a watch stream (failures end it with an `ERROR` event).
    pub fn is_watch(&self) -> bool {
        self.watch
    }

    /// Whether the rewritten body is exactly as long as the original (then `content-length`
    /// can stay).
    pub fn preserves_length(&self) -> bool {
        // A held body may be replaced by a Status, a watch may end with an ERROR event: only a
        // streamed list keeps its length.
        self.walker.preserves_length() && !self.watch && !self.hold
    }

    /// Bytes currently held back.
    pub fn held_bytes(&self) -> usize {
        self.walker.held_bytes() + self.pending.len()
    }
}

/// A watch `ERROR` event carrying a Status, as kube-apiserver ends a watch it cannot serve.
fn watch_error_event(rejection: &Rejection) -> Vec<u8> {
    let mut out = b"{\"type\":\"ERROR\",\"object\":".to_vec();
    out.extend_from_slice(&rejection.to_json());
    out.extend_from_slice(b"}\n");
    out
}

/// Convert one complete JSON value. A value that does not parse, or would still carry the
/// upstream API once converted, is refused.
fn convert_value(
    raw: &[u8],
    ctx: &Context,
    list_item: bool,
    out: &mut Vec<u8>,
) -> Result<(), UpstreamFault> {
    let mut value = serde_json::from_slice::<Value>(raw).map_err(|_| UpstreamFault::Malformed)?;
    if list_item {
        if let Some(obj) = value.as_object_mut() {
            match obj.get("kind").and_then(Value::as_str) {
                None | Some("Event") => event_to_client(obj, ctx, true),
                Some(_) => to_client(&mut value, ctx),
            }
        }
        if leaks_item(&value, ctx) {
            return Err(UpstreamFault::ForeignApiVersion);
        }
    } else {
        to_client(&mut value, ctx);
        if leaks(&value, ctx) {
            return Err(UpstreamFault::ForeignApiVersion);
        }
    }
    let written = if ctx.pretty {
        serde_json::to_writer_pretty(&mut *out, &value)
    } else {
        serde_json::to_writer(&mut *out, &value)
    };
    written.map_err(|_| UpstreamFault::Malformed)
}

/// Whether an object has a member a decoder would read as `apiVersion` (any case folding)
/// that names the upstream group.
fn names_upstream(obj: &Map<String, Value>, ctx: &Context) -> bool {
    !ctx.group.is_empty()
        && obj.iter().any(|(k, v)| {
            walker::folds_to_api_version(k)
                && v.as_str().is_some_and(|s| s.contains(ctx.group.as_str()))
        })
}

/// After conversion, whether a document still carries the upstream API where a client reads
/// an object's type: the document itself, its list items, Table row objects, a watch event's
/// object.
fn leaks(value: &Value, ctx: &Context) -> bool {
    let Some(obj) = value.as_object() else {
        return false;
    };
    if names_upstream(obj, ctx) {
        return true;
    }
    let items = obj
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let rows = obj
        .get("rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("object"));
    let object = obj.get("object");
    items.chain(rows).chain(object).any(|v| leaks(v, ctx))
}

fn leaks_item(value: &Value, ctx: &Context) -> bool {
    value.as_object().is_some_and(|o| names_upstream(o, ctx))
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

    /// As the host does it: an [`Output`] over the chunk, written back as a replaced head
    /// (the rest of the chunk as it came) while the rewrite goes on, whole once it failed.
    impl ChunkRewriter for ResponseRewriter {
        fn push(&mut self, chunk: &[u8]) -> Outcome {
            let mut out = Output::over(chunk, Vec::new());
            if self.push_to(chunk, &mut out) {
                let (n, mut head) = out.into_head();
                head.extend_from_slice(&chunk[n..]);
                Outcome::Forward(head)
            } else {
                Outcome::Abort(out.into_vec())
            }
        }

        fn finish(&mut self) -> Vec<u8> {
            let mut out = Output::over(&[], Vec::new());
            self.finish_to(&mut out);
            out.into_vec()
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
        let upstream = || true;
        assert_eq!(
            p.treatment(Some("application/json"), None, upstream),
            Treatment::Rewrite
        );
        assert_eq!(
            p.treatment(
                Some("application/json; charset=utf-8"),
                Some("identity"),
                upstream
            ),
            Treatment::Rewrite
        );
        assert_eq!(
            p.treatment(Some("application/json;stream=watch"), None, upstream),
            Treatment::Rewrite
        );
        // Any encoding left is refused before a byte is read, whoever sent it.
        for enc in ["gzip", "br", "deflate", "gzip, identity", "x-anything"] {
            let Treatment::Refuse(r) = p.treatment(Some("application/json"), Some(enc), upstream)
            else {
                panic!("{enc} not refused");
            };
            assert_eq!(r.code(), 502);
            assert!(r.message.contains("content-encoding"), "{}", r.message);
        }
        // Not declared as JSON: parsed strictly when Activity sent it, left alone when Envoy did.
        for ct in [
            Some("text/plain"),
            None,
            Some("application/vnd.kubernetes.protobuf"),
            Some("application/yaml"),
        ] {
            assert_eq!(p.treatment(ct, None, upstream), Treatment::Strict, "{ct:?}");
            assert_eq!(p.treatment(ct, None, || false), Treatment::PassThrough);
        }
    }

    /// Run a whole body through a rewriter; the output and the failure, if any.
    fn run_strict(
        plan: &ResponsePlan,
        status: u16,
        strict: bool,
        body: &[u8],
        chunk: usize,
    ) -> (Vec<u8>, Option<Failure>) {
        let mut rw = plan.rewriter_for(status, strict);
        let mut out = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            if !rw.push_into(c, &mut out) {
                return (out, rw.failure().cloned());
            }
        }
        rw.finish_into(&mut out);
        (out, rw.failure().cloned())
    }

    const EVENT: &str = r#"{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1","metadata":{"name":"e","namespace":"default"},"involvedObject":{"kind":"Pod","name":"p"},"message":"m","reason":"R"}"#;

    #[test]
    fn undeclared_json_is_converted_for_both_apis() {
        let list = format!(
            r#"{{"kind":"EventList","apiVersion":"{ACT}","metadata":{{}},"items":[{EVENT},{EVENT}]}}"#
        );
        for (api, op, body) in [
            (Api::CoreV1, Operation::Get, EVENT.to_owned()),
            (Api::EventsV1, Operation::Get, EVENT.to_owned()),
            (Api::CoreV1, Operation::List, list.clone()),
            (Api::EventsV1, Operation::List, list.clone()),
        ] {
            for chunk in [1, 7, body.len()] {
                let (out, failure) = run_strict(&plan(api, op), 200, true, body.as_bytes(), chunk);
                assert_eq!(failure, None);
                let text = String::from_utf8(out).unwrap();
                assert!(!text.contains("activity.miloapis.com"), "{text}");
                let v = json_of(text.as_bytes());
                assert_eq!(v["apiVersion"], api.api_version(), "{api:?} {op:?}");
            }
        }
        // Not JSON at all: a Status in place of the body.
        let (out, failure) = run_strict(
            &plan(Api::CoreV1, Operation::Get),
            200,
            true,
            b"activity.miloapis.com/v1alpha1 Event e",
            4,
        );
        assert!(matches!(failure, Some(Failure::Replaced(_))));
        let v = json_of(&out);
        assert_eq!(
            (v["kind"].as_str(), v["code"].as_u64()),
            (Some("Status"), Some(502))
        );
    }

    /// Bodies the events.k8s.io converter cannot read, each with what it is.
    fn refused_bodies() -> Vec<(&'static str, Vec<u8>)> {
        let deep = format!(
            r#"{{"kind":"Event","apiVersion":"{ACT}","x":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let mut utf8 = EVENT.as_bytes().to_vec();
        let at = EVENT.find("\"m\"").unwrap() + 1;
        utf8.insert(at, 0xff);
        let folded = EVENT.replace("\"apiVersion\"", "\"APIVERSION\"");
        vec![
            ("deep", deep.into_bytes()),
            ("invalid UTF-8", utf8),
            (
                "malformed",
                EVENT.replace("\"message\":", "\"message\"").into_bytes(),
            ),
            ("truncated", EVENT.as_bytes()[..EVENT.len() / 2].to_vec()),
            ("folded apiVersion", folded.into_bytes()),
            (
                "other version",
                EVENT.replace("v1alpha1", "v1").into_bytes(),
            ),
            ("garbage after", format!("{EVENT} x").into_bytes()),
        ]
    }

    #[test]
    fn events_v1_bodies_the_converter_refuses_become_a_502_status() {
        for op in [
            Operation::Get,
            Operation::Create,
            Operation::Update,
            Operation::Patch,
        ] {
            for (what, body) in refused_bodies() {
                for chunk in [1, 16, body.len()] {
                    let (out, failure) =
                        run_strict(&plan(Api::EventsV1, op), 200, false, &body, chunk);
                    if what == "garbage after" && matches!(failure, Some(Failure::Reset(_))) {
                        // The document went on before the garbage came: only a reset is left.
                        assert!(chunk < body.len());
                        continue;
                    }
                    assert!(
                        matches!(failure, Some(Failure::Replaced(_))),
                        "{what} {op:?}: {failure:?}"
                    );
                    let v = json_of(&out);
                    assert_eq!(v["kind"], "Status", "{what}");
                    assert_eq!(v["code"], 502, "{what}");
                    assert!(!String::from_utf8_lossy(&out).contains("activity.miloapis.com"));
                }
            }
        }
    }

    #[test]
    fn a_refused_watch_event_ends_the_watch_with_an_error_event() {
        for api in [Api::CoreV1, Api::EventsV1] {
            for (what, bad) in refused_bodies() {
                if api == Api::CoreV1
                    && matches!(
                        what,
                        "deep"
                            | "invalid UTF-8"
                            | "malformed"
                            | "folded apiVersion"
                            | "garbage after"
                    )
                {
                    // The core stream is not parsed: these pass, rewritten where an apiVersion is.
                    continue;
                }
                let good = format!("{{\"type\":\"ADDED\",\"object\":{EVENT}}}\n");
                let mut body = good.clone().into_bytes();
                body.extend_from_slice(b"{\"type\":\"ADDED\",\"object\":");
                body.extend_from_slice(&bad);
                if what != "truncated" {
                    body.extend_from_slice(b"}\n");
                }
                let (out, failure) =
                    run_strict(&plan(api, Operation::Watch), 200, false, &body, body.len());
                assert!(
                    matches!(failure, Some(Failure::Replaced(_))),
                    "{api:?} {what}: {failure:?}"
                );
                let events = watch_events(&out);
                assert_eq!(
                    events.len(),
                    2,
                    "{api:?} {what}: {}",
                    String::from_utf8_lossy(&out)
                );
                assert_eq!(events[0]["type"], "ADDED");
                assert_eq!(events[0]["object"]["apiVersion"], api.api_version());
                assert_eq!(events[1]["type"], "ERROR");
                assert_eq!(events[1]["object"]["kind"], "Status");
                assert!(!String::from_utf8_lossy(&out).contains("activity.miloapis.com"));
            }
        }
    }

    #[test]
    fn core_streams_are_rewritten_whatever_else_is_wrong_or_cut() {
        // Deep nesting, invalid UTF-8 and escapes are copied through with the apiVersion
        // rewritten; a cut body resets the stream.
        let deep = format!(
            r#"{{"kind":"Event","apiVersion":"{ACT}","x":{}1{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let escaped = EVENT
            .replace("miloapis.com/", "miloapis.com\\/")
            .replace("\"apiVersion\"", "\"api\\u0056ersion\"");
        for body in [deep, escaped] {
            let (out, failure) = run_strict(
                &plan(Api::CoreV1, Operation::Get),
                200,
                false,
                body.as_bytes(),
                5,
            );
            assert_eq!(failure, None);
            assert!(!String::from_utf8_lossy(&out).contains("activity.miloapis.com"));
        }
        let list =
            format!(r#"{{"kind":"EventList","apiVersion":"{ACT}","items":[{EVENT},{EVENT}]}}"#);
        for cut in 1..list.len() {
            for api in [Api::CoreV1, Api::EventsV1] {
                let (out, failure) = run_strict(
                    &plan(api, Operation::List),
                    200,
                    false,
                    &list.as_bytes()[..cut],
                    cut.min(9),
                );
                assert!(
                    matches!(failure, Some(Failure::Reset(_))),
                    "{api:?} cut {cut}"
                );
                assert!(
                    !String::from_utf8_lossy(&out).contains("activity.miloapis.com"),
                    "{api:?} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn a_delete_status_names_the_clients_group() {
        let body = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",
            "details":{"name":"x","group":"activity.miloapis.com","kind":"events","uid":"u"}})
        .to_string();
        let core = json_of(&run(
            &plan(Api::CoreV1, Operation::Delete),
            200,
            body.as_bytes(),
            3,
        ));
        assert_eq!(core["status"], "Success");
        assert!(core["details"].get("group").is_none(), "{core}");
        assert_eq!(core["details"]["name"], "x");
        let ev = json_of(&run(
            &plan(Api::EventsV1, Operation::Delete),
            200,
            body.as_bytes(),
            3,
        ));
        assert_eq!(ev["details"]["group"], "events.k8s.io");
        // A delete that answers with the object gets it converted.
        let core = json_of(&run(
            &plan(Api::CoreV1, Operation::Delete),
            200,
            EVENT.as_bytes(),
            3,
        ));
        assert_eq!(core["apiVersion"], "v1");
        let ev = json_of(&run(
            &plan(Api::EventsV1, Operation::Delete),
            200,
            EVENT.as_bytes(),
            3,
        ));
        assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
        assert_eq!(ev["note"], "m");
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
        assert!(plan(Api::CoreV1, Operation::List)
            .rewriter(200)
            .preserves_length());
        assert!(!plan(Api::CoreV1, Operation::Get)
            .rewriter(200)
            .preserves_length());
        assert!(!plan(Api::CoreV1, Operation::Watch)
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
