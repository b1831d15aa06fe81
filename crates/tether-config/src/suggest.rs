//! "Did you mean …?": edit distance between short names (server names, entry keys).

/// The closest candidate within a typo's reach of `query` (case-insensitive edit distance 1 for
/// short words, 2 for longer ones), excluding an exact match; else a candidate that `query` is
/// the start of (`tool_timeout` → `tool_timeout_ms`). For misspelt keys.
pub(crate) fn closest<'a, I>(query: &str, candidates: I) -> Option<&'a str>
where
    I: Iterator<Item = &'a str> + Clone,
{
    let reach = if query.chars().count() <= 4 { 1 } else { 2 };
    if let Some((candidate, _)) =
        best(query, candidates.clone(), reach).filter(|(_, d)| *d <= reach)
    {
        return Some(candidate);
    }
    // Only this direction: `disabledTools` is not a misspelling of `disabled`.
    let q = query.to_lowercase();
    let mut candidates = candidates;
    candidates
        .find(|c| q.chars().count() >= 3 && c.len() > q.len() && c.to_lowercase().starts_with(&q))
}

/// The candidate a user most likely meant by `query`: a case-insensitive match, else the nearest
/// by edit distance (within a third of the length, at least 1), else one that contains `query`
/// (or is contained in it) when `query` has at least three characters.
pub(crate) fn did_you_mean<'a, I>(query: &str, candidates: I) -> Option<&'a str>
where
    I: Iterator<Item = &'a str> + Clone,
{
    let reach = (query.chars().count() / 3).max(1);
    if let Some((candidate, distance)) = best(query, candidates.clone(), reach)
        && distance <= reach
    {
        return Some(candidate);
    }
    if query.chars().count() < 3 {
        return None;
    }
    let q = query.to_lowercase();
    candidates
        .filter(|c| {
            let c = c.to_lowercase();
            c.contains(&q) || q.contains(&c)
        })
        .min_by_key(|c| c.len().abs_diff(query.len()))
}

/// The candidate with the smallest case-insensitive distance (first wins ties), skipping those
/// that cannot be within `reach` by length alone.
fn best<'a>(
    query: &str,
    candidates: impl Iterator<Item = &'a str>,
    reach: usize,
) -> Option<(&'a str, usize)> {
    let q: Vec<char> = query.to_lowercase().chars().collect();
    let mut best: Option<(&str, usize)> = None;
    for candidate in candidates {
        let c: Vec<char> = candidate.to_lowercase().chars().collect();
        if candidate == query || c.len().abs_diff(q.len()) > reach {
            continue;
        }
        let d = levenshtein(&q, &c);
        if best.is_none_or(|(_, b)| d < b) {
            best = Some((candidate, d));
        }
    }
    best
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let d = |a: &str, b: &str| {
            levenshtein(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("args", "args"), 0);
    }

    #[test]
    fn closest_keys() {
        let keys = ["type", "command", "args", "env", "headers", "disabled"];
        assert_eq!(closest("arg", keys.iter().copied()), Some("args"));
        assert_eq!(closest("header", keys.iter().copied()), Some("headers"));
        assert_eq!(closest("Command", keys.iter().copied()), Some("command"));
        assert_eq!(closest("disable", keys.iter().copied()), Some("disabled"));
        assert_eq!(closest("oauth", keys.iter().copied()), None);
        assert_eq!(closest("dev", keys.iter().copied()), None);
        assert_eq!(closest("args", keys.iter().copied()), None);
        assert_eq!(closest("disabledTools", keys.iter().copied()), None);
        assert_eq!(closest("comm", keys.iter().copied()), Some("command"));
    }

    #[test]
    fn server_name_suggestions() {
        let names = ["github", "postgres-prod", "db"];
        assert_eq!(
            did_you_mean("githib", names.iter().copied()),
            Some("github")
        );
        assert_eq!(
            did_you_mean("GitHub", names.iter().copied()),
            Some("github")
        );
        assert_eq!(
            did_you_mean("postgres", names.iter().copied()),
            Some("postgres-prod")
        );
        assert_eq!(did_you_mean("dx", names.iter().copied()), Some("db"));
        assert_eq!(did_you_mean("zzzzzz", names.iter().copied()), None);
    }
}
