//! The host's state: what the script says Envoy holds (headers, bodies, metadata, plugin
//! configuration), what the module did to it, and the record of every call.
//!
//! The semantics are Envoy's (1.40, `extensions/common/wasm/context.cc`): header maps and body
//! buffers exist only in their own callbacks; writing a map outside its phase answers
//! `BadArgument`, reading one answers an empty map; `proxy_set_buffer_bytes(start = 0, size = n)`
//! drains `n` bytes and prepends the data, `start >= len` appends.

use std::collections::BTreeMap;
use std::fmt;

use crate::abi::{self, status, LogLevel, MetricType};
use crate::value::Value;

/// A header map as Envoy keeps it: lower-case names, pseudo-headers first, in order.
pub type HeaderMap = Vec<(Vec<u8>, Vec<u8>)>;

/// Lower-case the names and move pseudo-headers to the front, as Envoy's codecs and
/// `HeaderMapImpl` do before a filter ever sees the map.
pub fn normalize(headers: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> HeaderMap {
    let (mut pseudo, regular): (HeaderMap, HeaderMap) = headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .partition(|(k, _)| k.first() == Some(&b':'));
    pseudo.extend(regular);
    pseudo
}

/// A local reply (`proxy_send_local_response`) as Envoy receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub details: String,
    pub body: Vec<u8>,
    /// The additional headers, names lower-cased as Envoy adds them.
    pub headers: Vec<(String, String)>,
    pub grpc_status: i32,
}

impl LocalReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One `proxy_log` line (or a line the module wrote to stdout/stderr, which Envoy logs at info
/// and error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// A metric the module defined, with what it did to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub kind: MetricType,
    /// Counter total, or gauge value.
    pub value: i64,
    /// Every `proxy_record_metric` value, in order.
    pub recorded: Vec<u64>,
    /// How many times the module defined it (once per VM is the norm).
    pub definitions: u32,
}

/// A host status the script forces on matching host calls, instead of doing the call.
#[derive(Debug, Clone)]
pub struct Fault {
    call: String,
    matching: Option<String>,
    nth: Option<usize>,
    status: u32,
    seen: usize,
}

impl Fault {
    /// Every call of `call` (an import name such as `proxy_get_property`) answers `status`.
    pub fn new(call: &str, status: u32) -> Self {
        Fault {
            call: call.to_owned(),
            matching: None,
            nth: None,
            status,
            seen: 0,
        }
    }

    /// Only calls whose transcript line contains `text` (e.g. `response_body`).
    pub fn matching(mut self, text: &str) -> Self {
        self.matching = Some(text.to_owned());
        self
    }

    /// Only the `n`-th matching call (1-based) after the fault was installed.
    pub fn nth(mut self, n: usize) -> Self {
        self.nth = Some(n);
        self
    }

    fn fires(&mut self, call: &str, line: &str) -> Option<u32> {
        if call != self.call || self.matching.as_deref().is_some_and(|m| !line.contains(m)) {
            return None;
        }
        self.seen += 1;
        match self.nth {
            Some(n) if n != self.seen => None,
            _ => Some(self.status),
        }
    }
}

/// One host call as the transcript keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCall {
    /// The context whose callback made the call (`None`: during `_initialize`).
    pub context_id: Option<u32>,
    /// The import name, e.g. `proxy_get_header_map_pairs`.
    pub name: &'static str,
    /// Name and decoded arguments, e.g. `proxy_get_header_map_pairs(request_headers)`.
    pub line: String,
    pub status: u32,
    /// The status was forced by a [`Fault`].
    pub injected: bool,
}

impl fmt::Display for HostCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)?;
        if self.status != status::OK {
            write!(f, " -> {}", status::name(self.status))?;
        }
        if self.injected {
            f.write_str(" (injected)")?;
        }
        Ok(())
    }
}

/// The transcript: every callback the host made and every host call inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Enter {
        callback: &'static str,
        args: Vec<u32>,
    },
    Leave {
        callback: &'static str,
        result: Option<u32>,
        /// Wasm instructions the callback ran (wasmtime fuel), host calls not included.
        fuel: u64,
    },
    Host(HostCall),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Enter { callback, args } => {
                let args: Vec<String> = args.iter().map(u32::to_string).collect();
                write!(f, "> {callback}({})", args.join(", "))
            }
            Event::Leave {
                callback, result, ..
            } => match result {
                Some(r) => write!(f, "< {callback} = {r}"),
                None => write!(f, "< {callback}"),
            },
            Event::Host(call) => write!(f, "    {call}"),
        }
    }
}

