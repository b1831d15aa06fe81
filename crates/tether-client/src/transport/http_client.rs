//! The HTTP client behind every HTTP transport and probe.
//!
//! Direct connections (loopback, or no proxy variable applies) go through hyper's pooled
//! client, with rustls for `https`. Connections a proxy variable routes go through reqwest,
//! whose proxy support earns its cost there.
//! reqwest everywhere was simpler but not cheap: per request it parses the URL twice (in its
//! redirect layer and for its response) and builds a large future, an eighth of the gateway's
//! CPU on a remote server's hot path.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::Url;

/// An error from below HTTP (connect, TLS, a dropped body); classified by the caller.
pub(crate) type NetError = Box<dyn std::error::Error + Send + Sync>;

type Direct = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

const AGENT: &str = concat!("tether/", env!("CARGO_PKG_VERSION"));
const POOL_IDLE: Duration = Duration::from_secs(90);
const MAX_REDIRECTS: usize = 5;
const REDIRECT_BODY: usize = 64 * 1024;

/// Where requests go, as hyper wants it.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    uri: Uri,
    /// `Authorization: Basic …` from credentials in the URL (`https://user:pass@host/…`).
    basic_auth: Option<HeaderValue>,
}

impl Endpoint {
    pub(crate) fn new(url: &Url) -> Endpoint {
        let mut bare = url.clone();
        bare.set_fragment(None);
        let basic_auth = basic_auth(url);
        // Neither client turns userinfo into a header, and it must not reach a request line.
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        // A URL the `url` crate accepted with an http(s) scheme is a valid URI; anything else
        // fails at send time with a clear error from the client.
        let uri = bare.as_str().parse().unwrap_or_default();
        Endpoint { uri, basic_auth }
    }
}

/// The header a browser sends for `user:pass@` in a URL (both parts percent-decoded).
fn basic_auth(url: &Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or("")));
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// One of the two process-wide clients (each keeps its own connection pool).
#[derive(Clone, Copy, Debug)]
pub(crate) enum HttpClient {
    Direct(&'static Direct),
    Proxied(&'static reqwest::Client),
}

impl HttpClient {
    /// The client for an endpoint, chosen once per connection.
    pub(crate) fn for_endpoint(endpoint: &Endpoint) -> HttpClient {
        HttpClient::for_uri(&endpoint.uri)
    }

    fn for_uri(uri: &Uri) -> HttpClient {
        static DIRECT: OnceLock<Option<Direct>> = OnceLock::new();
        static PROXIED: OnceLock<reqwest::Client> = OnceLock::new();
        let proxied = !is_loopback(uri) && proxies().intercept(uri).is_some();
        match DIRECT.get_or_init(direct_client) {
            Some(direct) if !proxied => HttpClient::Direct(direct),
            _ => HttpClient::Proxied(PROXIED.get_or_init(reqwest_client)),
        }
    }

    /// Sends a request and returns once the response headers are in. A 307 or 308 is followed
    /// (at most five times) with the same method and body, as browsers and the official SDKs
    /// do: servers mounted at `/mcp/` commonly redirect `/mcp` that way. Other redirects would
    /// turn a POST into a GET, so they come back to the caller as they are.
    pub(crate) async fn send(&self, req: Request) -> Result<Response, NetError> {
        let Request {
            inner: mut req,
            basic_auth,
        } = req;
        req.headers_mut()
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(AGENT));
        // A configured `Authorization` header wins over credentials in the URL.
        if let Some(value) = basic_auth {
            req.headers_mut().entry(AUTHORIZATION).or_insert(value);
        }
        let (mut head, body) = req.into_parts();
        let mut client = *self;
        let mut redirects = 0;
        loop {
            let mut resp = client
                .send_once(http::Request::from_parts(head.clone(), body.clone()))
                .await?;
            let target = match resp.status() {
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
                    if redirects < MAX_REDIRECTS =>
                {
                    resp.header("location")
                        .and_then(|l| redirect_target(&head.uri, &l))
                }
                _ => None,
            };
            let Some(next) = target else {
                if redirects > 0 {
                    resp.redirected_to = Some(head.uri);
                }
                return Ok(resp);
            };
            if next.authority() != head.uri.authority() || next.scheme() != head.uri.scheme() {
                // Credentials stay with the origin they were configured for; whether a proxy
                // applies is decided again for the new host.
                head.headers.remove(AUTHORIZATION);
                head.headers.remove(http::header::COOKIE);
                client = HttpClient::for_uri(&next);
            }
            // Drained, the connection goes back to the pool; a redirect's body is tiny.
            let _ = resp.read_limited(REDIRECT_BODY).await;
            head.uri = next;
            redirects += 1;
        }
    }

    async fn send_once(&self, req: http::Request<Bytes>) -> Result<Response, NetError> {
        match self {
            HttpClient::Direct(client) => {
                let resp = client.request(req.map(Full::new)).await?;
                let (parts, body) = resp.into_parts();
                Ok(Response {
                    parts,
                    body: Body::Direct(body),
                    redirected_to: None,
                })
            }
            HttpClient::Proxied(client) => {
                let resp = Box::pin(client.execute(reqwest::Request::try_from(req)?)).await?;
                let (parts, body) = http::Response::<reqwest::Body>::from(resp).into_parts();
                Ok(Response {
                    parts,
                    body: Body::Proxied(body),
                    redirected_to: None,
                })
            }
        }
    }
}

/// Where a `Location` header points, when it is an http(s) URL that does not downgrade
/// `https` to `http`.
fn redirect_target(base: &Uri, location: &str) -> Option<Uri> {
    let base = Url::parse(&base.to_string()).ok()?;
    let mut next = base.join(location).ok()?;
    next.set_fragment(None);
    let allowed = matches!(
        (base.scheme(), next.scheme()),
        ("https", "https") | ("http", "http" | "https")
    );
    if !allowed || !next.username().is_empty() || next.password().is_some() {
        return None;
    }
    next.as_str().parse().ok()
}

/// A request being built.
#[derive(Debug)]
pub(crate) struct Request {
    inner: http::Request<Bytes>,
    basic_auth: Option<HeaderValue>,
}

impl Request {
    pub(crate) fn new(method: Method, endpoint: &Endpoint) -> Request {
        let mut inner = http::Request::new(Bytes::new());
        *inner.method_mut() = method;
        *inner.uri_mut() = endpoint.uri.clone();
        Request {
            inner,
            basic_auth: endpoint.basic_auth.clone(),
        }
    }

