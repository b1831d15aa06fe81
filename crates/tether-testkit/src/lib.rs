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
//! `behavior` + `tools` + `catalog` + `conformance` (transport-independent MCP; `conformance` is
//! what `--conformance` adds) → `stdio`, `http` + `streamable` + `sse` + `legacy_sse` + `canned`
//! (transports) → `process` (start-time process faults). `message` reads JSON-RPC; `stats`
//! backs `GET /_chaos/stats`.

mod behavior;
mod canned;
mod catalog;
mod conformance;
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

    /// Also serve everything the MCP conformance suite's server scenarios call: the `test_*`
    /// tools, `test://` resources and template, `test_*` prompts, `completion/complete`,
    /// `resources/subscribe`, `logging/setLevel` filtering; over HTTP also reject non-localhost
    /// `Host` headers (DNS rebinding). The chaos tools and `--fault` keep working.
    #[arg(
        long,
        long_help = "Also behave as the MCP conformance suite's reference server, so that \
                     `conformance server --url http://127.0.0.1:PORT/mcp --suite all` \
                     (@modelcontextprotocol/conformance) passes against \
                     `tether chaos --http 127.0.0.1:PORT --conformance`. Adds, next to the chaos \
                     catalog (which stays): tools test_simple_text, test_image_content, \
                     test_audio_content, test_embedded_resource, test_multiple_content_types, \
                     test_tool_with_logging, test_error_handling, test_tool_with_progress, \
                     test_sampling, test_elicitation, test_elicitation_sep1034_defaults, \
                     test_elicitation_sep1330_enums, json_schema_2020_12_tool and \
                     test_reconnection (over HTTP its POST SSE stream closes after the priming \
                     event; the answer comes on GET + Last-Event-ID); resources \
                     test://static-text, test://static-binary, test://watched-resource \
                     (resources/subscribe, resources/unsubscribe) and the template \
                     test://template/{id}/data; prompts test_simple_prompt, \
                     test_prompt_with_arguments, test_prompt_with_embedded_resource, \
                     test_prompt_with_image; completion/complete; logging/setLevel filtering \
                     notifications/message; capabilities completions and resources.subscribe. \
                     Works over stdio too (progress, logging and server→client requests on \
                     stdout). Over HTTP bound to a loopback address, a request whose Host header \
                     is not localhost, 127.0.0.1 or [::1] gets 403 (DNS-rebinding protection; \
                     disabled by the no-origin-check fault). Faults still apply."
    )]
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
    /// Behave as the conformance suite's reference server too (see [`ChaosArgs::conformance`]).
    pub conformance: bool,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            faults: Vec::new(),
            name: DEFAULT_NAME.to_owned(),
            state_file: None,
            conformance: false,
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
            conformance: args.conformance,
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
    let (engine, control) = Engine::new(plan, config.name, transport, config.conformance);
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
    let (engine, control) = Engine::new(plan, config.name, Transport::Http, config.conformance);
    let (code, message) = http::serve(listener, engine, control, http::Notes::Tracing).await?;
    tracing::info!(code, "{message}");
    Ok(())
}