/// What Envoy holds for one HTTP stream, and what reached each side.
#[derive(Debug, Clone, Default)]
pub struct StreamState {
    /// `filter_metadata` namespaces of the stream's dynamic metadata.
    pub metadata: Vec<(String, Value)>,
    /// Other properties (`\0`-joined path → serialized value).
    pub properties: Vec<(String, Vec<u8>)>,

    pub request_headers: HeaderMap,
    pub request_body: Vec<u8>,
    pub request_trailers: HeaderMap,
    /// The request headers went on towards the upstream.
    pub forwarded: bool,
    /// Body bytes released towards the upstream.
    pub upstream_body: Vec<u8>,
    /// The end of the request went on towards the upstream.
    pub upstream_complete: bool,
    /// The client sent its end of stream.
    pub request_done: bool,
    /// A request callback stopped iteration and nothing will resume it.
    pub request_stalled: bool,

    pub response_headers: HeaderMap,
    pub response_body: Vec<u8>,
    pub response_started: bool,
    /// The response headers as the client got them.
    pub client_headers: Option<HeaderMap>,
    /// Response body bytes released towards the client.
    pub client_body: Vec<u8>,
    pub response_done: bool,
    pub response_stalled: bool,

    pub local_replies: Vec<LocalReply>,
    pub(crate) local_reply_delivered: bool,
    /// `proxy_close_stream` calls (stream type names): Envoy resets the stream.
    pub closed: Vec<&'static str>,
    pub(crate) finished: bool,

    // Which maps and buffers Envoy exposes right now (its `request_headers_` etc. pointers).
    pub(crate) request_headers_open: bool,
    pub(crate) request_body_open: bool,
    pub(crate) response_headers_open: bool,
    pub(crate) response_body_open: bool,
    pub(crate) access_log_phase: bool,
}

impl StreamState {
    /// Nothing more reaches the filter for this stream (except the end-of-stream callbacks).
    pub fn ended(&self) -> bool {
        self.finished
            || !self.closed.is_empty()
            || self.local_reply_delivered
            || (self.request_done && self.response_done)
    }

    pub(crate) fn end_reason(&self) -> String {
        if self.finished {
            "finished".into()
        } else if !self.closed.is_empty() {
            format!("reset: proxy_close_stream({})", self.closed.join(", "))
        } else if let Some(r) = self.local_replies.first() {
            format!("local reply {} {}", r.status, r.details)
        } else if self.request_done && self.response_done {
            "both directions complete".into()
        } else {
            "open".into()
        }
    }
}

/// The callback running now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Current {
    pub context_id: u32,
    pub callback: &'static str,
    /// `proxy_on_configure`: the plugin configuration buffer is readable.
    pub configuring: bool,
}

/// Host settings fixed for the VM's life.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// What `proxy_get_log_level` answers (Envoy's `wasm` logger level; info by default).
    pub log_level: LogLevel,
    pub vm_configuration: Vec<u8>,
    /// The WASI environment (`environ_get`); Envoy passes none unless configured.
    pub environment: Vec<(String, String)>,
    /// Instructions (wasmtime fuel) one callback may run before it counts as a hang.
    pub fuel_per_callback: u64,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            log_level: LogLevel::Info,
            vm_configuration: Vec::new(),
            environment: Vec::new(),
            fuel_per_callback: 20_000_000_000,
        }
    }
}

pub struct HostState {
    pub(crate) memory: Option<wasmtime::Memory>,
    pub(crate) allocate: Option<wasmtime::TypedFunc<u32, u32>>,
    pub(crate) options: VmOptions,
    pub(crate) plugin_configuration: Vec<u8>,
    pub(crate) current: Option<Current>,
    pub(crate) streams: BTreeMap<u32, StreamState>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) transcript: Vec<Event>,
    /// Host-side failures found during the current callback (unexpected calls, bad writes).
    pub(crate) failures: Vec<String>,
    pub(crate) metrics: BTreeMap<String, Metric>,
    pub(crate) metric_ids: BTreeMap<u32, String>,
    next_metric: u32,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) tick_period_ms: Option<u32>,
    rng: u64,
}

