//! The proxy-wasm entry points this filter uses, and nothing else.
//!
//! The SDK's dispatcher exports every callback of the ABI, so Envoy calls `proxy_on_log` and
//! `proxy_on_done` on every stream (and would call the trailers and metadata ones) just to get
//! the default answer back; it also finds each context through a SipHash map. Envoy skips a
//! callback the module does not export, with the same result as the default answer: a stream
//! without `proxy_on_done` is done at once, one without `proxy_on_log` logs nothing. So the
//! filter exports only the callbacks it acts on, and finds its contexts by id with a plain
//! multiplicative hash.
//!
//! No callback ever panics here: a context the host never created is answered fail-closed (a
//! request gets a 500 Status from a filter without configuration; other phases are left
//! alone because nothing was planned for them).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::MaybeUninit;

use super::filter::EventsFilter;
use super::root::Root;

/// What a stream callback tells the host (`proxy_wasm::types::Action` of ABI 0.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Action {
    Continue = 0,
    Pause = 1,
}

/// Context ids are small, unique integers handed out by the host: one multiply spreads them.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type ById<T> = HashMap<u32, T, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct Contexts {
    roots: ById<Root>,
    streams: ById<EventsFilter>,
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> = RefCell::new(Contexts::default());
}

/// Run `f` on the context table. The host never re-enters the module during a callback (only
/// `proxy_on_memory_allocate`, which does not touch it), so the table is never borrowed twice;
/// if it were, the callback gets `None` instead of a panic.
fn with_contexts<R>(f: impl FnOnce(Option<&mut Contexts>) -> R) -> R {
    CONTEXTS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut contexts) => f(Some(&mut contexts)),
        Err(_) => f(None),
    })
}

/// Run `f` on stream `id`; `missing` when the host names a stream it never created.
fn with_stream<R>(id: u32, missing: R, f: impl FnOnce(&mut EventsFilter) -> R) -> R {
    with_contexts(
        |contexts| match contexts.and_then(|c| c.streams.get_mut(&id)) {
            Some(stream) => f(stream),
            None => missing,
        },
    )
}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// Called once by the host before anything else (the WASI reactor entry point).
#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    // SAFETY: the reactor's static constructors, run once before any other export, as the
    // WASI reactor model requires.
    unsafe {
        __wasm_call_ctors();
    }
    super::logger::install();
}

/// Tells the host which ABI the module speaks.
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Memory the host fills for the module (header maps, bodies, properties). Handed back to Rust
/// by `abi::owned` as a `Vec` of exactly this length and capacity.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut memory: Vec<MaybeUninit<u8>> = Vec::with_capacity(size);
    // SAFETY: MaybeUninit needs no initialisation; the host writes all `size` bytes.
    unsafe { memory.set_len(size) };
    Box::into_raw(memory.into_boxed_slice()).cast::<u8>()
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_configuration_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(id: u32, root_id: u32) {
    with_contexts(|contexts| {
        let Some(contexts) = contexts else { return };
        if root_id == 0 {
            contexts.roots.insert(id, Root::default());
        } else {
            // A stream of an unknown or unconfigured plugin fails closed on its first request.
            let shared = contexts.roots.get(&root_id).and_then(Root::shared);
            contexts.streams.insert(id, EventsFilter::new(shared));
        }
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root_id: u32, configuration_size: usize) -> u32 {
    with_contexts(|contexts| {
        contexts
            .and_then(|c| c.roots.get_mut(&root_id))
            .is_some_and(|root| root.on_configure(configuration_size))
    })
    .into()
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root_id: u32) {
    with_contexts(|contexts| {
        if let Some(root) = contexts.and_then(|c| c.roots.get(&root_id)) {
            root.on_tick();
        }
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(id: u32) {
    with_contexts(|contexts| {
        if let Some(contexts) = contexts {
            if contexts.streams.remove(&id).is_none() {
                contexts.roots.remove(&id);
            }
        }
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(id: u32, _headers: usize, end_of_stream: u32) -> Action {
    let end = end_of_stream != 0;
    let known = with_stream(id, None, |s| Some(s.on_request_headers(end)));
    // Never created by the host: refused by a filter that has no configuration.
    known.unwrap_or_else(|| EventsFilter::new(None).on_request_headers(end))
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(id: u32, size: usize, end_of_stream: u32) -> Action {
    with_stream(id, Action::Continue, |s| {
        s.on_request_body(size, end_of_stream != 0)
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(id: u32, _trailers: usize) -> Action {
    with_stream(id, Action::Continue, EventsFilter::on_request_trailers)
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(
    id: u32,
    _headers: usize,
    end_of_stream: u32,
) -> Action {
    with_stream(id, Action::Continue, |s| {
        s.on_response_headers(end_of_stream != 0)
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(id: u32, size: usize, end_of_stream: u32) -> Action {
    with_stream(id, Action::Continue, |s| {
        s.on_response_body(size, end_of_stream != 0)
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(id: u32, _trailers: usize) -> Action {
    with_stream(id, Action::Continue, EventsFilter::on_response_trailers)
}
