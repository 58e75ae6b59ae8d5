//! The host-call floor (see Cargo.toml): per stream, what activity-events-filter asks of Envoy
//! in standard-paths mode, and nothing it decides.
//! - every request: the request header map is read once;
//! - an event request (`/events` in the path): the identity metadata namespace is read, one
//!   counter incremented, and the header map written back once with the route header and
//!   identity headers added (content-length dropped for a write, whose body is rewritten);
//! - an event write: the body is held until complete, read once, counted, and written back
//!   with as many bytes more as the scope annotations take.
#![allow(clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::ptr::null_mut;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_set_header_map_pairs(map: u32, data: *const u8, size: usize) -> u32;
    fn proxy_get_buffer_bytes(
        buffer: u32,
        start: usize,
        max: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32;
    fn proxy_get_property(path: *const u8, len: usize, data: *mut *mut u8, size: *mut usize)
        -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, len: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    // SAFETY: the reactor's constructors, once, first.
    unsafe {
        __wasm_call_ctors()
    };
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut v: Vec<MaybeUninit<u8>> = Vec::with_capacity(size);
    // SAFETY: MaybeUninit needs no initialisation.
    unsafe { v.set_len(size) };
    Box::into_raw(v.into_boxed_slice()).cast()
}

unsafe fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        // SAFETY: allocated by proxy_on_memory_allocate with exactly this size.
        unsafe { Vec::from_raw_parts(data, size, size) }
    }
}

#[derive(Default)]
struct State {
    counter: u32,
    /// Streams whose body is rewritten.
    writes: HashMap<u32, ()>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_: u32, _: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_: u32, _: usize) -> u32 {
    let name = b"floor.requests";
    let mut id = 0;
    // SAFETY: live slice and local out-pointer.
    unsafe { proxy_define_metric(0, name.as_ptr(), name.len(), &mut id) };
    STATE.with(|s| s.borrow_mut().counter = id);
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_: u32, _: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_delete(id: u32) {
    STATE.with(|s| s.borrow_mut().writes.remove(&id));
}

fn count() {
    let id = STATE.with(|s| s.borrow().counter);
    // SAFETY: plain integers.
    unsafe { proxy_increment_metric(id, 1) };
}

fn pairs(buf: &[u8]) -> Vec<(&[u8], &[u8])> {
    let n = buf.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let mut lens = Vec::with_capacity(n);
    for i in 0..n {
        let at = 4 + i * 8;
        let get = |o: usize| {
            buf.get(at + o..at + o + 4)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        lens.push((get(0), get(4)));
    }
    let mut pos = 4 + n * 8;
    let mut out = Vec::with_capacity(n);
    for (k, v) in lens {
        let key = buf.get(pos..pos + k).unwrap_or_default();
        pos += k + 1;
        let value = buf.get(pos..pos + v).unwrap_or_default();
        pos += v + 1;
        out.push((key, value));
    }
    out
}

fn encode(list: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(list.len() as u32).to_le_bytes());
    for (k, v) in list {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in list {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// The identity headers the filter forwards for the benchmark's user.
const IDENTITY: [(&[u8], &[u8]); 8] = [
    (b"x-activity-events-route", b"request"),
    (b"x-remote-user", b"alice@acme.example"),
    (b"x-remote-uid", b"uid-alice"),
    (b"x-remote-group", b"system:authenticated"),
    (b"x-remote-group", b"acme-members"),
    (b"x-remote-extra-iam.miloapis.com%2fparent-type", b"Organization"),
    (b"x-remote-extra-iam.miloapis.com%2fparent-name", b"acme"),
    (b"x-remote-extra-iam.miloapis.com%2fparent-api-group", b"resourcemanager.miloapis.com"),
];

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(id: u32, _: usize, _: u32) -> u32 {
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: local out-pointers; the buffer is ours afterwards.
    let raw = unsafe {
        proxy_get_header_map_pairs(0, &mut data, &mut size);
        owned(data, size)
    };
    let headers = pairs(&raw);
    let find = |n: &[u8]| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
    let path = find(b":path").unwrap_or_default();
    if !path.windows(7).any(|w| w == b"/events") {
        return 0;
    }
    let write = find(b":method") != Some(b"GET");
    let prop = b"metadata\0filter_metadata\0envoy.filters.http.ext_authz";
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: as above.
    let _namespace = unsafe {
        proxy_get_property(prop.as_ptr(), prop.len(), &mut data, &mut size);
        owned(data, size)
    };
    count();
    let mut out: Vec<(&[u8], &[u8])> = headers
        .iter()
        .filter(|(k, _)| !(write && *k == b"content-length"))
        .copied()
        .collect();
    out.extend_from_slice(&IDENTITY);
    let buf = encode(&out);
    // SAFETY: live slice.
    unsafe { proxy_set_header_map_pairs(0, buf.as_ptr(), buf.len()) };
    if write {
        STATE.with(|s| s.borrow_mut().writes.insert(id, ()));
    }
    0
}

/// What the scope annotations add to a create body that has `metadata` but no annotations.
const SCOPE: &[u8] = br#""annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme"},"#;

#[no_mangle]
pub extern "C" fn proxy_on_request_body(id: u32, size: usize, end: u32) -> u32 {
    if !STATE.with(|s| s.borrow().writes.contains_key(&id)) {
        return 0;
    }
    if end == 0 {
        return 1;
    }
    let (mut data, mut got) = (null_mut(), 0);
    // SAFETY: as above.
    let body = unsafe {
        proxy_get_buffer_bytes(0, 0, size, &mut data, &mut got);
        owned(data, got)
    };
    count();
    let at = body.iter().position(|b| *b == b'{').map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(body.len() + SCOPE.len());
    out.extend_from_slice(body.get(..at).unwrap_or_default());
    out.extend_from_slice(SCOPE);
    out.extend_from_slice(body.get(at..).unwrap_or_default());
    // SAFETY: live slice.
    unsafe { proxy_set_buffer_bytes(0, 0, size, out.as_ptr(), out.len()) };
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(_: u32, _: usize) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(_: u32, _: usize, _: u32) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(_: u32, _: usize, _: u32) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(_: u32, _: usize) -> u32 {
    0
}
