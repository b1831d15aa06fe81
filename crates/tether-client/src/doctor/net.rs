//! The network rungs for a URL: DNS, then TCP. TLS is checked by the HTTP probe (the first
//! HTTPS request), whose failures are classified as `tls_failed`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use super::finding::{Finding, Rung, from_error};
use super::report::Phase;
use crate::error::{Error, NetworkKind, classify, fmt_duration};

/// What the network rungs found.
#[derive(Debug, Default)]
pub(crate) struct NetFacts {
    /// `dns` (for host names) and `connect`.
    pub phases: Vec<Phase>,
    /// The failure, when one rung failed.
    pub failure: Option<Finding>,
    /// The proxy variable in effect, when requests go through a proxy (the rungs are skipped:
    /// the proxy resolves and connects, not us).
    pub proxy: Option<&'static str>,
}

/// Resolves and connects to the URL's host, each step bounded by `budget`.
pub(crate) async fn check(url: &Url, budget: Duration) -> NetFacts {
    let mut facts = NetFacts::default();
    let Some(host) = url.host() else {
        return facts;
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let origin = crate::transport::http::origin_of(url);
    let loopback = match &host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    };
    if !loopback && let Some(var) = proxy_var(url.scheme()) {
        facts.proxy = Some(var);
        return facts;
    }
    let addrs: Vec<SocketAddr> = match &host {
        url::Host::Ipv4(ip) => vec![SocketAddr::new((*ip).into(), port)],
        url::Host::Ipv6(ip) => vec![SocketAddr::new((*ip).into(), port)],
        url::Host::Domain(domain) => {
            let start = Instant::now();
            let looked =
                tokio::time::timeout(budget, tokio::net::lookup_host((*domain, port))).await;
            let took = start.elapsed();
            let found: Vec<SocketAddr> = match looked {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(e)) => return fail(facts, "dns", took, dns_error(domain, &e)),
                Err(_) => {
                    let error = Error::Network {
                        kind: NetworkKind::DnsTemporary,
                        origin: origin.clone(),
                        detail: format!(
                            "no answer from the resolver within {}",
                            fmt_duration(budget)
                        ),
                    };
                    return fail(facts, "dns", took, error);
                }
            };
            if found.is_empty() {
                let error = Error::Dns {
                    host: (*domain).to_owned(),
                    detail: "no addresses".into(),
                };
                return fail(facts, "dns", took, error);
            }
            let shown: Vec<String> = found.iter().take(3).map(|a| a.ip().to_string()).collect();
            facts.phases.push(Phase::new(
                "dns",
                true,
                took,
                format!("{domain} → {}", shown.join(", ")),
            ));
            found
        }
    };
    let start = Instant::now();
    let connected = tokio::time::timeout(budget, tokio::net::TcpStream::connect(&addrs[..])).await;
    let took = start.elapsed();
    match connected {
        Ok(Ok(stream)) => {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| origin.clone());
            facts
                .phases
                .push(Phase::new("connect", true, took, format!("TCP to {peer}")));
            facts
        }
        Ok(Err(e)) => {
            let error = Error::Network {
                kind: classify::io_kind(&e),
                origin,
                detail: e.to_string(),
            };
            fail(facts, "connect", took, error)
        }
        Err(_) => {
            let error = Error::Network {
                kind: NetworkKind::Timeout,
                origin,
                detail: format!("TCP connect did not finish within {}", fmt_duration(budget)),
            };
            fail(facts, "connect", took, error)
        }
    }
}

fn fail(mut facts: NetFacts, phase: &'static str, took: Duration, error: Error) -> NetFacts {
    facts
        .phases
        .push(Phase::new(phase, false, took, error.to_string()));
    facts.failure = Some(from_error(Rung::Connect, &error));
    facts
}

fn dns_error(domain: &str, e: &std::io::Error) -> Error {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("temporary failure") || lower.contains("try again") {
        Error::Network {
            kind: NetworkKind::DnsTemporary,
            origin: domain.to_owned(),
            detail: text,
        }
    } else {
        Error::Dns {
            host: domain.to_owned(),
            detail: text,
        }
    }
}

/// The proxy variable reqwest would use for this scheme, when one is set.
fn proxy_var(scheme: &str) -> Option<&'static str> {
    let candidates: &[&'static str] = if scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    candidates
        .iter()
        .copied()
        .find(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::finding::code;

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let url: Url = format!("http://127.0.0.1:{port}/mcp").parse().expect("url");
        let facts = check(&url, Duration::from_secs(5)).await;
        assert_eq!(facts.phases.len(), 1);
        assert!(!facts.phases[0].ok);
        assert_eq!(
            facts.failure.map(|f| f.code),
            Some(code::CONNECTION_REFUSED)
        );
    }

    #[tokio::test]
    async fn localhost_resolves_and_connects() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let url: Url = format!("http://localhost:{port}/mcp").parse().expect("url");
        let facts = check(&url, Duration::from_secs(5)).await;
        let names: Vec<&str> = facts.phases.iter().map(|p| p.name).collect();
        assert!(facts.failure.is_none(), "{:?}", facts.phases);
        assert_eq!(names.last(), Some(&"connect"));
    }
}
