//! The exports driver: loads a module, and calls its `proxy_on_*` exports in the order and
//! with the arguments Envoy 1.40 uses (proxy-wasm-cpp-host `context.cc`, Envoy
//! `extensions/common/wasm/context.cc` and the HTTP connection manager):
//!
//! - VM start: `_initialize` (or `_start`), `main` if exported; root context
//!   `proxy_on_context_create(1, 0)`, `proxy_on_vm_start(1, vm_config_size)`;
//!   `proxy_on_configure(1, plugin_config_size)`; `proxy_on_tick(1)` once a period is set.
//! - Each stream: `proxy_on_context_create(id, 1)`, `proxy_on_request_headers(id, n, eos)`,
//!   `proxy_on_request_body(id, buffered_size, eos)`, `proxy_on_request_trailers(id, n)`,
//!   `proxy_on_response_headers/body/trailers`, and at the end `proxy_on_log(id)` (access log),
//!   then `proxy_on_done(id)` and `proxy_on_delete(id)` (filter destroyed).
//! - A local reply is sent after the callback that asked for it returns, and goes through the
//!   filter's own response callbacks like every Envoy local reply; the request goes no further.
//! - A body callback answering Pause (StopIterationAndBuffer) makes Envoy buffer: the next call
//!   sees the whole buffer. A headers callback answering Pause without a local reply stops all
//!   iteration: nothing more of that direction reaches the filter (the stream stalls).
//!
//! Only exported callbacks are called, as Envoy does. A trap, or a host call the filter must
//! not make, is a [`VmFailure`]; the plain methods turn it into a test failure (panic) with the
//! transcript, the `try_` methods return it.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::SystemTime;

use wasmtime::{
    Config, Engine, Instance, InstancePre, Linker, Module, Store, TypedFunc, WasmParams,
    WasmResults,
};

use crate::abi::{Action, LogLevel};
use crate::host::{
    normalize, Current, Event, Fault, HeaderMap, HostCall, HostState, LocalReply, LogLine, Metric,
    StreamState, VmOptions,
};
use crate::value::Value;

/// The root context id Envoy gives the first plugin of a VM.
const ROOT_ID: u32 = 1;

/// The command that builds the filter's `.wasm`.
pub const BUILD_COMMAND: &str =
    "cargo build --release --target wasm32-wasip1 -p activity-events-filter";

/// A compiled module, ready to be instantiated many times.
pub struct Wasm {
    engine: Engine,
    pre: InstancePre<HostState>,
    label: String,
}

impl Wasm {
    /// The real filter, `target/wasm32-wasip1/release/activity_events_filter.wasm` (or
    /// `$ACTIVITY_WASM`), compiled once per test binary. Panics with the build command when it
    /// is missing or older than the filter's sources.
    pub fn filter() -> &'static Wasm {
        static FILTER: OnceLock<Result<Wasm, String>> = OnceLock::new();
        match FILTER.get_or_init(|| {
            let path = filter_path()?;
            Wasm::from_file(&path).map_err(|e| format!("cannot load {}: {e:#}", path.display()))
        }) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        }
    }

    /// A built module, its machine code cached next to it (compiling the filter with a debug
    /// build of Cranelift takes seconds; every test binary and run would pay it again).
    pub fn from_file(path: &Path) -> wasmtime::Result<Wasm> {
        let bytes = std::fs::read(path)?;
        let engine = engine()?;
        let cache = path.with_extension(format!("{:016x}.cwasm", cache_key(&engine, &bytes)));
        // SAFETY: the file is one this harness wrote (below) for these very bytes and this
        // engine configuration; wasmtime checks its header, version and configuration.
        let cached = unsafe { Module::deserialize_file(&engine, &cache) };
        let module = match cached {
            Ok(m) => m,
            Err(_) => {
                let m = Module::new(&engine, &bytes)?;
                // Written aside and renamed, so no reader ever sees half a file.
                let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
                if std::fs::write(&tmp, m.serialize()?).is_ok() {
                    remove_old_caches(path);
                    let _ = std::fs::rename(&tmp, &cache);
                }
                m
            }
        };
        Wasm::from_module(&path.display().to_string(), engine, module)
    }

    /// A module from binary or text (`.wat`) bytes.
    pub fn from_bytes(label: &str, bytes: &[u8]) -> wasmtime::Result<Wasm> {
        let engine = engine()?;
        let module = Module::new(&engine, bytes)?;
        Wasm::from_module(label, engine, module)
    }

    fn from_module(label: &str, engine: Engine, module: Module) -> wasmtime::Result<Wasm> {
        let mut linker = Linker::new(&engine);
        crate::imports::link(&mut linker, &module)?;
        let pre = linker.instantiate_pre(&module)?;
        Ok(Wasm {
            engine,
            pre,
            label: label.to_owned(),
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

fn engine() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    // Fuel turns a callback that never returns into a trap instead of a hung test.
    config.consume_fuel(true);
    Engine::new(&config)
}

/// Caches of earlier builds of the same file (`<stem>.<key>.cwasm`).
fn remove_old_caches(path: &Path) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else {
        return;
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!("{stem}.")) && name.ends_with(".cwasm") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn cache_key(engine: &Engine, bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    bytes.hash(&mut h);
    h.finish()
}

/// Where the built filter is, refusing a missing or stale one.
fn filter_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ACTIVITY_WASM") {
        return Ok(PathBuf::from(p));
    }
    // The workspace root is this crate's parent.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let wasm = target.join("wasm32-wasip1/release/activity_events_filter.wasm");
    let built = std::fs::metadata(&wasm)
        .and_then(|m| m.modified())
        .map_err(|_| {
            format!(
                "the filter is not built: {} is missing.\nBuild it first: {BUILD_COMMAND}\n(scripts/test.sh does this before cargo test)",
                wasm.display()
            )
        })?;
    if let Some((newest, source)) = newest_source(&root.join("src")) {
        if newest > built {
            return Err(format!(
                "the filter's .wasm is stale: {} changed after {} was built.\nRebuild it: {BUILD_COMMAND}\n(or set ACTIVITY_WASM to test another build)",
                source.display(),
                wasm.display()
            ));
        }
    }
    Ok(wasm)
}