impl HostState {
    pub(crate) fn new(options: VmOptions) -> Self {
        HostState {
            memory: None,
            allocate: None,
            options,
            plugin_configuration: Vec::new(),
            current: None,
            streams: BTreeMap::new(),
            faults: Vec::new(),
            transcript: Vec::new(),
            failures: Vec::new(),
            metrics: BTreeMap::new(),
            metric_ids: BTreeMap::new(),
            next_metric: 1,
            logs: Vec::new(),
            tick_period_ms: None,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    pub(crate) fn fail(&mut self, message: String) {
        self.failures.push(message);
    }

    /// The status a fault forces on this call, if any.
    pub(crate) fn injected(&mut self, call: &str, line: &str) -> Option<u32> {
        self.faults.iter_mut().find_map(|f| f.fires(call, line))
    }

    pub(crate) fn record(&mut self, name: &'static str, line: String, status: u32, injected: bool) {
        let context_id = self.current.map(|c| c.context_id);
        self.transcript.push(Event::Host(HostCall {
            context_id,
            name,
            line,
            status,
            injected,
        }));
    }

    fn stream(&self) -> Option<&StreamState> {
        self.current.and_then(|c| self.streams.get(&c.context_id))
    }

    fn stream_mut(&mut self) -> Option<&mut StreamState> {
        let id = self.current?.context_id;
        self.streams.get_mut(&id)
    }

    fn callback(&self) -> &'static str {
        self.current.map_or("(no callback)", |c| c.callback)
    }

    // --- header maps -------------------------------------------------------------------------

    /// `proxy_get_header_map_pairs`: the map, or an empty one when Envoy has none now.
    pub(crate) fn header_pairs(&self, map: u32) -> Result<Vec<u8>, u32> {
        if map > abi::MAP_MAX {
            return Err(status::BAD_ARGUMENT);
        }
        let Some(s) = self.stream() else {
            return Ok(Vec::new());
        };
        let readable = |open: bool| open || s.access_log_phase;
        let pairs: &[(Vec<u8>, Vec<u8>)] = match map {
            abi::MAP_REQUEST_HEADERS if readable(s.request_headers_open) => &s.request_headers,
            abi::MAP_RESPONSE_HEADERS if readable(s.response_headers_open) => &s.response_headers,
            _ => &[],
        };
        Ok(abi::encode_pairs(pairs))
    }

    /// The writable map for `map` now, as Envoy's `getMap`.
    fn writable_map(&mut self, map: u32) -> Option<&mut HeaderMap> {
        let s = self.stream_mut()?;
        match map {
            abi::MAP_REQUEST_HEADERS if s.request_headers_open => Some(&mut s.request_headers),
            abi::MAP_RESPONSE_HEADERS if s.response_headers_open => Some(&mut s.response_headers),
            _ => None,
        }
    }

    /// `proxy_set_header_map_pairs`: replace the whole map.
    pub(crate) fn set_header_pairs(&mut self, map: u32, raw: &[u8]) -> u32 {
        if map > abi::MAP_MAX {
            return status::BAD_ARGUMENT;
        }
        let pairs = match abi::decode_pairs(raw) {
            Ok(p) => p,
            Err(e) => {
                self.fail(format!(
                    "proxy_set_header_map_pairs({}) got a malformed pairs buffer: {e}",
                    abi::map_name(map)
                ));
                return status::BAD_ARGUMENT;
            }
        };
        self.check_header_values(map, &pairs);
        let Some(target) = self.writable_map(map) else {
            return status::BAD_ARGUMENT;
        };
        *target = normalize(pairs);
        status::OK
    }

    /// Envoy would emit a header value with CR, LF or NUL as a broken (or split) header.
    fn check_header_values(&mut self, map: u32, pairs: &[(Vec<u8>, Vec<u8>)]) {
        for (k, v) in pairs {
            if v.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) || k.is_empty() {
                let callback = self.callback();
                self.fail(format!(
                    "{callback} wrote an invalid header into {}: {:?}: {:?}",
                    abi::map_name(map),
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                ));
            }
        }
    }

    /// `proxy_add_header_map_value`: one more value (others of the name stay), name lower-cased.
    pub(crate) fn add_header(&mut self, map: u32, key: Vec<u8>, value: Vec<u8>) -> u32 {
        if map > abi::MAP_MAX {
            return status::BAD_ARGUMENT;
        }
        let pair = (key.to_ascii_lowercase(), value);
        self.check_header_values(map, std::slice::from_ref(&pair));
        let Some(target) = self.writable_map(map) else {
            return status::BAD_ARGUMENT;
        };
        target.push(pair);
        status::OK
    }

