//! The few proxy-wasm host calls the filter makes, without panics.
//!
//! The SDK's `hostcalls` wrappers `panic!` on any status they do not expect (for example when a
//! header map is written outside its phase), and a panic aborts the whole VM of the worker. These
//! wrappers return the raw status instead, and decode pairs with the filter's own checked decoder.
#![allow(clashing_extern_declarations)] // same imports as the SDK, with plain integer types

use std::ptr::{null, null_mut};

/// A non-Ok proxy-wasm status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum MapType {
    RequestHeaders = 0,
    ResponseHeaders = 2,
}

#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum BufferType {
    RequestBody = 0,
    ResponseBody = 1,
    PluginConfiguration = 7,
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_set_header_map_pairs(map_type: u32, data: *const u8, size: usize) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name: *const u8,
        name_size: usize,
        id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_get_log_level(level: *mut u32) -> u32;
    fn proxy_log(level: u32, message: *const u8, message_size: usize) -> u32;
    fn proxy_close_stream(stream_type: u32) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
}

/// Take ownership of a buffer the host allocated through `proxy_on_memory_allocate`.
///
/// # Safety
/// `data`/`size` must come from a successful host call that returned freshly allocated memory.
unsafe fn owned(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        None
    } else {
        // SAFETY: the SDK's allocator hands out exactly `size` bytes as a boxed slice.
        Some(unsafe { Vec::from_raw_parts(data, size, size) })
    }
}

fn check(status: u32) -> Result<(), HostError> {
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// The whole header map as one pairs buffer.
pub fn get_header_pairs(map: MapType) -> Result<Vec<u8>, HostError> {
    let mut data = null_mut();
    let mut size = 0;
    // SAFETY: out-pointers are valid locals; the returned buffer is host-allocated for us.
    let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    check(status)?;
    // SAFETY: returned by a successful call.
    Ok(unsafe { owned(data, size) }.unwrap_or_default())
}

/// Replace the whole header map in one call.
pub fn set_header_pairs(map: MapType, pairs: &[u8]) -> Result<(), HostError> {
    // SAFETY: pointer and length describe a live slice.
    check(unsafe { proxy_set_header_map_pairs(map as u32, pairs.as_ptr(), pairs.len()) })
}

pub fn remove_header(map: MapType, name: &[u8]) -> Result<(), HostError> {
    // SAFETY: pointer and length describe a live slice.
    check(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

/// Add one value (another header of the same name stays).
pub fn add_header(map: MapType, name: &[u8], value: &[u8]) -> Result<(), HostError> {
    // SAFETY: pointers and lengths describe live slices.
    check(unsafe {
        proxy_add_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

pub fn get_buffer(buffer: BufferType, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
    let mut data = null_mut();
    let mut size = 0;
    // SAFETY: out-pointers are valid locals.
    let status = unsafe { proxy_get_buffer_bytes(buffer as u32, start, max, &mut data, &mut size) };
    if status == NOT_FOUND {
        return Ok(Vec::new());
    }
    check(status)?;
    // SAFETY: returned by a successful call.
    Ok(unsafe { owned(data, size) }.unwrap_or_default())
}

/// Replace `size` bytes at `start` with `value` (start 0, size = whole length: replace all).
pub fn set_buffer(
    buffer: BufferType,
    start: usize,
    size: usize,
    value: &[u8],
) -> Result<(), HostError> {
    // SAFETY: pointer and length describe a live slice.
    check(unsafe {
        proxy_set_buffer_bytes(buffer as u32, start, size, value.as_ptr(), value.len())
    })
}

/// A property such as `["metadata", "filter_metadata", ns]`; `Ok(None)` when absent.
pub fn get_property(path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
    let mut serialized = Vec::with_capacity(path.iter().map(|p| p.len() + 1).sum());
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            serialized.push(0);
        }
        serialized.extend_from_slice(part.as_bytes());
    }
    let mut data = null_mut();
    let mut size = 0;
    // SAFETY: pointer and length describe a live slice; out-pointers are valid locals.
    let status =
        unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) };
    if status == NOT_FOUND {
        return Ok(None);
    }
    check(status)?;
    // SAFETY: returned by a successful call.
    Ok(unsafe { owned(data, size) })
}

/// A local reply; Envoy sends it after the current callback returns.
pub fn send_local_response(
    code: u32,
    details: &str,
    headers: &[u8],
    body: &[u8],
) -> Result<(), HostError> {
    // SAFETY: every pointer/length pair describes a live slice.
    check(unsafe {
        proxy_send_local_response(
            code,
            details.as_ptr(),
            details.len(),
            if body.is_empty() {
                null()
            } else {
                body.as_ptr()
            },
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

pub fn define_counter(name: &str) -> Result<u32, HostError> {
    let mut id = 0;
    // SAFETY: pointer and length describe a live slice; out-pointer is a valid local.
    check(unsafe { proxy_define_metric(0, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn define_gauge(name: &str) -> Result<u32, HostError> {
    let mut id = 0;
    // SAFETY: pointer and length describe a live slice; out-pointer is a valid local.
    check(unsafe { proxy_define_metric(1, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn record(id: u32, value: u64) {
    // SAFETY: plain integer arguments.
    let _ = unsafe { proxy_record_metric(id, value) };
}

pub fn set_tick_period_ms(period: u32) {
    // SAFETY: plain integer argument.
    let _ = unsafe { proxy_set_tick_period_milliseconds(period) };
}

pub fn increment(id: u32) {
    // A failed counter update is not worth failing a request over.
    // SAFETY: plain integer arguments.
    let _ = unsafe { proxy_increment_metric(id, 1) };
}

/// Reset the response stream (the client sees the stream end with an error).
pub fn reset_response() {
    // StreamType::HttpResponse. Nothing more can be done if the host refuses.
    // SAFETY: plain integer argument.
    let _ = unsafe { proxy_close_stream(1) };
}

/// proxy-wasm's critical log level.
pub const LOG_CRITICAL: u32 = 5;

/// One line in Envoy's log at `level` (0 trace … 5 critical); nothing else to do if refused.
pub fn log(level: u32, message: &str) {
    // SAFETY: pointer and length describe a live slice.
    let _ = unsafe { proxy_log(level, message.as_ptr(), message.len()) };
}

/// The host's log level for this plugin (0 trace … 5 critical).
pub fn log_level() -> Option<u32> {
    let mut level = 0;
    // SAFETY: out-pointer is a valid local.
    (unsafe { proxy_get_log_level(&mut level) } == OK).then_some(level)
}
