//! `tether serve`: the gateway, on stdio (for hosts that spawn servers) or Streamable HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tether_gateway::catalog::Naming;
use tether_gateway::front::http::HttpOptions;
use tether_gateway::{Gateway, GatewayOptions};

use crate::args::{Cli, ServeArgs};
use crate::target::{self, Loaded};
use crate::ui::Failure;

/// How often the configuration files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Runs the gateway until stdin closes (stdio) or a signal arrives (HTTP).
pub async fn run(cli: &Cli, args: &ServeArgs) -> Result<u8, Failure> {
    let loaded = target::load(&cli.config)?;
    if loaded.config.servers.is_empty() {
        return Err(
            Failure::usage("no MCP servers configured; nothing to serve")
                .hint(loaded.nothing_configured_hint()),
        );
    }
    let naming = if args.no_prefix {
        if loaded.config.servers.len() != 1 {
            return Err(Failure::usage(format!(
                "`--no-prefix` needs exactly one server ({} configured): tool names would collide",
                loaded.config.servers.len()
            )));
        }
        Naming::Unprefixed
    } else {
        Naming::Prefixed
    };
    for problem in loaded.config.problems() {
        tracing::warn!("{}", loaded.config.redactor().redact(&problem.to_string()));
    }
    let opts = GatewayOptions {
        naming,
        list_wait: super::seconds(args.list_wait, "--list-wait")?,
        request_log: !args.no_request_log,
        busy_poll: Duration::from_micros(args.busy_poll_us),
        ..GatewayOptions::default()
    };
    let http = match &args.http {
        Some(addr) => Some(http_setup(addr, args)?),
        None => None,
    };
    let gw = Gateway::start(loaded.upstreams(), opts);
    if cli.debug {
        super::print_lifecycle(gw.manager());
    }
    let watcher = tokio::spawn(watch_config(gw.clone(), cli.config.clone(), loaded));
    let result = match http {
        None => {
            let (input, output) = tether_gateway::front::stdio::process_io();
            let front = tether_gateway::front::stdio::serve(gw.clone(), input, output);
            tokio::select! {
                served = front => served.map_err(|e| Failure::failed(format!("stdio front failed: {e}"))),
                () = shutdown_signal() => Ok(()),
            }
        }
        Some((addr, http_opts)) => serve_http(gw.clone(), addr, http_opts).await,
    };
    watcher.abort();
    gw.shutdown().await;
    result.map(|()| 0)
}

fn http_setup(addr: &str, args: &ServeArgs) -> Result<(SocketAddr, HttpOptions), Failure> {
    let addr: SocketAddr = addr.parse().map_err(|_| {
        Failure::usage(format!("`--http {addr}` is not an address"))
            .hint("e.g. --http 127.0.0.1:7777")
    })?;
    let token = match (
        &args.token_file,
        std::env::var("TETHER_TOKEN").ok().filter(|t| !t.is_empty()),
    ) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::usage(format!(
                    "cannot read `--token-file {}`: {e}",
                    path.display()
                ))
            })?;
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(Failure::usage(format!(
                    "`--token-file {}` is empty",
                    path.display()
                )));
            }
            Some(token)
        }
        (None, env) => env,
    };
    let loopback = addr.ip().is_loopback();
    if !loopback && token.is_none() {
        return Err(Failure::usage(format!(
            "refusing to serve on {addr} without a token: anyone who can reach it could run your tools"
        ))
        .hint("pass `--token-file FILE` or set TETHER_TOKEN, or bind 127.0.0.1"));
    }
    Ok((
        addr,
        HttpOptions {
            token,
            allowed_origins: args.allow_origins.clone(),
            max_body: args.max_body,
            check_host: loopback,
            session_idle: super::seconds(args.session_idle, "--session-idle")?,
        },
    ))
}

async fn serve_http(gw: Gateway, addr: SocketAddr, opts: HttpOptions) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::failed(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr().lock(),
        "tether: serving MCP on http://{bound}/mcp · status page http://{bound}/ · metrics http://{bound}/metrics"
    );
    tether_gateway::front::http::serve(gw, listener, opts, shutdown_signal())
        .await
        .map_err(|e| Failure::failed(format!("HTTP front failed: {e}")))
}

async fn shutdown_signal() {
    crate::termination().await;
}

/// Reloads on SIGHUP or when a configuration file changes: only what changed restarts.
async fn watch_config(gw: Gateway, explicit: Vec<PathBuf>, mut loaded: Loaded) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut stamps = stamps_of(&watched(&explicit, &loaded));
    loop {
        let by_signal = tokio::select! {
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => true,
            _ = tokio::time::sleep(WATCH_EVERY) => false,
        };
        let now = stamps_of(&watched(&explicit, &loaded));
        if !by_signal && now == stamps {
            continue;
        }
        stamps = now;
        match target::load(&explicit) {
            Ok(next) => {
                let summary = gw.reload(next.upstreams()).await;
                tracing::warn!(
                    added = ?summary.added,
                    removed = ?summary.removed,
                    restarted = ?summary.restarted,
                    "configuration reloaded"
                );
                loaded = next;
                stamps = stamps_of(&watched(&explicit, &loaded));
            }
            Err(f) => tracing::error!("configuration not reloaded: {}", f.message),
        }
    }
}

/// The files to watch: the explicit ones, else those discovery read.
fn watched(explicit: &[PathBuf], loaded: &Loaded) -> Vec<PathBuf> {
    if explicit.is_empty() {
        loaded.files()
    } else {
        explicit.to_vec()
    }
}

fn stamps_of(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}
