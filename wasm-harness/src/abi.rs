//! The proxy-wasm ABI 0.2.1 as Envoy speaks it: status codes, enum values, the pairs wire
//! format, and the guest-memory moves every host call needs (read an argument, write an
//! out-pointer, hand the guest memory allocated through its own `proxy_on_memory_allocate`).
//!
//! Written from the proxy-wasm spec and Envoy's host (proxy-wasm-cpp-host `exports.cc`, Envoy
//! `extensions/common/wasm/context.cc`); nothing here comes from the filter crate.

use wasmtime::{AsContextMut, Caller, Memory, TypedFunc};

/// `WasmResult`, the status every `proxy_*` host call returns.
pub mod status {
    pub const OK: u32 = 0;
    pub const NOT_FOUND: u32 = 1;
    pub const BAD_ARGUMENT: u32 = 2;
    pub const SERIALIZATION_FAILURE: u32 = 3;
    pub const PARSE_FAILURE: u32 = 4;
    pub const BAD_EXPRESSION: u32 = 5;
    pub const INVALID_MEMORY_ACCESS: u32 = 6;
    pub const EMPTY: u32 = 7;
    pub const CAS_MISMATCH: u32 = 8;
    pub const RESULT_MISMATCH: u32 = 9;
    pub const INTERNAL_FAILURE: u32 = 10;
    pub const BROKEN_CONNECTION: u32 = 11;
    pub const UNIMPLEMENTED: u32 = 12;

    /// The spec's name of a status, for transcripts and failure messages.
    pub fn name(status: u32) -> &'static str {
        match status {
            OK => "Ok",
            NOT_FOUND => "NotFound",
            BAD_ARGUMENT => "BadArgument",
            SERIALIZATION_FAILURE => "SerializationFailure",
            PARSE_FAILURE => "ParseFailure",
            BAD_EXPRESSION => "BadExpression",
            INVALID_MEMORY_ACCESS => "InvalidMemoryAccess",
            EMPTY => "Empty",
            CAS_MISMATCH => "CasMismatch",
            RESULT_MISMATCH => "ResultMismatch",
            INTERNAL_FAILURE => "InternalFailure",
            BROKEN_CONNECTION => "BrokenConnection",
            UNIMPLEMENTED => "Unimplemented",
            _ => "Unknown",
        }
    }

    /// Every status a host may answer; the robustness tests loop over these.
    pub const ALL: [u32; 13] = [
        OK,
        NOT_FOUND,
        BAD_ARGUMENT,
        SERIALIZATION_FAILURE,
        PARSE_FAILURE,
        BAD_EXPRESSION,
        INVALID_MEMORY_ACCESS,
        EMPTY,
        CAS_MISMATCH,
        RESULT_MISMATCH,
        INTERNAL_FAILURE,
        BROKEN_CONNECTION,
        UNIMPLEMENTED,
    ];
}

/// WASI errno values the few `wasi_snapshot_preview1` functions answer with.
pub mod errno {
    pub const SUCCESS: u32 = 0;
    pub const BADF: u32 = 8;
    pub const FAULT: u32 = 21;
    pub const NOSYS: u32 = 52;
}

/// `proxy_*` map types (`WasmHeaderMapType`).
pub fn map_name(map: u32) -> &'static str {
    match map {
        0 => "request_headers",
        1 => "request_trailers",
        2 => "response_headers",
        3 => "response_trailers",
        4 => "grpc_receive_initial_metadata",
        5 => "grpc_receive_trailing_metadata",
        6 => "http_call_response_headers",
        7 => "http_call_response_trailers",
        _ => "invalid_map",
    }
}
pub const MAP_REQUEST_HEADERS: u32 = 0;
pub const MAP_RESPONSE_HEADERS: u32 = 2;
pub const MAP_MAX: u32 = 7;

/// `WasmBufferType`.
pub fn buffer_name(buffer: u32) -> &'static str {
    match buffer {
        0 => "request_body",
        1 => "response_body",
        2 => "downstream_data",
        3 => "upstream_data",
        4 => "http_call_response_body",
        5 => "grpc_receive_buffer",
        6 => "vm_configuration",
        7 => "plugin_configuration",
        8 => "call_data",
        _ => "invalid_buffer",
    }
}
pub const BUFFER_REQUEST_BODY: u32 = 0;
pub const BUFFER_RESPONSE_BODY: u32 = 1;
pub const BUFFER_VM_CONFIGURATION: u32 = 6;
pub const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
pub const BUFFER_MAX: u32 = 8;

/// `WasmStreamType` (`proxy_close_stream`, `proxy_continue_stream`).
pub fn stream_name(stream: u32) -> &'static str {
    match stream {
        0 => "request",
        1 => "response",
        2 => "downstream",
        3 => "upstream",
        _ => "invalid_stream",
    }
}

/// `MetricType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

impl MetricType {
    pub fn from_u32(t: u32) -> Option<Self> {
        match t {
            0 => Some(MetricType::Counter),
            1 => Some(MetricType::Gauge),
            2 => Some(MetricType::Histogram),
            _ => None,
        }
    }
}