    /// `proxy_remove_header_map_value`: every value of the (case-insensitive) name.
    pub(crate) fn remove_header(&mut self, map: u32, key: &[u8]) -> u32 {
        if map > abi::MAP_MAX {
            return status::BAD_ARGUMENT;
        }
        let Some(target) = self.writable_map(map) else {
            return status::BAD_ARGUMENT;
        };
        target.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        status::OK
    }

    // --- buffers -----------------------------------------------------------------------------

    fn body(&self, buffer: u32) -> Option<&Vec<u8>> {
        let s = self.stream()?;
        match buffer {
            abi::BUFFER_REQUEST_BODY if s.request_body_open => Some(&s.request_body),
            abi::BUFFER_RESPONSE_BODY if s.response_body_open => Some(&s.response_body),
            _ => None,
        }
    }

    /// `proxy_get_buffer_bytes`: up to `max` bytes from `start`. `Ok(None)`: Envoy answers Ok
    /// without writing the out-pointers (nothing to copy).
    pub(crate) fn buffer_bytes(
        &self,
        buffer: u32,
        start: u32,
        max: u32,
    ) -> Result<Option<Vec<u8>>, u32> {
        if buffer > abi::BUFFER_MAX {
            return Err(status::BAD_ARGUMENT);
        }
        let data: &[u8] = match buffer {
            abi::BUFFER_PLUGIN_CONFIGURATION => {
                if !self.current.is_some_and(|c| c.configuring) {
                    return Err(status::NOT_FOUND);
                }
                &self.plugin_configuration
            }
            abi::BUFFER_VM_CONFIGURATION => &self.options.vm_configuration,
            abi::BUFFER_REQUEST_BODY | abi::BUFFER_RESPONSE_BODY => match self.body(buffer) {
                Some(b) => b,
                // Envoy wraps its null buffer pointer: size 0, nothing copied.
                None => &[],
            },
            _ => return Err(status::NOT_FOUND),
        };
        let start = start as usize;
        if start > data.len() {
            return Err(status::BAD_ARGUMENT);
        }
        let end = data.len().min(start.saturating_add(max as usize));
        if end == start {
            return Ok(None);
        }
        Ok(Some(data[start..end].to_vec()))
    }

    /// `proxy_set_buffer_bytes`, with Envoy's `Buffer::copyFrom` rules.
    pub(crate) fn set_buffer_bytes(
        &mut self,
        buffer: u32,
        start: u32,
        size: u32,
        data: &[u8],
    ) -> u32 {
        if buffer > abi::BUFFER_MAX {
            return status::BAD_ARGUMENT;
        }
        let open = self.body(buffer).is_some();
        let Some(s) = self.stream_mut() else {
            return status::NOT_FOUND;
        };
        let target = match buffer {
            abi::BUFFER_REQUEST_BODY if open => &mut s.request_body,
            abi::BUFFER_RESPONSE_BODY if open => &mut s.response_body,
            abi::BUFFER_REQUEST_BODY | abi::BUFFER_RESPONSE_BODY => return status::BAD_ARGUMENT,
            _ => return status::NOT_FOUND,
        };
        let (start, size) = (start as usize, size as usize);
        if start == 0 {
            target.drain(..size.min(target.len()));
            target.splice(0..0, data.iter().copied());
            status::OK
        } else if start >= target.len() {
            target.extend_from_slice(data);
            status::OK
        } else {
            status::BAD_ARGUMENT
        }
    }

    // --- properties --------------------------------------------------------------------------

