//! Finding the configuration files: `--config` files, or the well-known places in precedence
//! order, and merging what they define.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::document::{Document, build_all, parse_servers};
use crate::env::{Env, ProcessEnv, home_from};
use crate::error::ConfigError;
use crate::source::{Scope, Source};

/// What [`load`] reads, with everything from the outside world injectable.
#[derive(Clone)]
pub struct LoadOptions {
    /// `--config` files, in the order given. When non-empty, nothing is discovered.
    pub explicit: Vec<PathBuf>,
    /// The project directory (absolute): `.mcp.json`, `.vscode/`, `.cursor/` and the
    /// `~/.claude.json` project key are looked up from here, and relative `--config` paths are
    /// resolved against it.
    pub cwd: PathBuf,
    /// The user's home directory; `None` skips every home-based file.
    pub home: Option<PathBuf>,
    /// Where `${VAR}` (and `XDG_CONFIG_HOME`, `APPDATA`) are looked up.
    pub env: Arc<dyn Env>,
}

impl LoadOptions {
    /// Options for discovery from `cwd`.
    pub fn new(cwd: impl Into<PathBuf>, home: Option<PathBuf>, env: Arc<dyn Env>) -> Self {
        LoadOptions {
            explicit: Vec::new(),
            cwd: cwd.into(),
            home,
            env,
        }
    }

    /// Options for the real process: its current directory, `HOME` (or `USERPROFILE`) and
    /// environment.
    pub fn from_process() -> io::Result<Self> {
        let env: Arc<dyn Env> = Arc::new(ProcessEnv);
        let home = home_from(env.as_ref());
        Ok(LoadOptions::new(std::env::current_dir()?, home, env))
    }

    /// Read only these files (`--config`), in this order.
    pub fn with_explicit(mut self, paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        self.explicit = paths.into_iter().map(Into::into).collect();
        self
    }
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("explicit", &self.explicit)
            .field("cwd", &self.cwd)
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

/// Load the configuration: the `--config` files if any were given, else every discovered file.
///
/// Discovery order (first definition of a name wins; later ones are recorded as shadowed):
/// 1. local: `~/.claude.json` → `projects["<cwd>"].mcpServers`
/// 2. project: `<cwd>/.mcp.json`
/// 3. user: `~/.claude.json` → `mcpServers`
/// 4. `<cwd>/.vscode/mcp.json` (`servers`)
/// 5. `<cwd>/.cursor/mcp.json`, then `~/.cursor/mcp.json`
/// 6. Claude Desktop: `$XDG_CONFIG_HOME/Claude/` (else `~/.config/Claude/`),
///    `~/Library/Application Support/Claude/`, `%APPDATA%\Claude\` — `claude_desktop_config.json`
///
/// Missing files are skipped. A file that exists but cannot be read, is not valid JSON, or has
/// neither `mcpServers` nor `servers` is an error. Servers listed in
/// `projects["<cwd>"].disabledMcpServers` of `~/.claude.json` (Claude Code's per-project toggle)
/// are marked disabled.
pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
    let env = opts.env.as_ref();
    let home = opts.home.as_deref();
    let mut config = Config::default();
    if !opts.explicit.is_empty() {
        for path in &opts.explicit {
            let source = Source::new(opts.cwd.join(path), Scope::Explicit);
            let text = read(&source.path)?;
            let servers = parse_servers(&text, &source, env, home)?;
            config.add(source, servers);
        }
        return Ok(config);
    }

    let claude_json = match home {
        Some(home) => {
            let path = home.join(".claude.json");
            let source = Source::new(path.clone(), Scope::User);
            read_optional(&path)?
                .map(|text| Document::parse(&text, &source))
                .transpose()?
        }
        None => None,
    };
    let claude_path = home.map(|h| h.join(".claude.json")).unwrap_or_default();

    if let Some(doc) = &claude_json
        && let Some(entries) = doc.project(&opts.cwd)?
    {
        let source = Source::new(claude_path.clone(), Scope::Local);
        let servers = build_all(&entries, &source, env, home);
        config.add(source, servers);
    }
    read_file(
        &mut config,
        opts.cwd.join(".mcp.json"),
        Scope::Project,
        opts,
    )?;
    if let Some(doc) = &claude_json {
        let source = Source::new(claude_path.clone(), Scope::User);
        if let Some(entries) = doc.top_level(&source)? {
            let servers = build_all(&entries, &source, env, home);
            config.add(source, servers);
        }
    }
    read_file(
        &mut config,
        opts.cwd.join(".vscode").join("mcp.json"),
        Scope::VsCode,
        opts,
    )?;
    let mut cursor = vec![opts.cwd.join(".cursor").join("mcp.json")];
    cursor.extend(home.map(|h| h.join(".cursor").join("mcp.json")));
    for path in dedup(cursor) {
        read_file(&mut config, path, Scope::Cursor, opts)?;
    }
    for path in dedup(desktop_paths(env, home)) {
        read_file(&mut config, path, Scope::Desktop, opts)?;
    }

    if let Some(doc) = &claude_json {
        let disabled = doc.project_disabled(&opts.cwd);
        for server in &mut config.servers {
            if disabled.contains(&server.name) {
                server.disabled = true;
            }
        }
    }
    Ok(config)
}

/// Read and add one discovered file, if it exists.
fn read_file(
    config: &mut Config,
    path: PathBuf,
    scope: Scope,
    opts: &LoadOptions,
) -> Result<(), ConfigError> {
    let Some(text) = read_optional(&path)? else {
        return Ok(());
    };
    let source = Source::new(path, scope);
    let servers = parse_servers(&text, &source, opts.env.as_ref(), opts.home.as_deref())?;
    config.add(source, servers);
    Ok(())
}

/// Where Claude Desktop keeps its config on Linux, macOS and Windows.
fn desktop_paths(env: &dyn Env, home: Option<&Path>) -> Vec<PathBuf> {
    const FILE: &str = "claude_desktop_config.json";
    let mut paths = Vec::new();
    let xdg = env
        .var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    if let Some(config_home) = xdg.or_else(|| home.map(|h| h.join(".config"))) {
        paths.push(config_home.join("Claude").join(FILE));
    }
    if let Some(home) = home {
        paths.push(
            home.join("Library")
                .join("Application Support")
                .join("Claude")
                .join(FILE),
        );
    }
    if let Some(appdata) = env.var("APPDATA").filter(|a| !a.is_empty()) {
        paths.push(PathBuf::from(appdata).join("Claude").join(FILE));
    }
    paths
}

fn dedup(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for path in paths {
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// A file named explicitly must exist.
fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A discovered file may not exist (or sit under a path component that is not a directory).
fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}
