//! The HTTP client behind every HTTP transport and probe.
//!
//! Direct connections (loopback, or no proxy variable applies) go through hyper's pooled
//! client, with rustls for `https`. Connections a proxy variable routes, and URLs carrying
//! credentials, go through reqwest, whose proxy and userinfo support earns its cost there.
//! reqwest everywhere was simpler but not cheap: per request it parses the URL twice (in its
//! redirect layer and for its response) and builds a large future, an eighth of the gateway's
//! CPU on a remote server's hot path.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
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

/// Where requests go: the URL as configured and as hyper wants it.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    url: Url,
    uri: Uri,
}

impl Endpoint {
    pub(crate) fn new(url: &Url) -> Endpoint {
        let mut bare = url.clone();
        bare.set_fragment(None);
        // A URL the `url` crate accepted with an http(s) scheme is a valid URI; anything else
        // fails at send time with a clear error from the client.
        let uri = bare.as_str().parse().unwrap_or_default();
        Endpoint { url: bare, uri }
    }
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
        static DIRECT: OnceLock<Option<Direct>> = OnceLock::new();
        static PROXIED: OnceLock<reqwest::Client> = OnceLock::new();
        let url = &endpoint.url;
        let credentials = !url.username().is_empty() || url.password().is_some();
        let proxied = !is_loopback(url) && proxies().intercept(&endpoint.uri).is_some();
        match DIRECT.get_or_init(direct_client) {
            Some(direct) if !credentials && !proxied => HttpClient::Direct(direct),
            _ => HttpClient::Proxied(PROXIED.get_or_init(reqwest_client)),
        }
    }

    /// Sends a request and returns once the response headers are in.
    pub(crate) async fn send(&self, req: Request) -> Result<Response, NetError> {
        let mut req = req.inner;
        req.headers_mut()
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(AGENT));
        match self {
            HttpClient::Direct(client) => {
                let resp = client.request(req.map(Full::new)).await?;
                let (parts, body) = resp.into_parts();
                Ok(Response {
                    parts,
                    body: Body::Direct(body),
                })
            }
            HttpClient::Proxied(client) => {
                let resp = Box::pin(client.execute(reqwest::Request::try_from(req)?)).await?;
                let (parts, body) = http::Response::<reqwest::Body>::from(resp).into_parts();
                Ok(Response {
                    parts,
                    body: Body::Proxied(body),
                })
            }
        }
    }
}

/// A request being built.
#[derive(Debug)]
pub(crate) struct Request {
    inner: http::Request<Bytes>,
}

impl Request {
    pub(crate) fn new(method: Method, endpoint: &Endpoint) -> Request {
        let mut inner = http::Request::new(Bytes::new());
        *inner.method_mut() = method;
        *inner.uri_mut() = endpoint.uri.clone();
        Request { inner }
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

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
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
