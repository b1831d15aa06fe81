//! `tether doctor`: a phase-by-phase diagnosis of one server that names the failing layer.
//!
//! ```text
//!  config ─► spawn (stdio) ─────────────────────────┐
//!        └─► dns ─► connect ─► http (raw probes,     ├─► initialize ─► initialized ─► tools/list
//!                              transport matrix) ───┘        (every page, linted) ─► ping ─► tools/call
//! ```
//!
//! [`diagnose`] runs the ladder and returns a [`Report`]: timed phases, the transport matrix
//! for URLs, findings with stable codes ([`code`]) and hints, and a verdict with the first
//! failing [`Layer`]. The CLI only renders it.

mod config;
mod finding;
mod ladder;
pub mod lint;
mod matrix;
mod net;
mod report;

pub use finding::{Finding, Layer, Severity, code};
pub use ladder::{DoctorOptions, HOST_CONNECT_BUDGET, Thresholds, ToolCall, diagnose};
pub use lint::ResultLimits;
pub use report::{HttpEvidence, MatrixLine, Phase, Report, Support, Verdict};
