//! The doctor's report: phases with timings, the transport matrix, findings, and the verdict
//! with the first failing layer. Its JSON is the `tether doctor --json` contract (CONTRACT §6).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};
use tether_proto::mcp::Implementation;

use super::finding::{Finding, Layer, Severity};

/// The overall answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every phase passed and nothing worth a warning was seen.
    Healthy,
    /// Every phase passed, but something will bite some client.
    Degraded,
    /// A phase failed, or something real clients fail on was seen.
    Broken,
}

impl Verdict {
    /// `healthy`, `degraded` or `broken`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Broken => "broken",
        }
    }
}

/// One rung of the ladder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phase {
    /// `config`, `spawn`, `dns`, `connect`, `http`, `sse stream`, `initialize`, `initialized`,
    /// `tools/list`, `ping`, `tools/call`.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took, in milliseconds (0.1 ms resolution).
    #[serde(serialize_with = "ms")]
    pub ms: Duration,
    /// What was seen, one line.
    pub detail: String,
    /// The HTTP answer, for the `http` phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpEvidence>,
}

impl Phase {
    /// A phase without HTTP evidence.
    pub fn new(name: &'static str, ok: bool, took: Duration, detail: impl Into<String>) -> Self {
        Phase {
            name,
            ok,
            ms: took,
            detail: detail.into(),
            http: None,
        }
    }

    /// Milliseconds, rounded to 0.1.
    pub fn millis(&self) -> f64 {
        round_ms(self.ms)
    }
}

/// What an HTTP answer looked like.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HttpEvidence {
    /// The status code.
    pub status: u16,
    /// The media type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Headers worth seeing (`server`, `via`, `www-authenticate`, `retry-after`, request ids;
    /// `mcp-session-id` as `present`, never its value).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The first 200 bytes of a body that is not MCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_preview: Option<String>,
}

/// Whether a transport (or an HTTP rule) is supported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Support {
    /// Seen working.
    Yes,
    /// Seen not working.
    No,
    /// Not observable from here.
    Unknown,
}

/// One line of the transport matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatrixLine {
    /// What was probed, e.g. `Streamable HTTP, JSON responses`.
    pub name: &'static str,
    /// The answer.
    pub supported: Support,
    /// The evidence.
    pub detail: String,
}

/// Everything the doctor found about one server.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The server name.
    pub server: String,
    /// `stdio`, `http` or `sse`.
    pub transport: &'static str,
    /// The command line or URL (redacted).
    pub target: String,
    /// The answer.
    pub verdict: Verdict,
    /// Where the first failure is (`none` when healthy).
    pub layer: Layer,
    /// The ladder, in order, up to the first failing phase.
    pub phases: Vec<Phase>,
    /// What was concluded, in ladder order.
    pub findings: Vec<Finding>,
    /// The last lines of the server's stderr (stdio).
    pub stderr_tail: Vec<String>,
    /// For URLs: which transports the endpoint speaks, and its HTTP hygiene.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matrix: Vec<MatrixLine>,
    /// The negotiated protocol revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// `serverInfo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_info: Option<Implementation>,
    /// Tools listed (raw count, malformed ones included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<usize>,
    /// The whole check, in milliseconds.
    #[serde(serialize_with = "ms")]
    pub elapsed_ms: Duration,
}

impl Report {
    /// A report with nothing in it yet.
    pub(crate) fn new(server: String, transport: &'static str, target: String) -> Self {
        Report {
            server,
            transport,
            target,
            verdict: Verdict::Healthy,
            layer: Layer::None,
            phases: Vec::new(),
            findings: Vec::new(),
            stderr_tail: Vec::new(),
            matrix: Vec::new(),
            protocol_version: None,
            server_info: None,
            tools: None,
            elapsed_ms: Duration::ZERO,
        }
    }

    /// Sets the verdict and the layer from the phases and findings.
    ///
    /// `broken` when a phase failed or a finding is an error; `degraded` when a finding is a
    /// warning; the layer is that of the first error finding (else the first warning) in
    /// ladder order.
    pub(crate) fn conclude(&mut self) {
        let first = |sev: Severity| self.findings.iter().find(|f| f.severity == sev);
        let failed = self.phases.iter().any(|p| !p.ok);
        let (verdict, finding) = match (first(Severity::Error), first(Severity::Warning)) {
            (Some(e), _) => (Verdict::Broken, Some(e)),
            (None, w) if failed => (Verdict::Broken, w),
            (None, Some(w)) => (Verdict::Degraded, Some(w)),
            (None, None) => (Verdict::Healthy, None),
        };
        self.verdict = verdict;
        self.layer = match finding {
            Some(f) => f.layer(),
            None if failed => Layer::Server,
            None => Layer::None,
        };
    }

