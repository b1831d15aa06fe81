//! `tether-bench`: Tether's own benchmark.
//!
//! ```text
//! tether-bench echo-server --stdio | --http PORT      the far end of every measured path
//! tether-bench load (--stdio-cmd CMD | --http URL)    closed-loop load against one endpoint
//! tether-bench run                                    the whole table, Tether next to direct
//! tether-bench soak                                   a million calls while upstreams fail
//! tether-bench floor tcp|pipe                         the physical floor of one round trip
//! ```
//!
//! Build with `cargo build --release -p tether-cli -p tether-bench`; `run` and `soak` find the
//! `tether` binary next to this one. Micro-benchmarks are `cargo bench -p tether-bench`.

mod echo;
mod floor;
mod footprint;
mod goals;
mod guard;
mod load;
mod mcp;
mod procs;
mod run;
mod soak;
mod spawn;
mod stats;
mod table;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Writes one line to stdout (the results).
pub fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Writes one line to stderr (progress and notes).
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[derive(Parser, Debug)]
#[command(
    name = "tether-bench",
    version,
    about = "Tether's benchmark: echo server, load generator, the gateway-vs-direct table, soak run"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// A minimal, fast MCP echo server (stdio or Streamable HTTP).
    EchoServer(EchoArgs),
    /// Closed-loop tools/call load against one MCP endpoint; one JSON line + one human line.
    Load(LoadArgs),
    /// The whole table in one run: direct paths, Tether's paths, memory, startup, `tether list`.
    Run(RunArgs),
    /// A soak run: many calls through the gateway while one upstream is killed and one is slow.
    Soak(SoakArgs),
    /// The physical floor: a raw ping-pong over loopback TCP or pipes.
    Floor(FloorArgs),
    /// Copies stdin to stdout (the far end of `floor pipe`).
    #[command(hide = true)]
    RawEcho,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct Transport {
    /// Speak newline-delimited JSON-RPC on stdin/stdout.
    #[arg(long)]
    stdio: bool,
    /// Serve Streamable HTTP on 127.0.0.1:PORT (0: any free port; the address is printed on stderr).
    #[arg(long, value_name = "PORT")]
    http: Option<u16>,
}

#[derive(Args, Debug)]
struct EchoArgs {
    #[command(flatten)]
    transport: Transport,
    /// Tools in tools/list: `echo` and N-1 fillers.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    tools: u16,
}

fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if (0.0..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}`: expected 0 to 86400 seconds"))
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    let v = seconds(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}`: must be more than 0"))
    }
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false, id = "target")]
struct TargetArgs {
    /// Start CMD (through `sh -c`) and speak MCP to it on stdio.
    #[arg(long, value_name = "CMD")]
    stdio_cmd: Option<String>,
    /// A Streamable HTTP endpoint, e.g. http://127.0.0.1:7777/mcp.
    #[arg(long, value_name = "URL")]
    http: Option<String>,
}

#[derive(Args, Debug)]
struct LoadArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Calls in flight (stdio: on one connection; HTTP: one session per call in flight).
    #[arg(short = 'c', long = "concurrency", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Measured seconds.
    #[arg(long, default_value = "5", value_parser = positive_seconds)]
    duration: f64,
    /// Measure exactly N calls instead of a duration.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Warm-up seconds before measuring.
    #[arg(long, default_value = "1", value_parser = seconds)]
    warmup: f64,
    /// The tool to call (a gateway prefixes it: `echo__echo`).
    #[arg(long, default_value = "echo")]
    tool: String,
    /// Bytes of the echoed text.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=16_000_000))]
    payload: u32,
    /// Report CPU and peak RSS of PID's process tree (stdio: the spawned child by default).
    #[arg(long, value_name = "PID")]
    watch_pid: Option<u32>,
    /// Per-call timeout, seconds.
    #[arg(long, default_value = "10", value_parser = positive_seconds)]
    call_timeout: f64,
    /// HTTP: retry connecting and the handshake for up to S seconds.
    #[arg(long, default_value = "0", value_parser = seconds)]
    connect_wait: f64,
    /// The name of the report line.
    #[arg(long)]
    label: Option<String>,
    /// Also append the JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The `tether` binary [default: the one next to tether-bench].
    #[arg(long, value_name = "PATH")]
    pub tether: Option<PathBuf>,
    /// Measured seconds per row.
    #[arg(long, default_value = "5", value_parser = positive_seconds)]
    pub duration: f64,
    /// Warm-up seconds per row.
    #[arg(long, default_value = "1", value_parser = seconds)]
    pub warmup: f64,
    /// Concurrencies to measure, e.g. "1 16".
    #[arg(long, default_value = "1 16")]
    pub conc: String,
    /// The rmcp pass-through proxy (`rmcp-proxy` of the perf anchors) to compare with.
    #[arg(long, value_name = "PATH")]
    pub rmcp: Option<PathBuf>,
    /// Flags given to the rmcp proxy before `--http`.
    #[arg(long, default_value = "--nodelay", allow_hyphen_values = true)]
    pub rmcp_flags: String,
    /// Sections to skip: floors, paths, memory, startup, list (repeatable).
    #[arg(long, value_name = "SECTION")]
    pub skip: Vec<String>,
    /// Runs of the startup measurement (the median is reported).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub startup_runs: u32,
    /// Also write every JSON result to FILE (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// The `tether` binary [default: the one next to tether-bench].
    #[arg(long, value_name = "PATH")]
    pub tether: Option<PathBuf>,
    /// Calls to make.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub calls: u64,
    /// Calls in flight (HTTP sessions).
    #[arg(short = 'c', long = "concurrency", default_value_t = 16, value_parser = clap::value_parser!(u32).range(3..=1024))]
    pub concurrency: u32,
    /// Kill the flaky upstream every S seconds.
    #[arg(long, default_value = "10", value_parser = positive_seconds)]
    pub kill_every: f64,
    /// How slow the slow upstream answers tools/call, ms.
    #[arg(long, default_value_t = 200)]
    pub slow_ms: u64,
    /// Callers (of the concurrency) that call the slow upstream.
    #[arg(long, default_value_t = 2)]
    pub slow_callers: u32,
    /// Callers that call the flaky upstream.
    #[arg(long, default_value_t = 2)]
    pub flaky_callers: u32,
    /// Width of the latency windows, seconds.
    #[arg(long, default_value = "10", value_parser = positive_seconds)]
    pub window: f64,
    /// The gateway's tool-call timeout for each upstream (the config's `timeout`), ms.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1000..))]
    pub upstream_timeout_ms: u64,
    /// The client's own per-call timeout, seconds: no answer by then is a lost call.
    #[arg(long, default_value = "30", value_parser = positive_seconds)]
    pub call_timeout: f64,
    /// Bytes of the echoed text.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub payload: u32,
}

