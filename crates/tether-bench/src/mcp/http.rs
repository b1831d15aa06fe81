//! MCP over Streamable HTTP: one session on one keep-alive connection (TCP_NODELAY), one
//! request in flight, answers as JSON or SSE, each answer checked to hold the request's id once.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;

use super::{CallError, Head, id_of, next_id, notification_json, preview, request_json};

/// `host:port` and path of an `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `host:port`.
    pub hostport: String,
    /// The path (with query), at least `/`.
    pub path: String,
}

impl Url {
    /// Parses `http://HOST:PORT/PATH`.
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{url}`: only http:// URLs are supported"))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if hostport.is_empty() {
            return Err(format!("`{url}`: no host"));
        }
        let hostport = if hostport.contains(':') {
            hostport.to_owned()
        } else {
            format!("{hostport}:80")
        };
        Ok(Url {
            hostport,
            path: path.to_owned(),
        })
    }
}

/// What one POST brought back for the request it carried.
#[derive(Debug)]
pub struct Answer {
    /// The response message with the wanted id.
    pub msg: Vec<u8>,
    /// How many responses with that id arrived (1 unless something duplicated it).
    pub copies: u32,
    /// Responses with other ids in the same answer.
    pub foreign: u32,
}

/// One Streamable HTTP session on one keep-alive connection.
#[derive(Debug)]
pub struct HttpSession {
    url: Url,
    sender: Option<SendRequest<Full<Bytes>>>,
    session: Option<String>,
    pub(super) protocol: Option<String>,
    /// Times the connection had to be opened again.
    pub reconnects: u64,
}

async fn connect(hostport: &str) -> Result<SendRequest<Full<Bytes>>, CallError> {
    let sock = tokio::net::TcpStream::connect(hostport)
        .await
        .map_err(|e| CallError::Transport(format!("connect {hostport}: {e}")))?;
    let _ = sock.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(sock))
        .await
        .map_err(|e| CallError::Transport(format!("HTTP handshake: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Collects every JSON-RPC message of a JSON body (one message or a batch).
fn messages_of_json<'a>(body: &'a [u8], out: &mut Vec<&'a RawValue>) -> Result<(), CallError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<&RawValue> = serde_json::from_slice(body)
            .map_err(|e| CallError::Bad(format!("bad JSON batch ({e}): {}", preview(body))))?;
        out.extend(items);
    } else {
        let one: &RawValue = serde_json::from_slice(body)
            .map_err(|e| CallError::Bad(format!("bad JSON body ({e}): {}", preview(body))))?;
        out.push(one);
    }
    Ok(())
}

impl HttpSession {
    /// A session to `url`, not yet connected.
    pub fn new(url: Url) -> HttpSession {
        HttpSession {
            url,
            sender: None,
            session: None,
            protocol: None,
            reconnects: 0,
        }
    }

    fn build(&self, method: hyper::Method, body: Bytes) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        if let Ok(uri) = self.url.path.parse() {
            *req.uri_mut() = uri;
        }
        let h = req.headers_mut();
        let put = |h: &mut hyper::HeaderMap, k: &'static str, v: &str| {
            if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        };
        put(h, "host", &self.url.hostport);
        put(h, "content-type", "application/json");
        put(h, "accept", "application/json, text/event-stream");
        if let Some(s) = &self.session {
            put(h, "mcp-session-id", s);
        }
        if let Some(p) = &self.protocol {
            put(h, "mcp-protocol-version", p);
        }
        req
    }

    /// Sends a request on the kept-alive connection, opening one when needed. A request is
    /// sent again on a new connection only when the old one provably never took it.
    async fn send(
        &mut self,
        method: hyper::Method,
        body: Bytes,
    ) -> Result<hyper::Response<hyper::body::Incoming>, CallError> {
        let mut req = self.build(method, body);
        for _ in 0..2 {
            if self.sender.is_none() {
                self.sender = Some(connect(&self.url.hostport).await?);
                self.reconnects += 1;
            }
            let Some(sender) = self.sender.as_mut() else {
                continue;
            };
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => {
                    self.sender = None;
                    match e.take_message() {
                        Some(unsent) => req = unsent,
                        None => return Err(CallError::Transport(format!("send: {}", e.error()))),
                    }
                }
            }
        }
        Err(CallError::Transport(format!(
            "cannot reach {}",
            self.url.hostport
        )))
    }

    /// POSTs one request and returns the answer with id `want` (JSON or SSE).
    async fn post_request(&mut self, body: Bytes, want: u64) -> Result<Answer, CallError> {
        let resp = self.send(hyper::Method::POST, body).await?;
        let status = resp.status();
        if let Some(sid) = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(sid.to_owned());
        }
        let sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/event-stream"));
        let mut body = resp.into_body();
        if !status.is_success() || status == StatusCode::ACCEPTED {
            let b = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Err(CallError::Http(status.as_u16(), preview(&b)));
        }
        let mut answer = Answer {
            msg: Vec::new(),
            copies: 0,
            foreign: 0,
        };
        let take = |raw: &[u8], answer: &mut Answer| -> Result<(), CallError> {
            let mut msgs = Vec::new();
            messages_of_json(raw, &mut msgs)?;
            for m in msgs {
                let head: Head<'_> = serde_json::from_str(m.get())
                    .map_err(|e| CallError::Bad(format!("{e}: {}", preview(raw))))?;
                if head.method.is_some() {
                    continue; // a notification or server request on the stream
                }
                if id_of(head.id) == Some(want) {
                    answer.copies += 1;
                    if answer.copies == 1 {
                        answer.msg = m.get().as_bytes().to_vec();
                    }
                } else {
                    answer.foreign += 1;
                }
            }
            Ok(())
        };
        if sse {
            let mut dec = tether_proto::sse::SseDecoder::default();
            // Once the answer is in, wait a little for the stream to end (a second copy would
            // show there); a server that keeps it open loses the connection instead.
            let mut linger: Option<tokio::time::Instant> = None;
            loop {
                let next = match linger {
                    None => body.frame().await,
                    Some(at) => match tokio::time::timeout_at(at, body.frame()).await {
                        Ok(next) => next,
                        Err(_) => {
                            self.sender = None;
                            break;
                        }
                    },
                };
                let Some(frame) = next else { break };
                let frame = frame.map_err(|e| CallError::Transport(format!("SSE body: {e}")))?;
                if let Some(d) = frame.data_ref() {
                    dec.push(d);
                    while let Some(item) = dec.next_item() {
                        if let tether_proto::sse::SseItem::Event(ev) = item {
                            take(ev.data.as_bytes(), &mut answer)?;
                        }
                    }
                }
                if answer.copies > 0 && linger.is_none() {
                    linger = Some(tokio::time::Instant::now() + Duration::from_secs(1));
                }
            }
        } else {
            let b = body
                .collect()
                .await
                .map_err(|e| CallError::Transport(format!("body: {e}")))?
                .to_bytes();
            take(&b, &mut answer)?;
        }
        if answer.copies == 0 {
            return Err(CallError::Bad(
                "the answer did not hold the request's id".into(),
            ));
        }
        Ok(answer)
    }

    /// Sends a request and waits (up to `timeout`) for its answer.
    pub async fn request_full(
        &mut self,
        method: &str,
        params_json: &str,
        timeout: Duration,
    ) -> Result<Answer, CallError> {
        let id = next_id();
        let body = Bytes::from(request_json(id, method, params_json));
        match tokio::time::timeout(timeout, self.post_request(body, id)).await {
            Ok(r) => r,
            Err(_) => {
                // The answer may still come on this connection: never reuse it.
                self.sender = None;
                Err(CallError::Timeout)
            }
        }
    }

    /// Sends a request and returns the raw answer message.
    pub async fn request(
        &mut self,
        method: &str,
        params_json: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        self.request_full(method, params_json, timeout)
            .await
            .map(|a| a.msg)
    }

    /// Sends a notification (expects 202).
    pub async fn notify(&mut self, method: &str, timeout: Duration) -> Result<(), CallError> {
        let body = Bytes::from(notification_json(method));
        let fut = async {
            let resp = self.send(hyper::Method::POST, body).await?;
            let status = resp.status();
            let b = resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            if status.is_success() {
                Ok(())
            } else {
                Err(CallError::Http(status.as_u16(), preview(&b)))
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }

    /// Ends the session with DELETE (best effort, one second).
    pub async fn delete(&mut self) {
        if self.session.is_none() {
            return;
        }
        let fut = async {
            if let Ok(resp) = self.send(hyper::Method::DELETE, Bytes::new()).await {
                let _ = resp.into_body().collect().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), fut).await;
    }

    /// A plain GET of another path on the same server (e.g. `/status`), on its own connection.
    pub async fn get(url: &Url, path: &str, timeout: Duration) -> Result<Vec<u8>, CallError> {
        let fut = async {
            let mut sender = connect(&url.hostport).await?;
            let mut req = Request::new(Full::new(Bytes::new()));
            if let Ok(uri) = path.parse() {
                *req.uri_mut() = uri;
            }
            if let Ok(h) = hyper::header::HeaderValue::from_str(&url.hostport) {
                req.headers_mut().insert("host", h);
            }
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| CallError::Transport(format!("GET {path}: {e}")))?;
            let status = resp.status();
            let b = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| CallError::Transport(format!("GET {path}: {e}")))?
                .to_bytes();
            if status.is_success() {
                Ok(b.to_vec())
            } else {
                Err(CallError::Http(status.as_u16(), preview(&b)))
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("http://127.0.0.1:7/mcp").unwrap();
        assert_eq!(
            (u.hostport.as_str(), u.path.as_str()),
            ("127.0.0.1:7", "/mcp")
        );
        assert_eq!(Url::parse("http://h").unwrap().hostport, "h:80");
        assert!(Url::parse("https://h/mcp").is_err());
        assert!(Url::parse("http:///mcp").is_err());
    }
}
