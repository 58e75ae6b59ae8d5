//! A small scripted proxy-wasm host on wasmtime, to test the built filter `.wasm` through its
//! exported ABI exactly as Envoy 1.40 drives it (ABI 0.2.1).
//!
//! - [`abi`]: status codes, enum values, the pairs format, guest memory and allocation;
//! - [`value`]: dynamic metadata values and Envoy's serialization of them;
//! - [`host`]: the host state a test scripts (headers, bodies, metadata, faults) and the record
//!   of what the module did (transcript, maps, bodies, local replies, metrics, logs);
//! - [`imports`]: the host functions the module imports;
//! - [`driver`]: [`Vm`] and [`Stream`], which call the module's exports as Envoy does;
//! - [`expect`]: assertions in Envoy's terms.
//!
//! The harness is a stand-in for Envoy: it shares no code with the filter crate.

pub mod abi;
pub mod driver;
pub mod expect;
pub mod host;
pub mod imports;
pub mod value;

pub use abi::{status, Action, LogLevel};
pub use driver::{Stream, Vm, VmFailure, Wasm, BUILD_COMMAND};
pub use host::{Fault, HostCall, LocalReply, LogLine, Metric, VmOptions};
pub use value::Value;
