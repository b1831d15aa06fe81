//! `tether-testkit`: a fault-injecting MCP server, shipped to users as `tether chaos`.
//!
//! A small but correct MCP server (tools, prompts, resources, progress, cancellation,
//! server→client requests) over stdio or Streamable HTTP, which on request reproduces the
//! failures real servers and the infrastructure in front of them produce: crashes, hangs,
//! stdout pollution, HTTP errors with realistic bodies, expired sessions, dropped SSE streams,
//! the legacy HTTP+SSE transport and more. Faults are data ([`Fault`]), parsed from the
//! `--fault NAME[:ARG...][@N]` vocabulary ([`FAULT_HELP`]).
//!
//! It shares no code with `tether-proto` or `tether-client` on purpose: it is the independent
//! party those crates are tested against.
//!
//! Layout: `fault` (vocabulary) → `plan` + `state` (when a fault fires) → `engine` +
//! `behavior` + `tools` + `catalog` (transport-independent MCP) → `stdio`, `http` +
//! `streamable` + `sse` + `legacy_sse` + `canned` (transports) → `process` (start-time
//! process faults). `message` reads JSON-RPC; `stats` backs `GET /_chaos/stats`.

mod behavior;
mod canned;
mod catalog;
mod engine;
mod fault;
mod http;
mod legacy_sse;
mod message;
mod plan;
mod process;
mod sse;
mod state;
mod stats;
mod stdio;
mod streamable;
mod tools;

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use crate::fault::{DEFAULT_SSE_RETRY_MS, FAULT_HELP, Fault, ParseFaultError};

use crate::engine::{Engine, Transport};
use crate::plan::FaultPlan;
use crate::state::Counters;
use crate::stdio::stderr_line;

/// The default `serverInfo.name`.
pub const DEFAULT_NAME: &str = "tether-chaos";

/// Arguments of `tether chaos` (the CLI flattens them into its own subcommand).
#[derive(clap::Args, Debug, Clone)]
pub struct ChaosArgs {
    /// Serve Streamable HTTP on ADDR (e.g. `127.0.0.1:0`) instead of stdio. Prints one line,
    /// `listening on http://HOST:PORT/mcp`, to stdout once bound.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,

    /// Inject a fault (repeatable): `NAME[:ARG...][@N]`.
    #[arg(
        long = "fault",
        value_name = "SPEC",
        long_help = concat!(
            "Inject a fault (repeatable). Syntax NAME[:ARG[:ARG...]][@N]; `@N` fires only the \
             first N occurrences (counted across restarts with --state-file). Faults marked \
             http: apply to --http only.\n\n",
            crate::fault::fault_help_text!()
        )
    )]
    pub faults: Vec<Fault>,

    /// `serverInfo.name` reported by initialize.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_NAME)]
    pub name: String,

    /// Persist `@N` counters and the start count in this JSON file, so limits span restarts
    /// (e.g. `exit-at-start@2`: the first two starts crash, the third works).
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    /// Reserved: behave as the MCP conformance suite's reference server (not yet supported).
    #[arg(long)]
    pub conformance: bool,
}

impl Default for ChaosArgs {
    /// Stdio, no faults, the default name: what `tether chaos` does without flags.
    fn default() -> Self {
        Self {
            http: None,
            faults: Vec::new(),
            name: DEFAULT_NAME.to_owned(),
            state_file: None,
            conformance: false,
        }
    }
}

/// What an in-process server runs with.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// Faults to inject, in priority order (the first matching fault with budget fires).
    pub faults: Vec<Fault>,
    /// `serverInfo.name`.
    pub name: String,
    /// Where `@N` counters persist (see [`ChaosArgs::state_file`]).
    pub state_file: Option<PathBuf>,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            faults: Vec::new(),
            name: DEFAULT_NAME.to_owned(),
            state_file: None,
        }
    }
}

impl ChaosConfig {
    /// A default configuration with these faults.
    pub fn with_faults(faults: Vec<Fault>) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    /// A default configuration with faults parsed from `--fault` specs.
    pub fn from_specs<I, S>(specs: I) -> Result<Self, ParseFaultError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let faults = specs
            .into_iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<Fault>, _>>()?;
        Ok(Self::with_faults(faults))
    }
}

impl From<&ChaosArgs> for ChaosConfig {
    fn from(args: &ChaosArgs) -> Self {
        Self {
            faults: args.faults.clone(),
            name: args.name.clone(),
            state_file: args.state_file.clone(),
        }
    }
}

fn open_plan(config: &ChaosConfig) -> io::Result<FaultPlan> {
    let counters = Arc::new(Counters::open(config.state_file.clone())?);
    counters.record_start()?;
    Ok(FaultPlan::new(&config.faults, counters))
}

/// Runs `tether chaos`: stdio until stdin closes (exit code 0), or HTTP with `--http` until an
/// injected fault ends it. Returns the process exit code for ordinary ends (stdin EOF,
/// `exit-at-start`, usage errors). Faults that crash the server mid-session (`crash`,
/// `crash-on-call`, `exit-after`) end the process directly with their code, like a real crash,
/// after flushing what was already written.
pub async fn run(args: ChaosArgs) -> io::Result<i32> {
    if args.conformance {
        stderr_line("error: `--conformance` is not yet supported");
        return Ok(2);
    }
    let config = ChaosConfig::from(&args);
    let plan = open_plan(&config)?;
    if let Some((code, message)) = process::exit_at_start(&plan) {
        stderr_line(&message);
        return Ok(code);
    }
    process::stderr_noise(&plan);
    process::spawn_child(&plan)?;
    let transport = match args.http {
        Some(_) => Transport::Http,
        None => Transport::Stdio,
    };
    let (engine, control) = Engine::new(plan, config.name, transport);
    process::ignore_sigterm(&engine)?;
    let Some(addr) = &args.http else {
        return stdio::serve(engine, control).await;
    };
    let listener = TcpListener::bind(addr.as_str())
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on `{addr}`: {e}")))?;
    let local = listener.local_addr()?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on http://{local}/mcp")?;
        out.flush()?;
    }
    let (code, message) = http::serve(listener, engine, control, http::Notes::Stderr).await?;
    stderr_line(&message);
    std::process::exit(code);
}

/// Serves Streamable HTTP (or, with `legacy-sse`, the legacy transport) on an already bound
/// listener, in-process. Runs until an injected fault ends the server (`crash`,
/// `crash-on-call`, `exit-after`, `exit-at-start`), then closes the listener and every
/// connection and returns `Ok(())`; the process is never exited. Process-level faults
/// (`spawn-child`, `ignore-sigterm`, `stderr-noise`, stdio-only ones) are ignored here.
/// `chaos: ...` notes go to `tracing` at info level.
pub async fn serve_http(listener: TcpListener, config: ChaosConfig) -> io::Result<()> {
    let plan = open_plan(&config)?;
    if let Some((code, message)) = process::exit_at_start(&plan) {
        tracing::info!(code, "{message}");
        return Ok(());
    }
    let (engine, control) = Engine::new(plan, config.name, Transport::Http);
    let (code, message) = http::serve(listener, engine, control, http::Notes::Tracing).await?;
    tracing::info!(code, "{message}");
    Ok(())
}