    /// Adds the configured headers (already validated).
    pub(crate) fn headers(mut self, headers: &HeaderMap) -> Request {
        for (name, value) in headers {
            self.inner.headers_mut().append(name, value.clone());
        }
        self
    }

    /// Sets a header; a value that cannot be a header value (one a server sent us, say) is
    /// left out rather than failing the request.
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Request {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.inner
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Bytes>) -> Request {
        *self.inner.body_mut() = body.into();
        self
    }
}

/// A response whose body is read as it arrives.
#[derive(Debug)]
pub(crate) struct Response {
    parts: http::response::Parts,
    body: Body,
    /// The URL that answered, when 307/308 redirects were followed to get there.
    redirected_to: Option<Uri>,
}

#[derive(Debug)]
enum Body {
    Direct(hyper::body::Incoming),
    Proxied(reqwest::Body),
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the cap.
    TooLarge,
    /// The connection failed mid-body.
    Net(NetError),
}

impl Response {
    pub(crate) fn status(&self) -> StatusCode {
        self.parts.status
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The URL that answered, when it is not the one asked (307/308 followed).
    pub(crate) fn redirected_to(&self) -> Option<&Uri> {
        self.redirected_to.as_ref()
    }

    /// A header as text, when present and printable.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The next piece of the body; `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, NetError> {
        loop {
            let frame = match &mut self.body {
                Body::Direct(b) => b.frame().await.transpose()?,
                Body::Proxied(b) => b.frame().await.transpose()?,
            };
            match frame {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    } // trailers carry nothing for us
                }
            }
        }
    }

    /// The whole body, refused past `cap` bytes.
    pub(crate) async fn read_capped(mut self, cap: usize) -> Result<Bytes, BodyError> {
        let too_large = |n: usize| {
            if n > cap {
                Err(BodyError::TooLarge)
            } else {
                Ok(())
            }
        };
        let Some(first) = self.chunk().await.map_err(BodyError::Net)? else {
            return Ok(Bytes::new());
        };
        too_large(first.len())?;
        // Most bodies arrive in one piece, which needs no copy.
        let Some(second) = self.chunk().await.map_err(BodyError::Net)? else {
            return Ok(first);
        };
        let mut out = Vec::with_capacity(first.len() + second.len());
        out.extend_from_slice(&first);
        out.extend_from_slice(&second);
        too_large(out.len())?;
        while let Some(chunk) = self.chunk().await.map_err(BodyError::Net)? {
            out.extend_from_slice(&chunk);
            too_large(out.len())?;
        }
        Ok(Bytes::from(out))
    }

    /// At most the first `limit` bytes of the body; a failure mid-body ends it early.
    pub(crate) async fn read_limited(mut self, limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while let Ok(Some(chunk)) = self.chunk().await {
            out.extend_from_slice(&chunk);
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
        }
        out
    }
}

