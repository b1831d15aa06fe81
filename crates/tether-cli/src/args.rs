//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reliable, transparent MCP connections: health checks, diagnosis, calls, a resilient gateway.
#[derive(Parser, Debug)]
#[command(name = "tether", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Read MCP servers from this file instead of discovering the usual ones (repeatable).
    #[arg(long = "config", short = 'c', value_name = "FILE", global = true)]
    pub config: Vec<PathBuf>,

    /// More logging on stderr (`-v` info, `-vv` debug). `RUST_LOG` also works.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print each server's lifecycle with timings, and its stderr lines, on stderr.
    #[arg(long, global = true)]
    pub debug: bool,

    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Health table of every configured server (the `/mcp` panel, in a terminal).
    List(ListArgs),
    /// One server in detail: state, version, capabilities, tools, last error, timeouts.
    Get(GetArgs),
    /// List a server's tools.
    Tools(ToolsArgs),
    /// Call a tool: `tether call NAME TOOL [ARGS_JSON]`.
    Call(CallArgs),
    /// Say which layer fails (config, process, network, HTTP, protocol, server), with the
    /// evidence and how to fix it.
    Doctor(DoctorArgs),
    /// One MCP endpoint for every configured server (stdio, or Streamable HTTP with `--http`).
    Serve(ServeArgs),
    /// Run a fault-injecting MCP server, to reproduce the failures that break clients.
    Chaos(tether_testkit::ChaosArgs),
}

/// Log output formats.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `tether serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Serve Streamable HTTP on this address (e.g. `127.0.0.1:7777`) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Expose tools under their own names (only with exactly one server).
    #[arg(long)]
    pub no_prefix: bool,
    /// File holding the bearer token clients must send (required off loopback; also
    /// `TETHER_TOKEN`).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Accept browser requests from this origin too (repeatable; localhost is always accepted).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Largest request body in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body: usize,
    /// How long a list request during startup waits for servers still connecting, in seconds.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub list_wait: f64,
    /// Do not log each forwarded call on stderr.
    #[arg(long)]
    pub no_request_log: bool,
    /// Forget an HTTP session after this many seconds without a request or an open stream.
    #[arg(long, value_name = "S", default_value_t = 3600.0)]
    pub session_idle: f64,
    /// Keep polling for input this many microseconds after each request and answer before
    /// sleeping (0: never). Saves a CPU wake-up per hop on virtual machines.
    #[arg(long, value_name = "US", default_value_t = 100)]
    pub busy_poll_us: u64,
}

/// `tether list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Show a running gateway's live view instead (its base URL, e.g. http://127.0.0.1:7777).
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
}

/// `tether get`.
#[derive(Args, Debug)]
pub struct GetArgs {
    /// The server name.
    pub name: String,
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A server given by name, or ad hoc by URL or command.
#[derive(Args, Debug, Default)]
pub struct TargetArgs {
    /// Connect to this Streamable HTTP URL instead of a configured server.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// With `--url`: the legacy HTTP+SSE transport.
    #[arg(long, requires = "url")]
    pub sse: bool,
    /// With `--url`: an extra header `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "K:V", requires = "url")]
    pub headers: Vec<String>,
    /// The command of an ad-hoc stdio server (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl TargetArgs {
    /// True when the server is given ad hoc rather than by name.
    pub fn is_ad_hoc(&self) -> bool {
        self.url.is_some() || !self.command.is_empty()
    }
}

/// `tether tools`.
#[derive(Args, Debug)]
pub struct ToolsArgs {
    /// The server name (omit with `--url` or `-- CMD`).
    pub name: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// One JSON document on stdout: the tool definitions as the server sent them.
    #[arg(long)]
    pub json: bool,
}

/// How the CLI answers a server's elicitation requests.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elicit {
    /// Accept, filling in the schema's defaults.
    AcceptDefaults,
    /// Decline.
    Decline,
}

/// `tether call`.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// `NAME TOOL [ARGS_JSON]`, or `TOOL [ARGS_JSON]` with `--url` / `-- CMD`.
    #[arg(value_name = "NAME TOOL [ARGS_JSON]", num_args = 1..=3, required = true)]
    pub items: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Tool call timeout in seconds (overrides the configured one).
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Print the tool result exactly as the server sent it.
    #[arg(long)]
    pub json: bool,
    /// Answer elicitation requests (by default the capability is not offered).
    #[arg(long, value_enum, value_name = "MODE")]
    pub elicit: Option<Elicit>,
}

/// `tether doctor`.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The server name (omit with `--url` or `-- CMD`).
    pub name: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// One JSON document on stdout (the report).
    #[arg(long)]
    pub json: bool,
    /// Also call this tool and measure its result.
    #[arg(long, value_name = "TOOL")]
    pub call: Option<String>,
    /// Arguments for `--call`, as a JSON object.
    #[arg(long = "args", value_name = "JSON", requires = "call")]
    pub call_args: Option<String>,
    /// Budget for each phase, in seconds (default: the server's connect timeout).
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
}
