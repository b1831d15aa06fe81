//! What counts as a usable remote endpoint: URL and header syntax, and the credentials a URL
//! carries.

use url::Url;

use crate::check::quoted;

/// Parse an endpoint: absolute, http or https.
pub(crate) fn parse_http_url(text: &str) -> Result<Url, (String, Option<String>)> {
    let url = Url::parse(text).map_err(|e| {
        let hint = match e {
            url::ParseError::RelativeUrlWithoutBase => {
                Some(r#"write an absolute URL, e.g. "https://example.com/mcp""#.to_owned())
            }
            _ => None,
        };
        (format!("is not a valid URL ({e})"), hint)
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        scheme => {
            let hint = match scheme {
                "ws" | "wss" => {
                    "WebSocket servers are not supported; use the server's HTTP endpoint"
                }
                "unix" | "pipe" => "socket URLs are not supported; use an http:// address",
                _ => "use an http:// or https:// URL",
            };
            Err((
                format!(
                    "uses the {} scheme; only http and https are supported",
                    quoted(scheme)
                ),
                Some(hint.to_owned()),
            ))
        }
    }
}

/// Credentials a URL carries: userinfo, query values, fragment (raw and decoded forms).
pub(crate) fn url_secrets(url: &Url) -> Vec<String> {
    let mut secrets = Vec::new();
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    for part in [url.username(), url.password().unwrap_or_default()] {
        if !part.is_empty() {
            secrets.push(part.to_owned());
            secrets.push(decode(part));
        }
    }
    if let Some(query) = url.query() {
        for part in query.split('&') {
            let value = part.split_once('=').map_or(part, |(_, v)| v);
            secrets.push(value.to_owned());
            secrets.push(decode(value));
        }
    }
    if let Some(fragment) = url.fragment() {
        secrets.push(fragment.to_owned());
    }
    secrets
}

/// RFC 9110 `token`.
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