fn newest_source(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_source(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, path))
        };
        if let Some(c) = candidate {
            if newest.as_ref().is_none_or(|(t, _)| c.0 > *t) {
                newest = Some(c);
            }
        }
    }
    newest
}

/// Why a VM call did not complete as a test expects.
#[derive(Debug, Clone)]
pub enum VmFailure {
    /// The module could not be instantiated or lacks the ABI.
    Load(String),
    /// The module trapped (Envoy then fails the VM: every later request on the worker is
    /// refused, fail-closed, until the VM is reloaded).
    Trap {
        callback: String,
        message: String,
        context: String,
    },
    /// Host calls the filter must not make, or malformed ones.
    HostCalls {
        callback: String,
        failures: Vec<String>,
        context: String,
    },
    /// The VM trapped earlier; Envoy calls nothing more in it.
    Failed(String),
    /// `proxy_on_vm_start` answered false: Envoy refuses the VM.
    VmStartRefused,
    /// The test drove the stream in a way Envoy never would.
    Misuse(String),
}

impl fmt::Display for VmFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmFailure::Load(e) => write!(f, "the module could not be loaded: {e}"),
            VmFailure::Trap {
                callback,
                message,
                context,
            } => write!(
                f,
                "the VM trapped in {callback}: {message}\n\
                 Envoy would fail this VM: the stream and every later request on the worker \
                 get refused until the VM is reloaded.\n{context}"
            ),
            VmFailure::HostCalls {
                callback,
                failures,
                context,
            } => write!(
                f,
                "{callback} made host calls a test must not accept (forbidden imports, \
                 malformed or unsafe arguments):\n  - {}\n{context}",
                failures.join("\n  - ")
            ),
            VmFailure::Failed(first) => write!(f, "the VM already failed: {first}"),
            VmFailure::VmStartRefused => f.write_str("proxy_on_vm_start answered false"),
            VmFailure::Misuse(m) => write!(f, "test misuse: {m}"),
        }
    }
}

impl VmFailure {
    pub fn is_trap(&self) -> bool {
        matches!(self, VmFailure::Trap { .. })
    }
}

fn lines(calls: &[HostCall]) -> Vec<String> {
    calls.iter().map(ToString::to_string).collect()
}

