//! Turns what the user named (a configured server, `--url`, `-- CMD`) into server specs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tether_client::ServerSpec;
use tether_client::spec::from_config;

use tether_config::{Config, Env, LoadOptions, ServerConfig};

use crate::args::TargetArgs;
use crate::ui::Failure;

/// The loaded configuration and where it was read from.
#[derive(Debug)]
pub struct Loaded {
    /// Every configured server.
    pub config: Config,
    /// The working directory discovery used.
    pub cwd: PathBuf,
    /// The home directory, when known.
    pub home: Option<PathBuf>,
}

/// The process environment, plus `TETHER_BIN` (this executable) unless it is set: configs such
/// as the bundled demo run `tether chaos` servers without `tether` being on PATH.
struct WithTetherBin(Arc<dyn Env>);

impl Env for WithTetherBin {
    fn var(&self, name: &str) -> Option<String> {
        self.0.var(name).or_else(|| {
            (name == "TETHER_BIN")
                .then(|| std::env::current_exe().ok())
                .flatten()
                .map(|p| p.display().to_string())
        })
    }
}

/// Loads `--config` files, or discovers the usual ones. File-level errors are usage errors (2).
pub fn load(explicit: &[PathBuf]) -> Result<Loaded, Failure> {
    let mut opts = LoadOptions::from_process()
        .map_err(|e| Failure::usage(format!("cannot read the current directory: {e}")))?
        .with_explicit(explicit.iter().cloned());
    opts.env = Arc::new(WithTetherBin(opts.env.clone()));
    let config = tether_config::load(&opts).map_err(|e| {
        let mut f = Failure::usage(e.to_string());
        if let Some(source) = std::error::Error::source(&e) {
            f = f.cause(source.to_string());
        }
        match e.hint() {
            Some(h) => f.hint(h),
            None => f,
        }
    })?;
    Ok(Loaded {
        config,
        cwd: opts.cwd,
        home: opts.home,
    })
}

impl Loaded {
    /// How a server's file is shown: relative to the working directory, `~/…`, or absolute.
    pub fn show_path(&self, path: &Path) -> String {
        show_path(path, &self.cwd, self.home.as_deref())
    }

    /// The spec of one configured server.
    pub fn spec(&self, cfg: &ServerConfig) -> ServerSpec {
        let source = if cfg.source.path.as_os_str().is_empty() {
            cfg.source.scope.to_string()
        } else {
            self.show_path(&cfg.source.path)
        };
        from_config(cfg, &|k| std::env::var(k).ok(), source)
    }

    /// Every configured server as a gateway upstream.
    pub fn upstreams(&self) -> Vec<tether_gateway::Upstream> {
        self.config
            .servers
            .iter()
            .map(|cfg| {
                let spec = self.spec(cfg);
                // Everything that changes how the server runs; Debug of the targets includes
                // env and header values, which is fine for a comparison that is never shown.
                let fingerprint = format!(
                    "{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}",
                    spec.targets,
                    spec.timeouts,
                    spec.restart,
                    spec.ping_interval,
                    spec.disabled,
                    spec.misconfigured,
                    cfg.options.tools,
                    spec.target_display
                );
                tether_gateway::Upstream {
                    filter: cfg.options.tools.clone(),
                    spec,
                    fingerprint,
                }
            })
            .collect()
    }

    /// The files discovery read (watched by `tether serve` for changes).
    pub fn files(&self) -> Vec<PathBuf> {
        self.config.sources.iter().map(|s| s.path.clone()).collect()
    }

    /// The configured server `name`, or a usage error with a suggestion.
    pub fn find(&self, name: &str) -> Result<&ServerConfig, Failure> {
        self.config.get(name).ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> Failure {
        let mut f = Failure::usage(format!("no server named `{name}`"));
        if let Some(s) = self.config.suggest(name) {
            f = f.hint(format!("did you mean `{s}`?"));
        } else if self.config.servers.is_empty() {
            f = f.hint(self.nothing_configured_hint());
        } else {
            let names: Vec<&str> = self
                .config
                .servers
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            f = f.hint(format!("configured servers: {}", names.join(", ")));
        }
        f
    }

    /// Where discovery looked, for "nothing configured".
    pub fn nothing_configured_hint(&self) -> String {
        "add servers to `.mcp.json` (or pass `--config FILE`); Tether also reads ~/.claude.json, \
         .vscode/mcp.json, .cursor/mcp.json and Claude Desktop's config"
            .to_owned()
    }
}

fn show_path(path: &Path, cwd: &Path, home: Option<&Path>) -> String {
    if let Ok(rel) = path.strip_prefix(cwd) {
        return rel.display().to_string();
    }
    if let Some(home) = home
        && let Ok(rel) = path.strip_prefix(home)
    {
        return format!("~/{}", rel.display());
    }
    path.display().to_string()
}

/// Resolves a command's target: a configured name, or `--url` / `-- CMD`.
pub fn resolve(
    explicit: &[PathBuf],
    name: Option<&str>,
    target: &TargetArgs,
) -> Result<ServerSpec, Failure> {
    if let Some(url) = &target.url {
        if !target.command.is_empty() {
            return Err(Failure::usage("give either `--url` or `-- CMD`, not both"));
        }
        let headers = target
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        let cfg = ServerConfig::ad_hoc_http(url, headers, target.sse)
            .map_err(|p| Failure::usage(format!("`--url`: {}", p.message)))?;
        return Ok(ad_hoc_spec(&cfg));
    }
    if let Some((command, args)) = target.command.split_first() {
        let cfg = ServerConfig::ad_hoc_stdio(command.clone(), args.to_vec());
        return Ok(ad_hoc_spec(&cfg));
    }
    let Some(name) = name else {
        return Err(Failure::usage(
            "name a configured server, or give `--url URL` or `-- CMD ARGS…`",
        ));
    };
    let loaded = load(explicit)?;
    let cfg = loaded.find(name)?;
    Ok(loaded.spec(cfg))
}

fn ad_hoc_spec(cfg: &ServerConfig) -> ServerSpec {
    from_config(cfg, &|k| std::env::var(k).ok(), "command line".to_owned())
}

/// `Name: value` or `Name=value`.
fn parse_header(text: &str) -> Result<(String, String), Failure> {
    let split = text.find(':').or_else(|| text.find('='));
    match split {
        Some(i) if i > 0 => Ok((text[..i].trim().to_owned(), text[i + 1..].trim().to_owned())),
        _ => Err(
            Failure::usage("`--header` needs `Name: value` (got something without a name)")
                .hint("e.g. --header 'Authorization: Bearer $TOKEN'"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_show_relative_or_home() {
        let cwd = Path::new("/work/p");
        let home = Some(Path::new("/root"));
        assert_eq!(
            show_path(Path::new("/work/p/.mcp.json"), cwd, home),
            ".mcp.json"
        );
        assert_eq!(
            show_path(Path::new("/root/.claude.json"), cwd, home),
            "~/.claude.json"
        );
        assert_eq!(
            show_path(Path::new("/etc/x.json"), cwd, home),
            "/etc/x.json"
        );
    }

    #[test]
    fn headers_parse() {
        assert_eq!(parse_header("A: b c").unwrap(), ("A".into(), "b c".into()));
        assert_eq!(parse_header("A=b").unwrap(), ("A".into(), "b".into()));
        assert!(parse_header(": x").is_err());
    }
}