    /// The process exit code: 0 healthy, 2 when the configuration entry is unusable, else 1.
    pub fn exit_code(&self) -> u8 {
        // CONTRACT §6: any verdict but healthy is 1; 2 is kept for usage and unreadable files,
        // which never get this far.
        match self.verdict {
            Verdict::Healthy => 0,
            Verdict::Degraded | Verdict::Broken => 1,
        }
    }

    /// True when every phase that ran passed.
    pub fn all_phases_passed(&self) -> bool {
        self.phases.iter().all(|p| p.ok)
    }

    /// Passes every string through `redact` (the server's secrets filter).
    pub(crate) fn redact(&mut self, redact: &dyn Fn(&str) -> String) {
        self.target = redact(&self.target);
        for p in &mut self.phases {
            p.detail = redact(&p.detail);
            if let Some(h) = &mut p.http {
                for v in h.headers.values_mut() {
                    *v = redact(v);
                }
                if let Some(b) = &mut h.body_preview {
                    *b = redact(b);
                }
            }
        }
        for f in &mut self.findings {
            f.message = redact(&f.message);
            if let Some(h) = &mut f.hint {
                *h = redact(h);
            }
        }
        for l in &mut self.stderr_tail {
            *l = redact(l);
        }
        for m in &mut self.matrix {
            m.detail = redact(&m.detail);
        }
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_ms(*d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::finding::code;

    fn report(phases: &[bool], findings: &[(&'static str, Severity)]) -> Report {
        let mut r = Report::new("s".into(), "stdio", "cmd".into());
        for (i, ok) in phases.iter().enumerate() {
            let name = ["spawn", "initialize", "tools/list"][i];
            r.phases
                .push(Phase::new(name, *ok, Duration::from_micros(1234), ""));
        }
        for (c, sev) in findings {
            r.findings.push(Finding::new(c, *sev, "m", "h"));
        }
        r.conclude();
        r
    }

    #[test]
    fn verdict_and_layer_follow_the_first_error_then_the_first_warning() {
        let r = report(&[true, true], &[]);
        assert_eq!(
            (r.verdict, r.layer, r.exit_code()),
            (Verdict::Healthy, Layer::None, 0)
        );
        let r = report(&[true], &[(code::NO_TOOLS, Severity::Info)]);
        assert_eq!(r.verdict, Verdict::Healthy);
        let r = report(
            &[true, true],
            &[
                (code::ENV_VAR_MISSING, Severity::Warning),
                (code::STDOUT_NOT_JSON, Severity::Warning),
            ],
        );
        assert_eq!(
            (r.verdict, r.layer, r.exit_code()),
            (Verdict::Degraded, Layer::Config, 1)
        );
        let r = report(
            &[true, false],
            &[
                (code::ENV_VAR_MISSING, Severity::Warning),
                (code::PROCESS_EXITED, Severity::Error),
            ],
        );
        assert_eq!(
            (r.verdict, r.layer, r.exit_code()),
            (Verdict::Broken, Layer::Process, 1)
        );
        let r = report(&[false], &[(code::CONFIG_INVALID, Severity::Error)]);
        assert_eq!(
            (r.verdict, r.layer, r.exit_code()),
            (Verdict::Broken, Layer::Config, 1)
        );
    }

    #[test]
    fn json_has_the_contract_shape() {
        let r = report(&[true], &[(code::STDOUT_NOT_JSON, Severity::Warning)]);
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["verdict"], "degraded");
        assert_eq!(v["layer"], "process");
        assert_eq!(v["phases"][0]["ms"], 1.2);
        assert_eq!(v["phases"][0]["ok"], true);
        assert_eq!(v["findings"][0]["code"], "stdout_not_json");
        assert_eq!(v["findings"][0]["severity"], "warning");
        assert!(v["stderr_tail"].is_array());
        assert!(v.get("matrix").is_none());
    }

    #[test]
    fn redaction_reaches_every_string() {
        let mut r = report(&[true], &[(code::HTTP_SERVER_ERROR, Severity::Error)]);
        r.target = "http://h/?k=SECRET".into();
        r.phases[0].detail = "SECRET".into();
        r.findings[0].message = "token SECRET".into();
        r.stderr_tail = vec!["SECRET".into()];
        r.redact(&|s: &str| s.replace("SECRET", "****"));
        let text = serde_json::to_string(&r).expect("json");
        assert!(!text.contains("SECRET"), "{text}");
    }
}
