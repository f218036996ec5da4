//! tcpscope: what the Linux kernel is doing to this box's TCP connections,
//! live. eBPF probes feed a connection table; the table feeds a terminal
//! screen or a stream of JSON lines.
//!
//! The library holds everything but the process entry point (main.rs), so
//! that benchmarks and integration tests reach the same code.

pub mod app;
pub mod cli;
pub mod decode;
pub mod feed;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod model;
pub mod output;
pub mod predict;
pub mod session;
pub mod source;
pub mod ui;
pub mod wire;
