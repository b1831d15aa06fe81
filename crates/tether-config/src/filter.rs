//! Which of a server's tools Tether exposes (`tether.tools.allow` / `deny`).

/// Allow and deny lists of tool names. A pattern is an exact name, or a prefix followed by one
/// trailing `*` (`read_*`; `*` alone matches everything). Deny wins over allow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolFilter {
    /// When set, only tools matching one of these are exposed (an empty list exposes none).
    pub allow: Option<Vec<String>>,
    /// Tools matching any of these are never exposed.
    pub deny: Vec<String>,
}

impl ToolFilter {
    /// Whether `tool` passes the filter.
    pub fn permits(&self, tool: &str) -> bool {
        if self.deny.iter().any(|p| matches(p, tool)) {
            return false;
        }
        match &self.allow {
            Some(allow) => allow.iter().any(|p| matches(p, tool)),
            None => true,
        }
    }

    /// Whether the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.allow.is_none() && self.deny.is_empty()
    }
}

fn matches(pattern: &str, tool: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => pattern == tool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: Option<&[&str]>, deny: &[&str]) -> ToolFilter {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ToolFilter {
            allow: allow.map(owned),
            deny: owned(deny),
        }
    }

    #[test]
    fn empty_filter_permits_everything() {
        assert!(filter(None, &[]).permits("anything"));
        assert!(filter(None, &[]).is_empty());
    }

    #[test]
    fn allow_list_with_trailing_glob() {
        let f = filter(Some(&["read_*", "search"]), &[]);
        assert!(f.permits("read_file"));
        assert!(f.permits("read_"));
        assert!(f.permits("search"));
        assert!(!f.permits("search_all"));
        assert!(!f.permits("write_file"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let f = filter(Some(&["*"]), &["delete_*", "drop"]);
        assert!(f.permits("read"));
        assert!(!f.permits("delete_repo"));
        assert!(!f.permits("drop"));
    }

    #[test]
    fn empty_allow_list_permits_nothing() {
        assert!(!filter(Some(&[]), &[]).permits("read"));
    }

    #[test]
    fn star_elsewhere_is_literal() {
        let f = filter(Some(&["a*b"]), &[]);
        assert!(f.permits("a*b"));
        assert!(!f.permits("axb"));
    }
}
