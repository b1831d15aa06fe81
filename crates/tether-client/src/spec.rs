//! A server as the manager needs it: where to connect (primary and fallback targets), the timers,
//! the restart policy, and how to redact what it prints.

use std::sync::Arc;
use std::time::Duration;

use crate::timeouts::Timeouts;
use crate::transport::Target;

/// Redacts secrets from text before it is shown.
pub type Redact = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// What to do when a stdio server exits unexpectedly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Respawn with the reconnect budget (the default).
    #[default]
    OnFailure,
    /// Leave it failed (Claude Code's behaviour).
    Never,
}

/// One server, ready to run.
#[derive(Clone)]
pub struct ServerSpec {
    /// The configured name.
    pub name: String,
    /// Where it was configured, for display.
    pub source: String,
    /// `stdio`, `http` or `sse`.
    pub transport: &'static str,
    /// The command line or URL as written (redacted, unexpanded).
    pub target_display: String,
    /// Never contacted while true.
    pub disabled: bool,
    /// A static configuration problem (`field: why`); the server is never contacted.
    pub misconfigured: Option<String>,
    /// Where to connect: the primary first, then fallbacks (HTTP only).
    pub targets: Vec<Target>,
    /// Display forms of `targets` (redacted).
    pub target_labels: Vec<String>,
    /// The timers.
    pub timeouts: Timeouts,
    /// Respawn policy for stdio servers.
    pub restart: Restart,
    /// Liveness ping interval override (`None`: the policy's).
    pub ping_interval: Option<Duration>,
    /// Secrets filter for everything shown about this server.
    pub redact: Redact,
    /// Configuration warnings to show with the server.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSpec")
            .field("name", &self.name)
            .field("transport", &self.transport)
            .field("target", &self.target_display)
            .field("disabled", &self.disabled)
            .field("misconfigured", &self.misconfigured)
            .finish_non_exhaustive()
    }
}

impl ServerSpec {
    /// A spec for one target with default timers and no redaction (tests, ad-hoc use).
    pub fn simple(name: &str, target: Target) -> Self {
        let local = matches!(target, Target::Stdio(_));
        let display = match &target {
            Target::Stdio(p) => std::iter::once(p.command.as_str())
                .chain(p.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            Target::Http(p) | Target::Sse(p) => p.url.to_string(),
        };
        ServerSpec {
            name: name.to_owned(),
            source: "command line".into(),
            transport: target.kind(),
            target_display: display.clone(),
            disabled: false,
            misconfigured: None,
            targets: vec![target],
            target_labels: vec![display],
            timeouts: Timeouts::defaults(local),
            restart: Restart::OnFailure,
            ping_interval: None,
            redact: Arc::new(|s: &str| s.to_owned()),
            warnings: Vec::new(),
        }
    }

    /// True for stdio servers.
    pub fn is_local(&self) -> bool {
        self.transport == "stdio"
    }
}

/// Builds a spec from a configured server. `env` is the environment `MCP_TIMEOUT` and
/// `MCP_TOOL_TIMEOUT` are read from; `source` is how its file should be shown.
pub fn from_config(
    cfg: &tether_config::ServerConfig,
    env: &dyn Fn(&str) -> Option<String>,
    source: String,
) -> ServerSpec {
    use crate::timeouts::{TimeoutSettings, resolve};
    use crate::transport::{HttpParams, StdioParams};
    use tether_config::Transport as T;

    let redactor = cfg.redactor.clone();
    let local = matches!(cfg.transport, Ok(T::Stdio(_)));
    let settings = TimeoutSettings {
        connect: cfg.options.connect_timeout,
        tool: cfg.tool_timeout.or(cfg.options.tool_timeout),
        idle: cfg.options.idle_timeout,
    };
    let (timeouts, timeout_warnings) = resolve(local, settings, env);
    let (targets, labels) = match &cfg.transport {
        Ok(T::Stdio(s)) => (
            vec![Target::Stdio(StdioParams {
                command: s.command.clone(),
                args: s.args.clone(),
                env: s.env.clone(),
                cwd: s.cwd.clone(),
            })],
            vec![cfg.display_target()],
        ),
        Ok(T::Http(h)) | Ok(T::Sse(h)) => {
            let sse = matches!(cfg.transport, Ok(T::Sse(_)));
            std::iter::once(&h.url)
                .chain(h.fallback_urls.iter())
                .map(|url| {
                    let params = HttpParams {
                        url: url.clone(),
                        headers: h.headers.clone(),
                    };
                    let target = if sse {
                        Target::Sse(params)
                    } else {
                        Target::Http(params)
                    };
                    (target, redactor.redact_url(url))
                })
                .unzip()
        }
        Err(_) => (Vec::new(), Vec::new()),
    };
    let misconfigured = cfg.transport.as_ref().err().map(|p| match &p.field {
        Some(field) => format!("`{field}`: {}", p.message),
        None => p.message.clone(),
    });
    let mut warnings: Vec<String> = cfg
        .warnings()
        .map(|p| match &p.field {
            Some(field) => format!("`{field}`: {}", p.message),
            None => p.message.clone(),
        })
        .collect();
    warnings.extend(timeout_warnings);
    let restart = match cfg.options.restart {
        tether_config::RestartPolicy::OnFailure => Restart::OnFailure,
        tether_config::RestartPolicy::Never => Restart::Never,
    };
    ServerSpec {
        name: cfg.name.clone(),
        source,
        transport: cfg.transport_label(),
        target_display: cfg.display_target(),
        disabled: cfg.disabled,
        misconfigured,
        targets,
        target_labels: labels,
        timeouts,
        restart,
        ping_interval: cfg.options.ping_interval,
        redact: Arc::new(move |s: &str| redactor.redact(s)),
        warnings,
    }
}