#[derive(Args, Debug)]
struct FloorArgs {
    /// `tcp` or `pipe`.
    #[arg(value_parser = ["tcp", "pipe"])]
    kind: String,
    /// Message size in bytes.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    size: u32,
    /// Measured seconds.
    #[arg(long, default_value = "2", value_parser = positive_seconds)]
    duration: f64,
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn block_on<F: std::future::Future<Output = i32>>(f: F) -> i32 {
    match current_thread() {
        Ok(rt) => rt.block_on(async {
            guard::on_signals();
            f.await
        }),
        Err(e) => {
            note(&format!("tether-bench: cannot start the runtime: {e}"));
            1
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::EchoServer(a) => {
            let echo = echo::Echo::new(usize::from(a.tools));
            let r = match a.transport.http {
                Some(port) => echo::run_http(echo, port),
                None => echo::run_stdio(&echo),
            };
            match r {
                Ok(()) => 0,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    note(&format!("tether-bench echo-server: {e}"));
                    1
                }
            }
        }
        Cmd::Load(a) => {
            let target = match (a.target.stdio_cmd, a.target.http) {
                (Some(cmd), _) => load::Target::Stdio(cmd),
                (None, Some(url)) => load::Target::Http(url),
                (None, None) => {
                    note("tether-bench load: give --stdio-cmd CMD or --http URL");
                    return ExitCode::from(2);
                }
            };
            let label = a.label.unwrap_or_else(|| match &target {
                load::Target::Stdio(cmd) => format!("stdio {cmd}"),
                load::Target::Http(url) => format!("http {url}"),
            });
            let opts = load::LoadOpts {
                target,
                concurrency: a.concurrency as usize,
                duration: a.duration,
                count: a.count,
                warmup: a.warmup,
                tool: a.tool,
                payload: a.payload as usize,
                watch_pid: a.watch_pid,
                call_timeout: Duration::from_secs_f64(a.call_timeout),
                connect_wait: Duration::from_secs_f64(a.connect_wait),
                label,
                json_out: a.json_out,
            };
            block_on(load::run(opts))
        }
        Cmd::Run(a) => block_on(run::run(a)),
        Cmd::Soak(a) => block_on(soak::run(a)),
        Cmd::Floor(a) => {
            let (size, warmup) = (a.size as usize, Duration::from_millis(300));
            let duration = Duration::from_secs_f64(a.duration);
            let r = if a.kind == "tcp" {
                floor::tcp(size, warmup, duration)
            } else {
                match std::env::current_exe() {
                    Ok(exe) => floor::pipe(&exe, size, warmup, duration),
                    Err(e) => {
                        note(&format!("tether-bench: cannot find my own binary: {e}"));
                        return ExitCode::from(1);
                    }
                }
            };
            out(&serde_json::to_string(&r).unwrap_or_default());
            out(&r.human());
            i32::from(!r.ok)
        }
        Cmd::RawEcho => match floor::raw_echo() {
            Ok(()) => 0,
            Err(_) => 1,
        },
    };
    guard::end_all(Duration::from_secs(1));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
