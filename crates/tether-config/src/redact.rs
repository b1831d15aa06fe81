//! Keeping secrets out of everything Tether prints or logs (CONTRACT §1).
//!
//! Two complementary mechanisms:
//! - *structural* redaction knows where secrets live without knowing them: URL userinfo, query
//!   values and fragments; headers and env vars with secret-looking names; command-line values
//!   after `--token`-style flags.
//! - a [`Redactor`] knows the actual secret strings of one entry (values expanded from
//!   environment variables, secret-named header and env values, URL credentials) and masks them
//!   wherever they show up: a server's stderr, an error body, a log line.

use std::fmt;
use std::sync::Arc;

use url::Url;

/// What a redacted value is replaced with.
pub const MASK: &str = "***";

/// Shorter values are not treated as secrets: masking every `1` or `on` in a log line would
/// destroy the output and protect nothing.
const MIN_SECRET_CHARS: usize = 4;

/// Whether a header or environment variable name suggests its value is a credential:
/// `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`, and any name containing
/// `key`, `token`, `secret`, `password`, `passwd`, `auth`, `credential` (case-insensitive).
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "auth",
        "credential",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// Masks the known secrets of one server (or, merged, of several). Cheap to clone.
///
/// Debug prints how many secrets it holds, never the secrets.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Arc<[String]>,
}

