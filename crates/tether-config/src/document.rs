//! One configuration file: text → the server entries it defines, or a file-level error.
//!
//! Knows the file shapes: top-level `mcpServers` (Claude Code, Claude Desktop, Cursor),
//! top-level `servers` (VS Code), and `~/.claude.json`'s `projects["<dir>"].mcpServers`.

use std::path::{Path, PathBuf};

use crate::entry::ServerConfig;
use crate::env::Env;
use crate::error::ConfigError;
use crate::expand::{EditorVars, Expander};
use crate::json::{self, Json};
use crate::source::{Scope, Source};
use crate::validate::{self, EntryContext};

/// A parsed file whose top level is an object.
pub(crate) struct Document {
    path: PathBuf,
    root: Json,
}

/// One server entry as found in a document.
pub(crate) struct Entry<'a> {
    name: &'a str,
    value: &'a Json,
    /// Read with VS Code / Cursor conventions.
    editor: bool,
}

impl Document {
    /// Parse `text` read from `source.path`. Editor files accept comments and trailing commas.
    pub(crate) fn parse(text: &str, source: &Source) -> Result<Self, ConfigError> {
        let path = source.path.clone();
        let root = json::parse(text, source.is_editor_file()).map_err(|e| ConfigError::Syntax {
            path: path.clone(),
            line: e.line(),
            column: e.column(),
            source: e,
        })?;
        if !matches!(root, Json::Object(_)) {
            return Err(ConfigError::NotAnObject {
                path,
                what: "the document".into(),
                found: root.kind(),
            });
        }
        Ok(Document { path, root })
    }

    /// Entries under top-level `mcpServers` then `servers`; `None` when the file has neither key.
    pub(crate) fn top_level(&self, source: &Source) -> Result<Option<Vec<Entry<'_>>>, ConfigError> {
        let mcp_servers = self.root.get("mcpServers");
        let servers = self.root.get("servers");
        if mcp_servers.is_none() && servers.is_none() {
            return Ok(None);
        }
        let editor = source.is_editor_file();
        let mut entries = Vec::new();
        if let Some(value) = mcp_servers {
            entries.extend(self.entries(value, "\"mcpServers\"", editor)?);
        }
        if let Some(value) = servers {
            // `servers` is VS Code's key: its entries follow VS Code's conventions wherever the
            // file is.
            entries.extend(self.entries(value, "\"servers\"", true)?);
        }
        Ok(Some(entries))
    }

    /// Entries under `projects["<cwd>"].mcpServers` (Claude Code's local scope); `None` when the
    /// project or its `mcpServers` is absent.
    pub(crate) fn project(&self, cwd: &Path) -> Result<Option<Vec<Entry<'_>>>, ConfigError> {
        let Some(project) = self.project_object(cwd) else {
            return Ok(None);
        };
        match project.get("mcpServers") {
            None => Ok(None),
            Some(value) => self
                .entries(value, "\"projects[…].mcpServers\"", false)
                .map(Some),
        }
    }

    /// `projects["<cwd>"].disabledMcpServers`: servers the user switched off in Claude Code for
    /// this project.
    pub(crate) fn project_disabled(&self, cwd: &Path) -> Vec<String> {
        match self
            .project_object(cwd)
            .and_then(|p| p.get("disabledMcpServers"))
        {
            Some(Json::Array(names)) => names
                .iter()
                .filter_map(|n| match n {
                    Json::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the file looks like VS Code `settings.json` (`"mcp": {"servers": …}`).
    pub(crate) fn looks_like_vscode_settings(&self) -> bool {
        self.root
            .get("mcp")
            .and_then(|m| m.get("servers"))
            .is_some()
            || self.root.get("mcp.servers").is_some()
    }

    fn project_object(&self, cwd: &Path) -> Option<&Json> {
        // Keys are absolute paths as Claude Code wrote them; compare as paths so a trailing `/`
        // or `.` component does not matter.
        match self.root.get("projects")? {
            Json::Object(projects) => projects
                .iter()
                .find(|(key, _)| Path::new(key) == cwd)
                .map(|(_, project)| project),
            _ => None,
        }
    }

    fn entries<'a>(
        &'a self,
        value: &'a Json,
        what: &str,
        editor: bool,
    ) -> Result<Vec<Entry<'a>>, ConfigError> {
        match value {
            Json::Null => Ok(Vec::new()),
            Json::Object(members) => Ok(members
                .iter()
                .map(|(name, value)| Entry {
                    name,
                    value,
                    editor,
                })
                .collect()),
            other => Err(ConfigError::NotAnObject {
                path: self.path.clone(),
                what: what.into(),
                found: other.kind(),
            }),
        }
    }
}

/// Validate every entry of a document.
pub(crate) fn build_all(
    entries: &[Entry<'_>],
    source: &Source,
    env: &dyn Env,
    home: Option<&Path>,
) -> Vec<ServerConfig> {
    entries
        .iter()
        .map(|entry| {
            let expander = if entry.editor {
                Expander::with_editor_vars(
                    env,
                    EditorVars {
                        workspace_folder: source.workspace_folder(),
                        user_home: home.map(Path::to_path_buf),
                    },
                )
            } else {
                Expander::new(env)
            };
            let ctx = EntryContext {
                source,
                editor: entry.editor,
                expander,
            };
            validate::build(entry.name, entry.value, &ctx)
        })
        .collect()
}

/// Parse a whole file's top-level servers. `~/.claude.json` (local and user scope) is Claude
/// Code's state file and may legitimately have no servers; any other file must have one of the
/// keys.
pub(crate) fn parse_servers(
    text: &str,
    source: &Source,
    env: &dyn Env,
    home: Option<&Path>,
) -> Result<Vec<ServerConfig>, ConfigError> {
    let doc = Document::parse(text, source)?;
    match doc.top_level(source)? {
        Some(entries) => Ok(build_all(&entries, source, env, home)),
        None if matches!(source.scope, Scope::Local | Scope::User) => Ok(Vec::new()),
        None => Err(ConfigError::NoServers {
            path: source.path.clone(),
            vscode_settings: doc.looks_like_vscode_settings(),
        }),
    }
}