fn ok<T>(r: Result<T, VmFailure>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Callback results as the transcript shows them.
trait Shown {
    fn shown(&self) -> Option<u32>;
}
impl Shown for () {
    fn shown(&self) -> Option<u32> {
        None
    }
}
impl Shown for u32 {
    fn shown(&self) -> Option<u32> {
        Some(*self)
    }
}

type F1 = TypedFunc<u32, ()>;
type F1R = TypedFunc<u32, u32>;
type F2 = TypedFunc<(u32, u32), ()>;
type F2R = TypedFunc<(u32, u32), u32>;
type F3R = TypedFunc<(u32, u32, u32), u32>;

/// The callbacks the module exports (a build may export fewer; missing ones are not called).
#[derive(Clone)]
struct Exports {
    initialize: Option<TypedFunc<(), ()>>,
    start: Option<TypedFunc<(), ()>>,
    main: Option<F2R>,
    on_vm_start: Option<F2R>,
    on_context_create: Option<F2>,
    on_configure: Option<F2R>,
    on_request_headers: Option<F3R>,
    on_request_body: Option<F3R>,
    on_request_trailers: Option<F2R>,
    on_response_headers: Option<F3R>,
    on_response_body: Option<F3R>,
    on_response_trailers: Option<F2R>,
    on_tick: Option<F1>,
    on_done: Option<F1R>,
    on_log: Option<F1>,
    on_delete: Option<F1>,
}

fn export<P: WasmParams, R: WasmResults>(
    instance: &Instance,
    store: &mut Store<HostState>,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, VmFailure> {
    if instance.get_export(&mut *store, name).is_none() {
        return Ok(None);
    }
    instance
        .get_typed_func::<P, R>(&mut *store, name)
        .map(Some)
        .map_err(|e| VmFailure::Load(format!("export {name} has the wrong signature: {e}")))
}

impl Exports {
    fn find(instance: &Instance, store: &mut Store<HostState>) -> Result<Self, VmFailure> {
        Ok(Exports {
            initialize: export(instance, store, "_initialize")?,
            start: export(instance, store, "_start")?,
            main: export(instance, store, "main")?,
            on_vm_start: export(instance, store, "proxy_on_vm_start")?,
            on_context_create: export(instance, store, "proxy_on_context_create")?,
            on_configure: export(instance, store, "proxy_on_configure")?,
            on_request_headers: export(instance, store, "proxy_on_request_headers")?,
            on_request_body: export(instance, store, "proxy_on_request_body")?,
            on_request_trailers: export(instance, store, "proxy_on_request_trailers")?,
            on_response_headers: export(instance, store, "proxy_on_response_headers")?,
            on_response_body: export(instance, store, "proxy_on_response_body")?,
            on_response_trailers: export(instance, store, "proxy_on_response_trailers")?,
            on_tick: export(instance, store, "proxy_on_tick")?,
            on_done: export(instance, store, "proxy_on_done")?,
            on_log: export(instance, store, "proxy_on_log")?,
            on_delete: export(instance, store, "proxy_on_delete")?,
        })
    }
}

struct Inner {
    store: Store<HostState>,
    ex: Exports,
    next_id: u32,
    failed: Option<String>,
}

impl Inner {
    /// Call one export, as Envoy would: not at all when it is not exported.
    fn call<P: WasmParams, R: WasmResults + Shown>(
        &mut self,
        callback: &'static str,
        context_id: u32,
        f: Option<TypedFunc<P, R>>,
        params: P,
        args: Vec<u32>,
    ) -> Result<Option<R>, VmFailure> {
        if let Some(first) = &self.failed {
            return Err(VmFailure::Failed(first.clone()));
        }
        let Some(f) = f else {
            return Ok(None);
        };
        let state = self.store.data_mut();
        state.current = Some(Current {
            context_id,
            callback,
            configuring: callback == "proxy_on_configure",
        });
        state.transcript.push(Event::Enter { callback, args });
        let fuel = self.store.data().options.fuel_per_callback;
        let _ = self.store.set_fuel(fuel);
        let result = f.call(&mut self.store, params);
        let used = fuel.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let state = self.store.data_mut();
        state.current = None;
        let failures = std::mem::take(&mut state.failures);
        match result {
            Err(e) => {
                let mut message = format!("{e:?}");
                if self.store.get_fuel().ok() == Some(0) {
                    message.push_str("\n(it ran out of fuel: a loop that never ends?)");
                }
                let context = self.context(&failures);
                let label = format!("{callback}(context {context_id})");
                self.failed = Some(format!("trapped in {label}"));
                Err(VmFailure::Trap {
                    callback: label,
                    message,
                    context,
                })
            }
            Ok(r) => {
                self.store.data_mut().transcript.push(Event::Leave {
                    callback,
                    result: r.shown(),
                    fuel: used,
                });
                if failures.is_empty() {
                    Ok(Some(r))
                } else {
                    Err(VmFailure::HostCalls {
                        callback: format!("{callback}(context {context_id})"),
                        context: self.context(&[]),
                        failures,
                    })
                }
            }
        }
    }

    /// The end of the transcript and the error logs, for failure messages.
    fn context(&self, failures: &[String]) -> String {
        let state = self.store.data();
        let tail: Vec<String> = state
            .transcript
            .iter()
            .rev()
            .take(40)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let errors: Vec<String> = state
            .logs
            .iter()
            .filter(|l| l.level >= LogLevel::Error)
            .map(|l| format!("  [{:?}] {}", l.level, l.message))
            .collect();
        let mut out = format!("last host events:\n{}", tail.join("\n"));
        if !errors.is_empty() {
            out.push_str(&format!("\nerror logs:\n{}", errors.join("\n")));
        }
        if !failures.is_empty() {
            out.push_str(&format!(
                "\nhost-side failures:\n  {}",
                failures.join("\n  ")
            ));
        }
        out
    }

    fn host_calls_of(&self, context: Option<u32>) -> Vec<HostCall> {
        self.store
            .data()
            .transcript
            .iter()
            .filter_map(|e| match e {
                Event::Host(c) if context.is_none() || c.context_id == context => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    fn stream(&mut self, id: u32) -> &mut StreamState {
        self.store.data_mut().streams.entry(id).or_default()
    }
}

/// One VM with one plugin (the root context), like one Envoy worker's copy of the filter.
pub struct Vm {
    inner: Rc<RefCell<Inner>>,
}

impl Vm {
    /// Start the VM (Envoy's VM start and root context), panicking on failure.
    pub fn start(wasm: &Wasm) -> Vm {
        ok(Vm::try_start(wasm, VmOptions::default()))
    }

    /// The real filter, configured with `config` (JSON text, as envoy.yaml passes a
    /// `StringValue`); panics unless `proxy_on_configure` accepts it.
    pub fn filter(config: Option<&str>) -> Vm {
        Vm::filter_with(VmOptions::default(), config)
    }

    pub fn filter_with(options: VmOptions, config: Option<&str>) -> Vm {
        let vm = ok(Vm::try_start(Wasm::filter(), options));
        let accepted = vm.configure(config.map(str::as_bytes));
        assert!(
            accepted,
            "proxy_on_configure refused {config:?}; logs: {:?}",
            vm.logs()
        );
        vm
    }

    pub fn try_start(wasm: &Wasm, options: VmOptions) -> Result<Vm, VmFailure> {
        let fuel = options.fuel_per_callback;
        let mut store = Store::new(&wasm.engine, HostState::new(options));
        let _ = store.set_fuel(fuel);
        let instance = wasm
            .pre
            .instantiate(&mut store)
            .map_err(|e| VmFailure::Load(format!("{e:?}")))?;
        let abi = instance
            .exports(&mut store)
            .map(|e| e.name().to_owned())
            .filter(|n| n.starts_with("proxy_abi_version_"))
            .collect::<Vec<_>>();
        if abi != ["proxy_abi_version_0_2_1"] {
            return Err(VmFailure::Load(format!(
                "{} exports {abi:?}; the harness speaks proxy_abi_version_0_2_1, as the Rust SDK and Envoy 1.40 do",
                wasm.label
            )));
        }
        let memory = instance.get_memory(&mut store, "memory");
        let allocate = export::<u32, u32>(&instance, &mut store, "proxy_on_memory_allocate")?;
        store.data_mut().memory = memory;
        store.data_mut().allocate = allocate;
        let ex = Exports::find(&instance, &mut store)?;
        let mut inner = Inner {
            store,
            ex: ex.clone(),
            next_id: ROOT_ID + 1,
            failed: None,
        };
        // A WASI reactor initializes with _initialize; a command with _start.
        if ex.initialize.is_some() {
            inner.call("_initialize", 0, ex.initialize, (), vec![])?;
        } else {
            inner.call("_start", 0, ex.start, (), vec![])?;
        }
        inner.call("main", 0, ex.main, (0, 0), vec![0, 0])?;
        inner.call(
            "proxy_on_context_create",
            ROOT_ID,
            ex.on_context_create,
            (ROOT_ID, 0),
            vec![ROOT_ID, 0],
        )?;
        let size = inner.store.data().options.vm_configuration.len() as u32;
        let started = inner.call(
            "proxy_on_vm_start",
            ROOT_ID,
            ex.on_vm_start,
            (ROOT_ID, size),
            vec![ROOT_ID, size],
        )?;
        if started == Some(0) {
            return Err(VmFailure::VmStartRefused);
        }
        Ok(Vm {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// `proxy_on_configure` with this plugin configuration; true when the module accepts it.
    pub fn configure(&self, config: Option<&[u8]>) -> bool {
        ok(self.try_configure(config))
    }

    pub fn try_configure(&self, config: Option<&[u8]>) -> Result<bool, VmFailure> {
        let mut inner = self.inner.borrow_mut();
        let bytes = config.unwrap_or_default().to_vec();
        let size = bytes.len() as u32;
        inner.store.data_mut().plugin_configuration = bytes;
        let f = inner.ex.on_configure.clone();
        let r = inner.call(
            "proxy_on_configure",
            ROOT_ID,
            f,
            (ROOT_ID, size),
            vec![ROOT_ID, size],
        )?;
        // Envoy accepts a configuration when the module has no proxy_on_configure.
        Ok(r != Some(0))
    }

    /// One timer tick (`proxy_on_tick`), which Envoy only sends once a period was set.
    pub fn tick(&self) {
        ok(self.try_tick())
    }

    pub fn try_tick(&self) -> Result<(), VmFailure> {
        let mut inner = self.inner.borrow_mut();
        if inner.store.data().tick_period_ms.is_none() {
            return Err(VmFailure::Misuse(
                "the module never set a tick period; Envoy would not call proxy_on_tick".into(),
            ));
        }
        let f = inner.ex.on_tick.clone();
        inner.call("proxy_on_tick", ROOT_ID, f, ROOT_ID, vec![ROOT_ID])?;
        Ok(())
    }

    /// A new HTTP stream (`proxy_on_context_create(id, root)`).
    pub fn stream(&self) -> Stream {
        ok(self.try_stream())
    }

    pub fn try_stream(&self) -> Result<Stream, VmFailure> {
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.stream(id);
        let f = inner.ex.on_context_create.clone();
        inner.call(
            "proxy_on_context_create",
            id,
            f,
            (id, ROOT_ID),
            vec![id, ROOT_ID],
        )?;
        Ok(Stream {
            inner: self.inner.clone(),
            id,
        })
    }

    /// Answer matching host calls with a forced status from now on.
    pub fn inject(&self, fault: Fault) {
        self.inner.borrow_mut().store.data_mut().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.inner.borrow_mut().store.data_mut().faults.clear();
    }

    pub fn logs(&self) -> Vec<LogLine> {
        self.inner.borrow().store.data().logs.clone()
    }

    /// Log lines at `level` or above.
    pub fn logs_at(&self, level: LogLevel) -> Vec<String> {
        self.logs()
            .into_iter()
            .filter(|l| l.level >= level)
            .map(|l| l.message)
            .collect()
    }

    pub fn metric(&self, name: &str) -> Option<Metric> {
        self.inner.borrow().store.data().metrics.get(name).cloned()
    }

    /// A counter's total (`None`: never defined).
    pub fn counter(&self, name: &str) -> Option<i64> {
        self.metric(name).map(|m| m.value)
    }

    pub fn metric_names(&self) -> Vec<String> {
        self.inner
            .borrow()
            .store
            .data()
            .metrics
            .keys()
            .cloned()
            .collect()
    }

    pub fn tick_period_ms(&self) -> Option<u32> {
        self.inner.borrow().store.data().tick_period_ms
    }

    /// The VM's linear memory size in bytes.
    pub fn memory_bytes(&self) -> u64 {
        let inner = self.inner.borrow();
        inner
            .store
            .data()
            .memory
            .map_or(0, |m| m.data_size(&inner.store) as u64)
    }

    /// Host calls made by the root context (start, configure, ticks), as transcript lines.
    pub fn root_calls(&self) -> Vec<String> {
        lines(&self.inner.borrow().host_calls_of(Some(ROOT_ID)))
    }

    /// Every host call so far.
    pub fn host_calls(&self) -> Vec<HostCall> {
        self.inner.borrow().host_calls_of(None)
    }

    /// The whole transcript, one event a line.
    pub fn transcript(&self) -> String {
        let inner = self.inner.borrow();
        inner
            .store
            .data()
            .transcript
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn has_failed(&self) -> bool {
        self.inner.borrow().failed.is_some()
    }
}

/// One HTTP stream through the filter, driven one Envoy callback at a time.
pub struct Stream {
    inner: Rc<RefCell<Inner>>,
    id: u32,
}

fn owned(headers: &[(&str, &str)]) -> HeaderMap {
    headers
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn strings(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

impl Stream {
    pub fn id(&self) -> u32 {
        self.id
    }

    fn with<T>(&self, f: impl FnOnce(&StreamState) -> T) -> T {
        let inner = self.inner.borrow();
        let s = inner
            .store
            .data()
            .streams
            .get(&self.id)
            .unwrap_or_else(|| panic!("stream {} is gone", self.id));
        f(s)
    }

    fn with_mut<T>(&self, f: impl FnOnce(&mut StreamState) -> T) -> T {
        let mut inner = self.inner.borrow_mut();
        f(inner.stream(self.id))
    }

    /// Put a namespace into the stream's dynamic metadata (as an authn filter before this one
    /// would: `metadata.filter_metadata.<namespace>`).
    pub fn set_metadata(&mut self, namespace: &str, value: Value) -> &mut Self {
        self.with_mut(|s| {
            s.metadata.retain(|(n, _)| n != namespace);
            s.metadata.push((namespace.to_owned(), value));
        });
        self
    }

    /// Any other property, by path, as the raw bytes Envoy would return.
    pub fn set_property(&mut self, path: &[&str], bytes: &[u8]) -> &mut Self {
        self.with_mut(|s| s.properties.push((path.join("\0"), bytes.to_vec())));
        self
    }

    // --- driving -----------------------------------------------------------------------------

    fn call3(
        &self,
        callback: &'static str,
        pick: fn(&Exports) -> Option<F3R>,
        a: u32,
        eos: bool,
    ) -> Result<Option<u32>, VmFailure> {
        let mut inner = self.inner.borrow_mut();
        let f = pick(&inner.ex);
        let e = u32::from(eos);
        inner.call(callback, self.id, f, (self.id, a, e), vec![self.id, a, e])
    }

    fn call2(
        &self,
        callback: &'static str,
        pick: fn(&Exports) -> Option<F2R>,
        a: u32,
    ) -> Result<Option<u32>, VmFailure> {
        let mut inner = self.inner.borrow_mut();
        let f = pick(&inner.ex);
        inner.call(callback, self.id, f, (self.id, a), vec![self.id, a])
    }

    fn call1(
        &self,
        callback: &'static str,
        pick: fn(&Exports) -> Option<F1>,
    ) -> Result<(), VmFailure> {
        let mut inner = self.inner.borrow_mut();
        let f = pick(&inner.ex);
        inner.call(callback, self.id, f, self.id, vec![self.id])?;
        Ok(())
    }

    fn misuse(&self, what: &str) -> Result<(), VmFailure> {
        let (ended, why) = self.with(|s| (s.ended(), s.end_reason()));
        if ended {
            return Err(VmFailure::Misuse(format!(
                "{what} after the stream ended ({why})"
            )));
        }
        Ok(())
    }

    pub fn request_headers(&mut self, headers: &[(&str, &str)], end_of_stream: bool) -> Action {
        ok(self.try_request_headers(headers, end_of_stream))
    }

    pub fn try_request_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, VmFailure> {
        self.try_request_headers_raw(owned(headers), end_of_stream)
    }

    /// Request headers as the client sent them: Envoy's codec lower-cases the names and puts
    /// pseudo-headers first before the filter sees them.
    pub fn try_request_headers_raw(
        &mut self,
        headers: HeaderMap,
        end_of_stream: bool,
    ) -> Result<Action, VmFailure> {
        self.misuse("request headers")?;
        let n = headers.len() as u32;
        self.with_mut(|s| {
            s.request_headers = normalize(headers);
            s.request_headers_open = true;
            s.request_done = end_of_stream;
        });
        let r = self.call3(
            "proxy_on_request_headers",
            |e| e.on_request_headers.clone(),
            n,
            end_of_stream,
        )?;
        let action = r.map_or(Action::Continue, Action::from);
        self.with_mut(|s| {
            if action == Action::Continue && s.local_replies.is_empty() {
                s.request_headers_open = false;
                s.forwarded = true;
                s.upstream_complete = end_of_stream;
            } else if s.local_replies.is_empty() {
                s.request_stalled = true;
            }
        });
        self.after_callback()?;
        Ok(action)
    }

    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Action {
        ok(self.try_request_body(chunk, end_of_stream))
    }

    pub fn try_request_body(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, VmFailure> {
        self.misuse("a request body chunk")?;
        let (started, done, stalled) = self.with(|s| {
            (
                s.forwarded || s.request_stalled,
                s.request_done,
                s.request_stalled,
            )
        });
        if !started || done {
            return Err(VmFailure::Misuse(
                "a request body chunk without request headers, or after end of stream".into(),
            ));
        }
        if stalled {
            return Err(VmFailure::Misuse(
                "a request body chunk after the headers callback stopped iteration: Envoy delivers no body then".into(),
            ));
        }
        let size = self.with_mut(|s| {
            s.request_body.extend_from_slice(chunk);
            s.request_body_open = true;
            s.request_done = end_of_stream;
            s.request_body.len() as u32
        });
        let r = self.call3(
            "proxy_on_request_body",
            |e| e.on_request_body.clone(),
            size,
            end_of_stream,
        );
        self.with_mut(|s| s.request_body_open = false);
        let action = r?.map_or(Action::Continue, Action::from);
        self.with_mut(|s| {
            if !s.local_replies.is_empty() {
                return;
            }
            match action {
                Action::Continue => {
                    let body = std::mem::take(&mut s.request_body);
                    s.upstream_body.extend_from_slice(&body);
                    s.upstream_complete = end_of_stream;
                }
                // StopIterationNoBuffer: the chunk is neither kept nor passed on.
                Action::Other(3) => s.request_body.clear(),
                // StopIterationAndBuffer / AndWatermark: Envoy keeps it; at end of stream
                // nothing will release it.
                _ => s.request_stalled = end_of_stream,
            }
        });
        self.after_callback()?;
        Ok(action)
    }

    pub fn request_trailers(&mut self, trailers: &[(&str, &str)]) -> Action {
        ok(self.try_request_trailers(trailers))
    }

    pub fn try_request_trailers(&mut self, trailers: &[(&str, &str)]) -> Result<Action, VmFailure> {
        self.misuse("request trailers")?;
        let n = trailers.len() as u32;
        self.with_mut(|s| {
            s.request_trailers = normalize(owned(trailers));
            // A body the filter holds stays readable (Envoy's buffered decoding data).
            s.request_body_open = !s.request_body.is_empty();
            s.request_done = true;
        });
        let r = self.call2(
            "proxy_on_request_trailers",
            |e| e.on_request_trailers.clone(),
            n,
        );
        self.with_mut(|s| s.request_body_open = false);
        let action = r?.map_or(Action::Continue, Action::from);
        self.with_mut(|s| {
            if s.local_replies.is_empty() && action == Action::Continue {
                let body = std::mem::take(&mut s.request_body);
                s.upstream_body.extend_from_slice(&body);
                s.upstream_complete = true;
            } else if s.local_replies.is_empty() {
                s.request_stalled = true;
            }
        });
        self.after_callback()?;
        Ok(action)
    }

    pub fn response_headers(&mut self, headers: &[(&str, &str)], end_of_stream: bool) -> Action {
        ok(self.try_response_headers(headers, end_of_stream))
    }

    pub fn try_response_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, VmFailure> {
        self.misuse("response headers")?;
        if self.with(|s| s.response_started) {
            return Err(VmFailure::Misuse("response headers given twice".into()));
        }
        self.response_headers_inner(normalize(owned(headers)), end_of_stream)
    }

    fn response_headers_inner(
        &mut self,
        headers: HeaderMap,
        end_of_stream: bool,
    ) -> Result<Action, VmFailure> {
        let n = headers.len() as u32;
        self.with_mut(|s| {
            s.response_headers = headers;
            s.response_headers_open = true;
            s.response_started = true;
            s.response_done = end_of_stream;
        });
        let r = self.call3(
            "proxy_on_response_headers",
            |e| e.on_response_headers.clone(),
            n,
            end_of_stream,
        );
        let action = r?.map_or(Action::Continue, Action::from);
        self.with_mut(|s| {
            if action == Action::Continue {
                s.response_headers_open = false;
                s.client_headers = Some(s.response_headers.clone());
            } else {
                s.response_stalled = true;
            }
        });
        self.after_callback()?;
        Ok(action)
    }

    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Action {
        ok(self.try_response_body(chunk, end_of_stream))
    }

    pub fn try_response_body(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, VmFailure> {
        self.misuse("a response body chunk")?;
        let (started, done, stalled) =
            self.with(|s| (s.response_started, s.response_done, s.response_stalled));
        if !started || done || stalled {
            return Err(VmFailure::Misuse(
                "a response body chunk without response headers, after end of stream, or after the headers callback stopped iteration".into(),
            ));
        }
        self.response_body_inner(chunk, end_of_stream)
    }

    fn response_body_inner(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, VmFailure> {
        let size = self.with_mut(|s| {
            s.response_body.extend_from_slice(chunk);
            s.response_body_open = true;
            s.response_done = end_of_stream;
            s.response_body.len() as u32
        });
        let r = self.call3(
            "proxy_on_response_body",
            |e| e.on_response_body.clone(),
            size,
            end_of_stream,
        );
        self.with_mut(|s| s.response_body_open = false);
        let action = r?.map_or(Action::Continue, Action::from);
        self.with_mut(|s| match action {
            Action::Continue => {
                let body = std::mem::take(&mut s.response_body);
                s.client_body.extend_from_slice(&body);
            }
            Action::Other(3) => s.response_body.clear(),
            _ => s.response_stalled = end_of_stream,
        });
        self.after_callback()?;
        Ok(action)
    }

    pub fn response_trailers(&mut self, trailers: &[(&str, &str)]) -> Action {
        ok(self.try_response_trailers(trailers))
    }

    pub fn try_response_trailers(
        &mut self,
        trailers: &[(&str, &str)],
    ) -> Result<Action, VmFailure> {
        self.misuse("response trailers")?;
        self.with_mut(|s| s.response_done = true);
        let r = self.call2(
            "proxy_on_response_trailers",
            |e| e.on_response_trailers.clone(),
            trailers.len() as u32,
        )?;
        self.after_callback()?;
        Ok(r.map_or(Action::Continue, Action::from))
    }

    /// What Envoy does after a stream callback: send a pending local reply through the
    /// filter's response callbacks, or reset a closed stream.
    fn after_callback(&mut self) -> Result<(), VmFailure> {
        let pending = self.with_mut(|s| {
            if s.local_reply_delivered || s.local_replies.is_empty() || !s.closed.is_empty() {
                return None;
            }
            s.local_reply_delivered = true;
            s.request_done = true;
            s.local_replies.first().cloned()
        });
        let Some(reply) = pending else {
            return Ok(());
        };
        if self.with(|s| s.response_started) {
            // Envoy cannot answer once the response began: it resets the stream.
            self.with_mut(|s| s.closed.push("response"));
            return Ok(());
        }
        let mut headers = vec![(b":status".to_vec(), reply.status.to_string().into_bytes())];
        headers.extend(
            reply
                .headers
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())),
        );
        if !reply.body.is_empty() {
            headers.push((
                b"content-length".to_vec(),
                reply.body.len().to_string().into_bytes(),
            ));
            if reply.header("content-type").is_none() {
                headers.push((b"content-type".to_vec(), b"text/plain".to_vec()));
            }
        }
        self.response_headers_inner(normalize(headers), reply.body.is_empty())?;
        if !reply.body.is_empty() && !self.with(|s| s.response_stalled || !s.closed.is_empty()) {
            self.response_body_inner(&reply.body, true)?;
        }
        Ok(())
    }

    /// The end of the stream: `proxy_on_log`, `proxy_on_done`, `proxy_on_delete`.
    pub fn finish(&mut self) {
        ok(self.try_finish())
    }

    pub fn try_finish(&mut self) -> Result<(), VmFailure> {
        if self.with(|s| s.finished) {
            return Ok(());
        }
        self.with_mut(|s| {
            s.finished = true;
            s.access_log_phase = true;
        });
        let logged = self.call1("proxy_on_log", |e| e.on_log.clone());
        self.with_mut(|s| s.access_log_phase = false);
        logged?;
        {
            let mut inner = self.inner.borrow_mut();
            let f = inner.ex.on_done.clone();
            inner.call("proxy_on_done", self.id, f, self.id, vec![self.id])?;
        }
        self.call1("proxy_on_delete", |e| e.on_delete.clone())
    }

    // --- what Envoy saw ----------------------------------------------------------------------

    /// Whether the request headers went on towards the upstream.
    pub fn forwarded(&self) -> bool {
        self.with(|s| s.forwarded)
    }

    /// Whether the whole request (end of stream) went on towards the upstream.
    pub fn upstream_complete(&self) -> bool {
        self.with(|s| s.upstream_complete)
    }

    /// The request headers as they went upstream; panics when they did not.
    pub fn upstream_headers(&self) -> Vec<(String, String)> {
        self.with(|s| {
            assert!(
                s.forwarded,
                "the request headers were not forwarded upstream ({}); local replies: {:?}",
                s.end_reason(),
                s.local_replies
            );
            strings(&s.request_headers)
        })
    }

    /// All values of one upstream request header.
    pub fn upstream_header_values(&self, name: &str) -> Vec<String> {
        self.upstream_headers()
            .into_iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }

    /// The first value of one upstream request header.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.upstream_header_values(name).into_iter().next()
    }

    pub fn upstream_body(&self) -> Vec<u8> {
        self.with(|s| s.upstream_body.clone())
    }

    /// Request body bytes Envoy still holds for the filter (paused, not released).
    pub fn held_request_body(&self) -> Vec<u8> {
        self.with(|s| s.request_body.clone())
    }

    /// The response headers the client got (`None`: none yet).
    pub fn client_headers(&self) -> Option<Vec<(String, String)>> {
        self.with(|s| s.client_headers.as_ref().map(strings))
    }

    pub fn client_header(&self, name: &str) -> Option<String> {
        self.client_headers()?
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn client_body(&self) -> Vec<u8> {
        self.with(|s| s.client_body.clone())
    }

    pub fn local_replies(&self) -> Vec<LocalReply> {
        self.with(|s| s.local_replies.clone())
    }

    /// `proxy_close_stream` calls, by stream type (`request`, `response`).
    pub fn closed(&self) -> Vec<&'static str> {
        self.with(|s| s.closed.clone())
    }

    pub fn ended(&self) -> bool {
        self.with(StreamState::ended)
    }

    /// A direction stopped with nothing left to resume it: the client would hang.
    pub fn stalled(&self) -> bool {
        self.with(|s| s.request_stalled || s.response_stalled)
    }

    /// The host calls this stream's callbacks made, as transcript lines.
    pub fn calls(&self) -> Vec<String> {
        lines(&self.host_calls())
    }

    /// This stream's host calls, structured.
    pub fn host_calls(&self) -> Vec<HostCall> {
        self.inner.borrow().host_calls_of(Some(self.id))
    }

    /// The callbacks the host made for this stream, with their results, in order.
    /// The wasm instructions (wasmtime fuel) each of this stream's callbacks ran, in order:
    /// the filter's own code, without what the host does in its calls.
    pub fn fuel(&self) -> Vec<(&'static str, u64)> {
        let inner = self.inner.borrow();
        let mut out = Vec::new();
        let mut current = false;
        for e in &inner.store.data().transcript {
            match e {
                Event::Enter { args, .. } => current = args.first() == Some(&self.id),
                Event::Leave { callback, fuel, .. } if current => out.push((*callback, *fuel)),
                _ => {}
            }
        }
        out
    }

    pub fn callbacks(&self) -> Vec<String> {
        let inner = self.inner.borrow();
        let mut out = Vec::new();
        let mut current = false;
        for e in &inner.store.data().transcript {
            match e {
                Event::Enter { args, .. } => current = args.first() == Some(&self.id),
                Event::Leave {
                    callback, result, ..
                } if current => out.push(match result {
                    Some(r) => format!("{callback} = {r}"),
                    None => (*callback).to_owned(),
                }),
                _ => {}
            }
        }
        out
    }
}