impl Redactor {
    /// A redactor for these secret values. Values shorter than four characters are ignored. For
    /// each value, its trimmed form, its URL-encoded form, and the credential part of
    /// `<Scheme> <credential>` (e.g. `Bearer abc…`) are registered too, because that is how the
    /// value tends to reappear in messages.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all: Vec<String> = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            all.push(secret.to_owned());
            all.push(secret.trim().to_owned());
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            all.push(encoded);
            if let Some((scheme, credential)) = secret.trim().split_once(' ')
                && !scheme.is_empty()
                && scheme.chars().all(|c| c.is_ascii_alphabetic())
            {
                all.push(credential.trim().to_owned());
            }
        }
        Redactor::from_exact(all)
    }

    fn from_exact(mut all: Vec<String>) -> Self {
        all.retain(|s| s.chars().count() >= MIN_SECRET_CHARS);
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        all.dedup();
        Redactor {
            secrets: all.into(),
        }
    }

    /// A redactor knowing the secrets of both.
    pub fn merge(&self, other: &Redactor) -> Redactor {
        if other.secrets.is_empty() {
            return self.clone();
        }
        if self.secrets.is_empty() {
            return other.clone();
        }
        Redactor::from_exact(
            self.secrets
                .iter()
                .chain(other.secrets.iter())
                .cloned()
                .collect(),
        )
    }

    /// How many secret strings are known.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether no secret is known (redaction is then purely structural).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Replace every occurrence of every known secret in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Masking can create a new occurrence when a secret contains `*`; repeat until nothing
        // matches. Each replacement shortens the text (secrets are longer than the mask), so
        // this terminates.
        loop {
            let mut changed = false;
            for secret in self.secrets.iter() {
                if out.contains(secret.as_str()) {
                    out = out.replace(secret.as_str(), MASK);
                    changed = true;
                }
            }
            if !changed {
                return out;
            }
        }
    }

    /// `url` for display: userinfo → `***`, every query value → `***`, fragment → `***`, and known
    /// secrets (e.g. a token in the path) masked.
    pub fn redact_url(&self, url: &Url) -> String {
        self.redact(&structural_url(url.as_str()))
    }

    /// Like [`Redactor::redact_url`] for text that may not parse as a URL (e.g. one still
    /// containing `${VAR}`).
    pub fn redact_url_str(&self, url: &str) -> String {
        self.redact(&structural_url(url))
    }

    /// Headers for display: values of secret-named headers become `***`, other values have known
    /// secrets masked.
    pub fn redact_headers(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        self.redact_pairs(headers)
    }

    /// Environment variables for display, by the same rule as [`Redactor::redact_headers`].
    pub fn redact_env(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        self.redact_pairs(env)
    }

    /// A command line for display: values after `--token`-style flags, `NAME=value` with a
    /// secret-looking name, `Authorization: …` header arguments and URL credentials are masked,
    /// then known secrets.
    pub fn redact_args(&self, args: &[String]) -> Vec<String> {
        structural_args(args)
            .iter()
            .map(|arg| self.redact(arg))
            .collect()
    }

    fn redact_pairs(&self, pairs: &[(String, String)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| {
                let value = if is_secret_name(name) {
                    MASK.to_owned()
                } else {
                    self.redact(value)
                };
                (name.clone(), value)
            })
            .collect()
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// Userinfo, query values and fragment of a URL-looking text replaced by `***`. Works on raw text
/// so it also handles URLs that do not parse (yet).
pub(crate) fn structural_url(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(scheme);
    let mut rest = rest;
    if !scheme.is_empty() {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = tail;
    }
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (rest, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        let parts: Vec<String> = query
            .split('&')
            .map(|part| match part.split_once('=') {
                Some((key, _)) => format!("{key}={MASK}"),
                // A bare query part (`?sk-123`) may itself be the token.
                None if part.is_empty() => String::new(),
                None => MASK.to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        if !fragment.is_empty() {
            out.push_str(MASK);
        }
    }
    out
}

/// The values a command line passes after secret-looking flags (`--api-key VALUE`,
/// `--token=VALUE`, `API_KEY=VALUE`, `Authorization: VALUE`): registered as secrets so a server
/// echoing them on stderr is masked too.
pub(crate) fn secret_arg_values(args: &[String]) -> Vec<String> {
    let mut values = Vec::new();
    let mut next_is_secret = false;
    for arg in args {
        if next_is_secret && !arg.starts_with('-') {
            values.push(arg.clone());
        }
        next_is_secret = false;
        if let Some((_, value)) = secret_assignment(arg).or_else(|| secret_header_arg(arg)) {
            values.push(value.trim().to_owned());
        } else if is_secret_flag(arg) {
            next_is_secret = true;
        }
    }
    values
}

/// Structural redaction of a command line (see [`Redactor::redact_args`]). A value that is only a
/// `${VAR}` reference is kept: it shows which variable is used without revealing anything.
pub(crate) fn structural_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut next_is_secret = false;
    for arg in args {
        let redacted = if next_is_secret && !arg.starts_with('-') && !only_references(arg) {
            MASK.to_owned()
        } else if let Some((name, value)) = secret_assignment(arg) {
            if only_references(value) {
                arg.clone()
            } else {
                format!("{name}={MASK}")
            }
        } else if let Some((name, value)) = secret_header_arg(arg) {
            if only_references(value) {
                arg.clone()
            } else {
                format!("{name}: {MASK}")
            }
        } else if arg.contains("://") {
            structural_url(arg)
        } else {
            arg.clone()
        };
        next_is_secret = secret_assignment(arg).is_none() && is_secret_flag(arg);
        out.push(redacted);
    }
    out
}

/// `--api-key=VALUE` or `API_KEY=VALUE` with a secret-looking name.
fn secret_assignment(arg: &str) -> Option<(&str, &str)> {
    let (name, value) = arg.split_once('=')?;
    let bare = name.trim_start_matches('-');
    let plausible = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    (plausible && is_secret_name(bare)).then_some((name, value))
}

/// `Authorization: Bearer …` passed as one argument (e.g. `mcp-remote --header`).
fn secret_header_arg(arg: &str) -> Option<(&str, &str)> {
    let (name, value) = arg.split_once(':')?;
    let plausible = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (plausible && !value.starts_with("//") && is_secret_name(name)).then_some((name, value))
}

/// `--token`, `-password`: a flag whose value is the next argument.
fn is_secret_flag(arg: &str) -> bool {
    arg.starts_with('-') && !arg.contains('=') && is_secret_name(arg.trim_start_matches('-'))
}

/// Whether `value` is nothing but `${…}` references (and perhaps an auth scheme word such as
/// `Bearer`), i.e. shows no secret when printed unexpanded.
fn only_references(value: &str) -> bool {
    let mut rest = value;
    let mut remainder = String::new();
    let mut found = false;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        remainder.push_str(&rest[..start]);
        rest = &rest[start + len + 1..];
        found = true;
    }
    remainder.push_str(rest);
    let remainder = remainder.trim();
    found
        && (remainder.is_empty()
            || ["bearer", "basic", "token"].contains(&remainder.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn secret_names() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "Set-Cookie",
            "X-API-Key",
            "GITHUB_TOKEN",
            "client_secret",
            "DB_PASSWORD",
            "X-Auth-User",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["Accept", "LOG_LEVEL", "X-Request-Id", "PATH"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn redact_masks_every_occurrence_longest_first() {
        let r = Redactor::new(["abcd", "abcdef", "xy"]);
        assert_eq!(r.redact("abcdef abcd xy"), "*** *** xy");
    }

    #[test]
    fn redact_registers_bearer_credential_and_trimmed_forms() {
        let r = Redactor::new(["Bearer sk-live-123", "tok-with-newline\n"]);
        assert_eq!(r.redact("401: bad token sk-live-123"), "401: bad token ***");
        assert_eq!(r.redact("got tok-with-newline."), "got ***.");
    }

    #[test]
    fn redact_url_masks_userinfo_query_and_fragment() {
        let r = Redactor::default();
        let url =
            Url::parse("https://user:pa55@example.com:8443/mcp?key=abc&x=1&flag#tok").unwrap();
        assert_eq!(
            r.redact_url(&url),
            "https://***@example.com:8443/mcp?key=***&x=***&***#***"
        );
        let plain = Url::parse("https://example.com/mcp").unwrap();
        assert_eq!(r.redact_url(&plain), "https://example.com/mcp");
    }

    #[test]
    fn redact_url_masks_known_secrets_in_the_path() {
        let r = Redactor::new(["s3cr3t-path-token"]);
        let url = Url::parse("https://mcp.example.com/s/s3cr3t-path-token/mcp").unwrap();
        assert_eq!(r.redact_url(&url), "https://mcp.example.com/s/***/mcp");
    }

    #[test]
    fn redact_url_str_handles_unexpanded_text() {
        assert_eq!(
            Redactor::default().redact_url_str("https://${HOST}/mcp?token=${TOKEN}"),
            "https://${HOST}/mcp?token=***"
        );
    }

    #[test]
    fn redact_pairs_by_name_and_by_value() {
        let r = Redactor::new(["hunter22"]);
        let pairs = vec![
            ("Authorization".to_owned(), "Bearer x".to_owned()),
            ("X-Trace".to_owned(), "id-hunter22".to_owned()),
            ("Accept".to_owned(), "text/plain".to_owned()),
        ];
        assert_eq!(
            r.redact_headers(&pairs),
            vec![
                ("Authorization".to_owned(), MASK.to_owned()),
                ("X-Trace".to_owned(), "id-***".to_owned()),
                ("Accept".to_owned(), "text/plain".to_owned()),
            ]
        );
    }

    #[test]
    fn command_lines_hide_flag_values_but_show_references() {
        let args: Vec<String> = [
            "--api-key",
            "sk-1",
            "--token=abc",
            "GITHUB_TOKEN=ghp_x",
            "--header",
            "Authorization: Bearer xyz",
            "--key",
            "${API_KEY}",
            "--header",
            "Authorization:${AUTH}",
            "https://u:p@h/x?q=1",
            "-v",
            "plain",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            structural_args(&args),
            [
                "--api-key",
                "***",
                "--token=***",
                "GITHUB_TOKEN=***",
                "--header",
                "Authorization: ***",
                "--key",
                "${API_KEY}",
                "--header",
                "Authorization:${AUTH}",
                "https://***@h/x?q=***",
                "-v",
                "plain",
            ]
        );
        assert_eq!(
            secret_arg_values(&args),
            [
                "sk-1",
                "abc",
                "ghp_x",
                "Bearer xyz",
                "${API_KEY}",
                "${AUTH}"
            ]
        );
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let r = Redactor::new(["super-secret-value"]);
        let debug = format!("{r:?}");
        assert!(!debug.contains("super-secret-value"));
    }

    #[test]
    fn masking_cannot_assemble_a_new_secret() {
        let r = Redactor::new(["****"]);
        assert_eq!(r.redact("*****"), "***");
    }

    proptest! {
        #[test]
        fn redact_never_leaves_a_registered_secret(
            secrets in proptest::collection::vec("[a-c*]{0,7}", 0..5),
            pieces in proptest::collection::vec("[a-c* ]{0,9}", 0..8),
        ) {
            let r = Redactor::new(&secrets);
            // Interleave secrets and noise so they occur whole, overlapping and adjacent.
            let mut text = String::new();
            for (i, piece) in pieces.iter().enumerate() {
                text.push_str(piece);
                if let Some(s) = secrets.get(i % secrets.len().max(1)) {
                    text.push_str(s);
                }
            }
            let out = r.redact(&text);
            for secret in &secrets {
                if secret.chars().count() >= MIN_SECRET_CHARS {
                    prop_assert!(!out.contains(secret.as_str()), "{secret:?} in {out:?}");
                }
            }
        }

        #[test]
        fn redact_handles_arbitrary_text(secrets in proptest::collection::vec(".{0,12}", 0..4), text in ".{0,64}") {
            let r = Redactor::new(&secrets);
            let out = r.redact(&text);
            for secret in &secrets {
                if secret.chars().count() >= MIN_SECRET_CHARS {
                    prop_assert!(!out.contains(secret.as_str()));
                }
            }
        }
    }
}
