//! Canned HTTP responses: the realistic bodies and headers real servers and intermediaries send
//! (nginx error pages, Express 404s, OAuth 401 challenges, login pages), and the JSON error
//! bodies of the Streamable HTTP transport.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode, header};
use serde_json::json;

use crate::message::error_body;

/// Builds a response; header values come from this module or were validated when parsed.
pub(crate) fn build(status: u16, content_type: &str, body: impl Into<Body>) -> Response<Body> {
    let mut response = Response::new(body.into());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn set(response: &mut Response<Body>, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}

/// A JSON-RPC error body (`id` null) with an HTTP status.
pub(crate) fn rpc_error(status: u16, code: i64, message: &str) -> Response<Body> {
    build(
        status,
        "application/json",
        error_body(None, code, message).to_string(),
    )
}

/// `202 Accepted` with no body (notifications and responses).
pub(crate) fn accepted() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// What Express answers for a route it does not have.
pub(crate) fn express_not_found(method: &str, path: &str) -> Response<Body> {
    build(
        404,
        "text/html; charset=utf-8",
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Error</title>\n</head>\n<body>\n<pre>Cannot {method} {path}</pre>\n\
             </body>\n</html>\n"
        ),
    )
}

/// nginx's built-in error page.
fn nginx_page(status: u16, reason: &str) -> Response<Body> {
    build(
        status,
        "text/html",
        format!(
            "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
             <center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n"
        ),
    )
}

/// The OAuth protected-resource metadata URL of this server.
pub(crate) fn resource_metadata_url(origin: &str) -> String {
    format!("{origin}/.well-known/oauth-protected-resource")
}

/// `401` with a `WWW-Authenticate` challenge pointing at the resource metadata.
pub(crate) fn unauthorized(origin: &str, description: &str) -> Response<Body> {
    let mut response = build(
        401,
        "application/json",
        json!({"error": "invalid_token", "error_description": description}).to_string(),
    );
    set(
        &mut response,
        "www-authenticate",
        &format!(
            "Bearer resource_metadata=\"{}\"",
            resource_metadata_url(origin)
        ),
    );
    response
}

/// The response of `status:CODE[:Header=Value...]`.
pub(crate) fn status(
    code: u16,
    extra_headers: &[(String, String)],
    origin: &str,
    path: &str,
) -> Response<Body> {
    let mut response = match code {
        401 => unauthorized(origin, "Missing or invalid access token"),
        403 => build(
            403,
            "application/json",
            json!({"error": "insufficient_scope", "error_description": "Forbidden"}).to_string(),
        ),
        404 => express_not_found("POST", path),
        429 => {
            let mut r = build(
                429,
                "application/json",
                json!({"error": "rate_limited", "message": "Too Many Requests"}).to_string(),
            );
            set(&mut r, "retry-after", "1");
            r
        }
        500 => rpc_error(500, -32603, "Internal server error"),
        502 => nginx_page(502, "Bad Gateway"),
        503 => {
            let mut r = build(503, "text/plain; charset=utf-8", "Service Unavailable");
            set(&mut r, "retry-after", "1");
            r
        }
        504 => nginx_page(504, "Gateway Time-out"),
        other => {
            let reason = StatusCode::from_u16(other)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Unknown");
            build(other, "text/plain; charset=utf-8", reason.to_owned())
        }
    };
    for (name, value) in extra_headers {
        set(&mut response, name, value);
    }
    response
}

/// A redirect the way Starlette sends it for a mount point (`/mcp` → `/mcp/`): no body.
pub(crate) fn redirect(status: u16, location: &str) -> Response<Body> {
    let mut r = build(status, "text/plain; charset=utf-8", Body::empty());
    set(&mut r, "location", location);
    r
}

/// `html-200`: an SSO proxy's login page where MCP was expected.
pub(crate) fn login_page() -> Response<Body> {
    build(
        200,
        "text/html; charset=utf-8",
        "<!DOCTYPE html>\n<html>\n<head><title>Sign in</title></head>\n<body>\n\
         <h1>Sign in to continue</h1>\n<form method=\"post\" action=\"/login\">\n\
         <input name=\"username\"><input name=\"password\" type=\"password\">\n\
         <button type=\"submit\">Sign in</button>\n</form>\n</body>\n</html>\n",
    )
}

/// `content-type:TYPE`: a 200 that is not MCP.
pub(crate) fn wrong_content_type(content_type: &str) -> Response<Body> {
    build(
        200,
        content_type,
        "chaos: this is not an MCP response (content-type fault)\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_defaults_carry_the_documented_headers() {
        let r = status(503, &[], "http://127.0.0.1:1", "/mcp");
        assert_eq!(r.headers()["retry-after"], "1");
        let r = status(401, &[], "http://127.0.0.1:1", "/mcp");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer resource_metadata=\"http://127.0.0.1:1/.well-known/oauth-protected-resource\""
        );
        let r = status(503, &[("Retry-After".into(), "7".into())], "o", "/mcp");
        assert_eq!(
            r.headers()["retry-after"],
            "7",
            "extra headers replace defaults"
        );
    }
}
