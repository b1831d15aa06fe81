//! Where a server definition came from: the file and the scope it was read under.

use std::fmt;
use std::path::{Path, PathBuf};

/// The kind of configuration a definition came from, in Claude Code's vocabulary where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A file named with `--config`.
    Explicit,
    /// `~/.claude.json` → `projects["<cwd>"].mcpServers` (Claude Code's `local` scope).
    Local,
    /// `<cwd>/.mcp.json` (Claude Code's `project` scope).
    Project,
    /// `~/.claude.json` → top-level `mcpServers` (Claude Code's `user` scope).
    User,
    /// `<cwd>/.vscode/mcp.json`.
    VsCode,
    /// `<cwd>/.cursor/mcp.json` or `~/.cursor/mcp.json`.
    Cursor,
    /// Claude Desktop's `claude_desktop_config.json`.
    Desktop,
    /// A target given on the command line (`tether doctor --url …`), not read from a file.
    CommandLine,
}

impl Scope {
    /// The scope's short name: `explicit`, `local`, `project`, `user`, `vscode`, `cursor`,
    /// `desktop`, `command-line`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Explicit => "explicit",
            Scope::Local => "local",
            Scope::Project => "project",
            Scope::User => "user",
            Scope::VsCode => "vscode",
            Scope::Cursor => "cursor",
            Scope::Desktop => "desktop",
            Scope::CommandLine => "command-line",
        }
    }

    /// The conventional file for the scope, as users know it (`.mcp.json`, `~/.claude.json`, ...).
    pub fn file(self) -> &'static str {
        match self {
            Scope::Explicit => "--config",
            Scope::Local | Scope::User => "~/.claude.json",
            Scope::Project => ".mcp.json",
            Scope::VsCode => ".vscode/mcp.json",
            Scope::Cursor => ".cursor/mcp.json",
            Scope::Desktop => "claude_desktop_config.json",
            Scope::CommandLine => "command line",
        }
    }
}

impl fmt::Display for Scope {
    /// `project (.mcp.json)`, `local (~/.claude.json)`, ..., `command line`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::CommandLine => f.write_str("command line"),
            scope => write!(f, "{} ({})", scope.name(), scope.file()),
        }
    }
}

/// A file read under a scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// The file (empty for [`Scope::CommandLine`]).
    pub path: PathBuf,
    /// How the file was found.
    pub scope: Scope,
}

impl Source {
    /// A source.
    pub fn new(path: impl Into<PathBuf>, scope: Scope) -> Self {
        Source {
            path: path.into(),
            scope,
        }
    }

    /// The source of targets given on the command line.
    pub fn command_line() -> Self {
        Source::new(PathBuf::new(), Scope::CommandLine)
    }

    /// Whether the file is edited by VS Code or Cursor (which read JSONC, infer `type` from `url`,
    /// and define `${workspaceFolder}`): by scope, or for `--config` files by their folder.
    pub(crate) fn is_editor_file(&self) -> bool {
        match self.scope {
            Scope::VsCode | Scope::Cursor => true,
            Scope::Explicit => {
                parent_dir_name(&self.path).is_some_and(|dir| dir == ".vscode" || dir == ".cursor")
            }
            _ => false,
        }
    }

    /// The folder VS Code calls `${workspaceFolder}` for this file.
    pub(crate) fn workspace_folder(&self) -> Option<PathBuf> {
        let dir = self.path.parent()?;
        if parent_dir_name(&self.path).is_some_and(|d| d == ".vscode" || d == ".cursor") {
            dir.parent().map(Path::to_path_buf)
        } else {
            Some(dir.to_path_buf())
        }
    }
}

fn parent_dir_name(path: &Path) -> Option<&std::ffi::OsStr> {
    path.parent()?.file_name()
}

impl fmt::Display for Source {
    /// The scope's label; `--config <path>` for explicit files.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            Scope::Explicit => write!(f, "--config {}", self.path.display()),
            scope => scope.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_display() {
        assert_eq!(Scope::Project.to_string(), "project (.mcp.json)");
        assert_eq!(Scope::Local.to_string(), "local (~/.claude.json)");
        assert_eq!(Scope::VsCode.to_string(), "vscode (.vscode/mcp.json)");
        assert_eq!(Scope::CommandLine.to_string(), "command line");
        assert_eq!(
            Source::new("/x/servers.json", Scope::Explicit).to_string(),
            "--config /x/servers.json"
        );
    }

    #[test]
    fn editor_files_and_workspace_folder() {
        let vscode = Source::new("/w/app/.vscode/mcp.json", Scope::Explicit);
        assert!(vscode.is_editor_file());
        assert_eq!(vscode.workspace_folder(), Some(PathBuf::from("/w/app")));
        let plain = Source::new("/w/app/mcp.json", Scope::Explicit);
        assert!(!plain.is_editor_file());
        assert_eq!(plain.workspace_folder(), Some(PathBuf::from("/w/app")));
    }
}
