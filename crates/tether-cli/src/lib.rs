//! The `tether` command line: argument parsing and rendering. All the work happens in the
//! client, gateway and testkit crates; [`main`] returns the exit code.

pub mod args;
pub mod cmd;
pub mod target;
pub mod ui;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::args::{Cli, Command};

/// Parses the arguments, runs the command, returns its exit code (0 ok, 1 failure, 2 usage).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(&cli);
    // The gateway runs on one thread: on small machines it shares the cores with its clients and
    // upstreams, and one thread spares a cross-core wake-up at every hop of every call.
    let mut builder = match cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            ui::Failure::failed(format!("cannot start the async runtime: {e}")).print();
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Blocking readers (stdin) must not hold the process open once the work is done.
    runtime.shutdown_timeout(Duration::from_millis(200));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    if matches!(cli.command, Command::Serve(_) | Command::Chaos(_)) {
        // The gateway shuts down gracefully on signals by itself; the chaos server's signal
        // behaviour is one of its faults.
        return run(&cli).await;
    }
    // On SIGINT/SIGTERM, dropping the command drops its servers, which kills their process
    // groups: a stopped `tether` never leaves a server behind.
    tokio::select! {
        code = run(&cli) => code,
        signal = termination() => 128 + signal,
    }
}

/// Waits for SIGINT or SIGTERM; returns the signal number.
pub(crate) async fn termination() -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => 15,
        _ = int.recv() => 2,
    }
}

async fn run(cli: &Cli) -> u8 {
    let result = match &cli.command {
        Command::List(a) => cmd::list::run(cli, a).await,
        Command::Get(a) => cmd::get::run(cli, a).await,
        Command::Tools(a) => cmd::tools::run(cli, a).await,
        Command::Call(a) => cmd::call::run(cli, a).await,
        Command::Doctor(a) => cmd::doctor::run(cli, a).await,
        Command::Serve(a) => cmd::serve::run(cli, a).await,
        Command::Chaos(a) => cmd::chaos::run(a.clone()).await,
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            f.print();
            f.exit
        }
    }
}

/// Logs go to stderr; `RUST_LOG` wins over `-v`.
fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let serving = matches!(cli.command, Command::Serve(_));
    let default = match (cli.verbose, serving) {
        // The gateway logs each forwarded call (target `tether::request`) by default.
        (0, true) => "warn,tether::request=info",
        (0, false) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ui::stderr_is_tty() && std::env::var_os("NO_COLOR").is_none());
    let _ = match cli.log_format {
        args::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        args::LogFormat::Text => builder.with_target(false).try_init(),
    };
}