fn is_loopback(uri: &Uri) -> bool {
    let Some(host) = uri.host() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().map_or_else(
        |_| bare.eq_ignore_ascii_case("localhost"),
        |ip| ip.is_loopback(),
    )
}

/// The proxy variables (`HTTPS_PROXY`, `NO_PROXY`, …), read once as reqwest reads them.
fn proxies() -> &'static Matcher {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    MATCHER.get_or_init(Matcher::from_env)
}

/// `None` only if rustls cannot be set up, in which case reqwest serves every request.
fn direct_client() -> Option<Direct> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config()?)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Some(
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(https),
    )
}

/// The platform's roots and the bundled Mozilla roots together, as reqwest does.
fn tls_config() -> Option<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?;
    Some(builder.with_root_certificates(roots).with_no_client_auth())
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        // A redirected POST would lose its body, and MCP endpoints do not move.
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_idle_timeout(POOL_IDLE)
        .user_agent(AGENT)
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Sends one POST to a real socket and returns the request head the server saw.
    async fn head_seen(url: &str, configured: &[(&str, &str)]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                assert!(n > 0, "connection closed before the request head ended");
                head.extend_from_slice(&buf[..n]);
            }
            sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&head).to_lowercase()
        });
        let url = Url::parse(&url.replace("PORT", &port.to_string())).unwrap();
        let endpoint = Endpoint::new(&url);
        let mut headers = HeaderMap::new();
        for (k, v) in configured {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let req = Request::new(Method::POST, &endpoint)
            .headers(&headers)
            .body("{}");
        let resp = HttpClient::for_endpoint(&endpoint).send(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        server.await.unwrap()
    }

    /// A server that answers `/old*` paths with `status` to `location`, everything else 200,
    /// and records every request (head and body) it saw.
    async fn redirecting_server(
        status: u16,
        location: &'static str,
    ) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        while buf.len() < end + 4 + len {
                            let n = sock.read(&mut chunk).await.unwrap();
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]);
                        tx.send(format!("{head}\n\n{body}")).unwrap();
                        buf.drain(..end + 4 + len);
                        let answer = if head.split(' ').nth(1).unwrap().starts_with("/old") {
                            format!(
                                "HTTP/1.1 {status} X\r\nlocation: {location}\r\n\
                                 content-length: 5\r\n\r\nmoved"
                            )
                        } else {
                            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned()
                        };
                        sock.write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        (port, rx)
    }

    async fn post(url: &str, auth: Option<&str>) -> Response {
        let endpoint = Endpoint::new(&Url::parse(url).unwrap());
        let mut req = Request::new(Method::POST, &endpoint).body("{\"id\":1}");
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        HttpClient::for_endpoint(&endpoint).send(req).await.unwrap()
    }

    #[tokio::test]
    async fn a_307_or_308_is_followed_with_the_same_method_and_body() {
        for status in [307, 308] {
            let (port, mut seen) = redirecting_server(status, "/new/mcp/").await;
            let resp = post(
                &format!("http://127.0.0.1:{port}/old/mcp"),
                Some("Bearer t"),
            )
            .await;
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(
                resp.redirected_to().map(ToString::to_string),
                Some(format!("http://127.0.0.1:{port}/new/mcp/"))
            );
            let first = seen.recv().await.unwrap();
            let second = seen.recv().await.unwrap();
            assert!(first.starts_with("post /old/mcp "), "{first}");
            assert!(second.starts_with("post /new/mcp/ "), "{second}");
            // Same origin: the credentials go along; the body is sent again.
            assert!(second.contains("authorization: bearer t"), "{second}");
            assert!(second.ends_with("{\"id\":1}"), "{second}");
        }
    }

    #[tokio::test]
    async fn credentials_do_not_follow_a_redirect_to_another_origin() {
        let (target, mut at_target) = redirecting_server(307, "/unused").await;
        let location: &'static str =
            Box::leak(format!("http://localhost:{target}/mcp").into_boxed_str());
        let (port, mut at_first) = redirecting_server(307, location).await;
        let resp = post(&format!("http://127.0.0.1:{port}/old"), Some("Bearer t")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(at_first.recv().await.unwrap().contains("authorization"));
        let second = at_target.recv().await.unwrap();
        assert!(second.starts_with("post /mcp "), "{second}");
        assert!(!second.contains("authorization"), "{second}");
    }

    #[tokio::test]
    async fn other_redirects_and_loops_come_back_as_they_are() {
        let (port, mut seen) = redirecting_server(301, "/new").await;
        let resp = post(&format!("http://127.0.0.1:{port}/old"), None).await;
        assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
        assert!(resp.redirected_to().is_none());
        assert!(seen.recv().await.unwrap().starts_with("post /old "));
        assert!(seen.try_recv().is_err(), "a 301 is not followed");

        let (port, mut seen) = redirecting_server(308, "/old-again").await;
        let resp = post(&format!("http://127.0.0.1:{port}/old"), None).await;
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
        let mut requests = 0;
        while seen.try_recv().is_ok() {
            requests += 1;
        }
        assert_eq!(
            requests,
            1 + MAX_REDIRECTS,
            "a loop stops after {MAX_REDIRECTS} hops"
        );
    }

    #[test]
    fn redirect_targets_never_downgrade_or_carry_credentials() {
        let base: Uri = "https://h.example/mcp".parse().unwrap();
        let to = |l: &str| redirect_target(&base, l).map(|u| u.to_string());
        assert_eq!(to("/mcp/").as_deref(), Some("https://h.example/mcp/"));
        assert_eq!(to("mcp/x#f").as_deref(), Some("https://h.example/mcp/x"));
        assert_eq!(to("http://h.example/mcp"), None);
        assert_eq!(to("https://u:p@h.example/mcp"), None);
        assert_eq!(to("ftp://h.example/"), None);
        let plain: Uri = "http://h.example/mcp".parse().unwrap();
        assert!(redirect_target(&plain, "https://h.example/mcp").is_some());
    }

    #[tokio::test]
    async fn url_credentials_become_basic_auth_and_leave_the_request_line() {
        let head = head_seen("http://us%20er:p%40ss@127.0.0.1:PORT/mcp#frag", &[]).await;
        // base64("us er:p@ss")
        assert!(
            head.contains("authorization: basic dxmgzxi6cebzcw=="),
            "{head}"
        );
        assert!(head.starts_with("post /mcp http/1.1\r\n"), "{head}");
        assert!(!head.contains("p%40ss") && !head.contains("frag"), "{head}");
    }

    #[tokio::test]
    async fn a_configured_authorization_header_wins_over_url_credentials() {
        let head = head_seen(
            "http://user:pass@127.0.0.1:PORT/mcp",
            &[("authorization", "Bearer tok")],
        )
        .await;
        assert!(head.contains("authorization: bearer tok"), "{head}");
        assert!(!head.contains("basic"), "{head}");
    }

    #[tokio::test]
    async fn no_credentials_no_authorization_header() {
        let head = head_seen("http://127.0.0.1:PORT/mcp", &[]).await;
        assert!(!head.contains("authorization"), "{head}");
        assert!(head.contains("user-agent: tether/"), "{head}");
    }
}
