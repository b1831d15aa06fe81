//! The merged result of loading: every server by name, where each came from, and what was
//! shadowed.

use crate::entry::ServerConfig;
use crate::problem::Problem;
use crate::redact::Redactor;
use crate::source::Source;
use crate::suggest::did_you_mean;

/// Every configured server, first definition of each name winning.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The servers, in precedence order, then file order.
    pub servers: Vec<ServerConfig>,
    /// The files (and scopes) that were read, in precedence order.
    pub sources: Vec<Source>,
    /// Later definitions of a name already defined: the name and where the losing definition was.
    pub shadowed: Vec<(String, Source)>,
}

impl Config {
    /// The server called `name` (exact match).
    pub fn get(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The configured name closest to `name`, for "did you mean …?" (`None` when nothing is
    /// close, or when `name` exists).
    pub fn suggest(&self, name: &str) -> Option<&str> {
        if self.get(name).is_some() {
            return None;
        }
        did_you_mean(name, self.servers.iter().map(|s| s.name.as_str()))
    }

    /// A redactor that knows the secrets of every server (for output that mixes servers, such
    /// as the gateway's log).
    pub fn redactor(&self) -> Redactor {
        self.servers
            .iter()
            .fold(Redactor::default(), |acc, s| acc.merge(&s.redactor))
    }

    /// Every problem of every server.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.servers.iter().flat_map(|s| s.problems.iter())
    }

    /// Add servers read from `source`: names already defined are recorded as shadowed.
    pub(crate) fn add(&mut self, source: Source, servers: Vec<ServerConfig>) {
        self.sources.push(source);
        for server in servers {
            if self.get(&server.name).is_some() {
                self.shadowed.push((server.name, server.source));
            } else {
                self.servers.push(server);
            }
        }
    }
}