/// Envoy's log levels as `proxy_log` / `proxy_get_log_level` number them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

impl LogLevel {
    pub fn from_u32(level: u32) -> Option<Self> {
        Some(match level {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }
}

/// What a stream callback returned. The SDKs' `Action` is `Continue = 0`, `Pause = 1`; Envoy
/// reads the number per callback: headers 1 = StopIteration (turned into
/// StopAllIterationAndWatermark under ABI 0.2.x), body 1 = StopIterationAndBuffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
    Other(u32),
}

impl From<u32> for Action {
    fn from(v: u32) -> Self {
        match v {
            0 => Action::Continue,
            1 => Action::Pause,
            n => Action::Other(n),
        }
    }
}

/// Encode pairs the way Envoy marshals them: `u32 count`, `count` × (`u32 key_len`,
/// `u32 value_len`), then each key and value followed by a NUL byte; little-endian.
pub fn encode_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// Decoded pairs, in order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Decode a pairs buffer the module handed to the host. Stricter than Envoy (which trusts the
/// sizes): a malformed buffer is reported, since Envoy would read past it or drop headers.
pub fn decode_pairs(buf: &[u8]) -> Result<Pairs, String> {
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let word = |at: usize| -> Result<usize, String> {
        buf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| format!("pairs buffer truncated at byte {at}"))
    };
    let count = word(0)?;
    let mut sizes = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        sizes.push((word(4 + 8 * i)?, word(8 + 8 * i)?));
    }
    let mut at = 4 + 8 * count;
    let mut take = |len: usize| -> Result<Vec<u8>, String> {
        let item = buf
            .get(at..at + len)
            .ok_or_else(|| format!("pairs buffer truncated at byte {at}"))?
            .to_vec();
        if buf.get(at + len) != Some(&0) {
            return Err(format!("pairs entry at byte {at} lacks its NUL terminator"));
        }
        at += len + 1;
        Ok(item)
    };
    let mut out = Vec::with_capacity(sizes.len());
    for (k, v) in sizes {
        let key = take(k)?;
        let value = take(v)?;
        out.push((key, value));
    }
    if at != buf.len() {
        return Err(format!(
            "{} trailing bytes after the pairs",
            buf.len().saturating_sub(at)
        ));
    }
    Ok(out)
}

/// Guest memory access from inside a host function.
pub struct Guest<'a, 'c, T: 'static> {
    pub caller: &'a mut Caller<'c, T>,
    pub memory: Memory,
    pub allocate: Option<TypedFunc<u32, u32>>,
}

impl<T: 'static> Guest<'_, '_, T> {
    /// Bytes the module passed in; `None` is Envoy's `InvalidMemoryAccess`.
    pub fn read(&mut self, ptr: u32, len: u32) -> Option<Vec<u8>> {
        let data = self.memory.data(&self.caller);
        let start = ptr as usize;
        data.get(start..start.checked_add(len as usize)?)
            .map(<[u8]>::to_vec)
    }

    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> bool {
        let data = self.memory.data_mut(self.caller.as_context_mut());
        let start = ptr as usize;
        match start
            .checked_add(bytes.len())
            .and_then(|end| data.get_mut(start..end))
        {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    pub fn write_u32(&mut self, ptr: u32, value: u32) -> bool {
        self.write(ptr, &value.to_le_bytes())
    }

    /// Envoy's `copyToPointerSize`: memory from `proxy_on_memory_allocate` for non-empty data,
    /// then pointer and size into the out-pointers (0 and 0 for empty data). `Ok(false)` is
    /// `InvalidMemoryAccess`; `Err` is a trap inside the allocator, which ends the VM call.
    pub fn copy_out(
        &mut self,
        bytes: &[u8],
        ptr_ptr: u32,
        size_ptr: u32,
    ) -> wasmtime::Result<bool> {
        let mut pointer = 0;
        if !bytes.is_empty() {
            let Some(allocate) = self.allocate.clone() else {
                wasmtime::bail!("the module exports no proxy_on_memory_allocate");
            };
            pointer = allocate.call(&mut *self.caller, bytes.len() as u32)?;
            if pointer == 0 || !self.write(pointer, bytes) {
                return Ok(false);
            }
        }
        Ok(self.write_u32(ptr_ptr, pointer) && self.write_u32(size_ptr, bytes.len() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_in_the_documented_layout() {
        let enc = encode_pairs(&[("a", ""), ("b", "")]);
        assert_eq!(
            enc,
            [2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'a', 0, 0, b'b', 0, 0]
        );
        let dec = decode_pairs(&enc).unwrap();
        assert_eq!(dec, vec![(b"a".to_vec(), vec![]), (b"b".to_vec(), vec![])]);
        assert!(decode_pairs(&enc[..enc.len() - 1]).is_err());
        assert!(decode_pairs(&[1, 0, 0, 0]).is_err());
        assert_eq!(encode_pairs::<&str, &str>(&[]), Vec::<u8>::new());
    }
}