    /// `proxy_get_property`: `metadata.filter_metadata.<ns>[.<key>...]` from the stream's
    /// dynamic metadata, anything else from the scripted properties.
    pub(crate) fn property(&mut self, path: &[String]) -> Result<Vec<u8>, u32> {
        let Some(s) = self.stream() else {
            return Err(status::NOT_FOUND);
        };
        match path {
            [m, f, ns, rest @ ..] if m == "metadata" && f == "filter_metadata" => {
                let mut value = s
                    .metadata
                    .iter()
                    .find(|(n, _)| n == ns)
                    .map(|(_, v)| v)
                    .ok_or(status::NOT_FOUND)?;
                for part in rest {
                    value = value.get(part).ok_or(status::NOT_FOUND)?;
                }
                value.serialize()
            }
            [m] | [m, _] if m == "metadata" => {
                let line = path.join(".");
                self.fail(format!(
                    "proxy_get_property({line}): the harness does not model reading the metadata message itself"
                ));
                Err(status::UNIMPLEMENTED)
            }
            _ => {
                let key = path.join("\0");
                s.properties
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone())
                    .ok_or(status::NOT_FOUND)
            }
        }
    }

    // --- local replies and stream control ----------------------------------------------------

    pub(crate) fn local_response(&mut self, reply: LocalReply) -> u32 {
        let callback = self.callback();
        match self.stream_mut() {
            Some(s) => {
                s.local_replies.push(reply);
                status::OK
            }
            None => {
                self.fail(format!(
                    "{callback} sent a local reply outside any HTTP stream"
                ));
                status::OK
            }
        }
    }

    pub(crate) fn close_stream(&mut self, stream_type: u32) -> u32 {
        if stream_type > 3 {
            return status::BAD_ARGUMENT;
        }
        if let Some(s) = self.stream_mut() {
            s.closed.push(abi::stream_name(stream_type));
        }
        status::OK
    }

    // --- metrics, logs, timers ---------------------------------------------------------------

    /// `proxy_define_metric`: ids carry the type in their low two bits, as Envoy's do.
    pub(crate) fn define_metric(&mut self, kind: u32, name: &str) -> Result<u32, u32> {
        let kind = MetricType::from_u32(kind).ok_or(status::BAD_ARGUMENT)?;
        let id = (self.next_metric << 2) | kind as u32;
        self.next_metric += 1;
        let metric = self.metrics.entry(name.to_owned()).or_insert(Metric {
            kind,
            value: 0,
            recorded: Vec::new(),
            definitions: 0,
        });
        metric.definitions += 1;
        let first = metric.kind;
        if first != kind {
            self.fail(format!(
                "metric {name} defined as {first:?} and as {kind:?}"
            ));
        }
        self.metric_ids.insert(id, name.to_owned());
        Ok(id)
    }

    pub(crate) fn metric_name(&self, id: u32) -> String {
        self.metric_ids
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }

    fn metric_by_id(&mut self, id: u32) -> Option<&mut Metric> {
        let name = self.metric_ids.get(&id)?;
        self.metrics.get_mut(name)
    }

    /// `proxy_increment_metric`: counters only go up (Envoy: `BadArgument` otherwise).
    pub(crate) fn increment_metric(&mut self, id: u32, offset: i64) -> u32 {
        let Some(m) = self.metric_by_id(id) else {
            return status::NOT_FOUND;
        };
        match m.kind {
            MetricType::Counter if offset > 0 => {
                m.value += offset;
                status::OK
            }
            MetricType::Gauge => {
                m.value += offset;
                status::OK
            }
            _ => status::BAD_ARGUMENT,
        }
    }

    /// `proxy_record_metric`: adds to a counter, sets a gauge, records a histogram sample.
    pub(crate) fn record_metric(&mut self, id: u32, value: u64) -> u32 {
        let Some(m) = self.metric_by_id(id) else {
            return status::NOT_FOUND;
        };
        m.recorded.push(value);
        match m.kind {
            MetricType::Counter => m.value += value as i64,
            MetricType::Gauge => m.value = value as i64,
            MetricType::Histogram => {}
        }
        status::OK
    }

    pub(crate) fn log(&mut self, level: u32, message: String) -> u32 {
        let Some(level) = LogLevel::from_u32(level) else {
            return status::BAD_ARGUMENT;
        };
        self.logs.push(LogLine { level, message });
        status::OK
    }

    pub(crate) fn set_tick_period(&mut self, ms: u32) -> u32 {
        self.tick_period_ms = Some(ms);
        status::OK
    }

    /// `random_get`: a fixed xorshift sequence, so runs are reproducible.
    pub(crate) fn random(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                self.rng as u8
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_callback(callback: &'static str) -> HostState {
        let mut h = HostState::new(VmOptions::default());
        h.streams.insert(2, StreamState::default());
        h.current = Some(Current {
            context_id: 2,
            callback,
            configuring: false,
        });
        h
    }

    #[test]
    fn set_buffer_bytes_follows_envoys_copy_from() {
        let mut h = in_callback("proxy_on_response_body");
        let s = h.streams.get_mut(&2).unwrap();
        s.response_body = b"hello world".to_vec();
        s.response_body_open = true;
        // start 0, size n: drain n, prepend.
        assert_eq!(h.set_buffer_bytes(1, 0, 5, b"HEY"), status::OK);
        assert_eq!(h.streams[&2].response_body, b"HEY world");
        // start 0, size 0: prepend.
        assert_eq!(h.set_buffer_bytes(1, 0, 0, b">"), status::OK);
        assert_eq!(h.streams[&2].response_body, b">HEY world");
        // start at or past the end: append.
        assert_eq!(h.set_buffer_bytes(1, 100, 0, b"!"), status::OK);
        assert_eq!(h.streams[&2].response_body, b">HEY world!");
        // In the middle: refused.
        assert_eq!(h.set_buffer_bytes(1, 3, 1, b"x"), status::BAD_ARGUMENT);
        // The request body is not open in a response callback.
        assert_eq!(h.set_buffer_bytes(0, 0, 0, b"x"), status::BAD_ARGUMENT);
        assert_eq!(h.buffer_bytes(0, 0, 10), Ok(None));
        assert_eq!(h.buffer_bytes(1, 5, 3).unwrap().unwrap(), b"wor");
        assert_eq!(h.buffer_bytes(1, 11, 3), Ok(None));
        assert_eq!(h.buffer_bytes(1, 12, 3), Err(status::BAD_ARGUMENT));
        assert_eq!(h.buffer_bytes(9, 0, 3), Err(status::BAD_ARGUMENT));
        assert_eq!(
            h.buffer_bytes(7, 0, 3),
            Err(status::NOT_FOUND),
            "config outside configure"
        );
    }

    #[test]
    fn header_maps_exist_only_in_their_phase() {
        let mut h = in_callback("proxy_on_response_headers");
        let s = h.streams.get_mut(&2).unwrap();
        s.request_headers = vec![(b":path".to_vec(), b"/".to_vec())];
        s.response_headers = vec![(b":status".to_vec(), b"200".to_vec())];
        s.response_headers_open = true;
        assert_eq!(
            h.header_pairs(0),
            Ok(Vec::new()),
            "closed maps read as empty"
        );
        assert_eq!(
            h.header_pairs(2),
            Ok(abi::encode_pairs(&[(":status", "200")]))
        );
        assert_eq!(h.remove_header(0, b":path"), status::BAD_ARGUMENT);
        assert_eq!(h.remove_header(2, b":STATUS"), status::OK);
        assert!(h.streams[&2].response_headers.is_empty());
        assert_eq!(h.header_pairs(8), Err(status::BAD_ARGUMENT));
    }

    #[test]
    fn properties_walk_the_metadata_like_envoy() {
        let mut h = in_callback("proxy_on_request_headers");
        h.streams.get_mut(&2).unwrap().metadata = vec![(
            "ns".into(),
            Value::object([("user", Value::from("a")), ("groups", Value::list(["g"]))]),
        )];
        let path = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            h.property(&path("metadata/filter_metadata/ns/user")),
            Ok(b"a".to_vec())
        );
        assert_eq!(
            h.property(&path("metadata/filter_metadata/ns/groups/0")),
            Ok(b"g".to_vec())
        );
        assert_eq!(
            h.property(&path("metadata/filter_metadata/ns/uid")),
            Err(status::NOT_FOUND)
        );
        assert_eq!(
            h.property(&path("metadata/filter_metadata/other")),
            Err(status::NOT_FOUND)
        );
        assert_eq!(h.property(&path("request/path")), Err(status::NOT_FOUND));
    }

    #[test]
    fn metrics_behave_like_envoys() {
        let mut h = in_callback("proxy_on_configure");
        let c = h.define_metric(0, "c").unwrap();
        let g = h.define_metric(1, "g").unwrap();
        assert_eq!((c & 3, g & 3), (0, 1), "the type is in the id's low bits");
        assert_eq!(h.increment_metric(c, 2), status::OK);
        assert_eq!(
            h.increment_metric(c, -1),
            status::BAD_ARGUMENT,
            "counters only grow"
        );
        assert_eq!(h.increment_metric(g, -3), status::OK);
        assert_eq!(h.record_metric(g, 7), status::OK);
        assert_eq!(h.increment_metric(999, 1), status::NOT_FOUND);
        assert_eq!(h.define_metric(3, "h"), Err(status::BAD_ARGUMENT));
        assert_eq!(h.metrics["c"].value, 2);
        assert_eq!(h.metrics["g"].value, 7);
    }
}
