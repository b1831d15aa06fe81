//! Where `${VAR}` values come from: an injectable environment, so tests never touch (or depend
//! on) the real process environment.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// A source of environment variables.
pub trait Env: Send + Sync {
    /// The value of `name`, or `None` when it is not set (or not valid UTF-8).
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests and embedding.
///
/// Debug prints the names only: values are often credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MapEnv(BTreeMap<String, String>);

impl MapEnv {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) one variable.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        MapEnv(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl fmt::Debug for MapEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MapEnv")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The user's home directory according to `env` (`HOME`, else Windows' `USERPROFILE`).
pub(crate) fn home_from(env: &dyn Env) -> Option<std::path::PathBuf> {
    env.var("HOME")
        .or_else(|| env.var("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_env_debug_hides_values() {
        let env = MapEnv::new().with("API_TOKEN", "sk-very-secret");
        let debug = format!("{env:?}");
        assert!(debug.contains("API_TOKEN"));
        assert!(!debug.contains("sk-very-secret"));
        assert_eq!(env.var("API_TOKEN").as_deref(), Some("sk-very-secret"));
        assert_eq!(env.var("OTHER"), None);
    }
}
