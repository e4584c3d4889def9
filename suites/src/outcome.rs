//! The result of one check.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::suite::Check;

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    /// The target lacks what the check needs (no TLS endpoint, no broker); `got` says why.
    Skipped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        })
    }
}

/// How much a failed check matters to someone running the deployment.
///
/// `critical`: the deployment does not work for its users (login, uploads, indexing);
/// `major`: a feature or a security property is broken; `minor`: a deviation with a workaround
/// or a hardening gap; `info`: worth knowing, never a failure by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Major,
    Minor,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Major,
        Severity::Minor,
        Severity::Info,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                format!("unknown severity `{s}`; expected critical, major, minor or info")
            })
    }
}

/// One check's verdict, with what it asked, what it expected and what it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// `suite.check`, e.g. `cors.console-preflight`.
    pub check: String,
    pub status: Status,
    /// How much a failure of this check matters (the check's own, unless the outcome says more).
    pub severity: Severity,
    /// Where the check looked (secrets redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub expected: String,
    pub got: String,
    /// Raw observations backing the verdict: status lines, headers, log lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// Facts learnt on the way that a report shows (the api version, worker names).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    pub duration_ms: u64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.status == Status::Passed
    }

    pub fn suite(&self) -> &str {
        self.check.split('.').next().unwrap_or(&self.check)
    }
}

/// A failed check reads: which check, against which URL, expected what, got what.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.check, self.status, self.severity)?;
        if let Some(url) = &self.url {
            write!(f, " against {url}")?;
        }
        write!(f, ": expected {}; got {}", self.expected, self.got)?;
        for line in &self.evidence {
            write!(f, "\n    | {line}")?;
        }
        Ok(())
    }
}

/// Builds an [`Outcome`] while a check runs, timing it from creation.
pub(crate) struct Probe {
    check: &'static str,
    severity: Severity,
    url: Option<String>,
    expected: String,
    evidence: Vec<String>,
    facts: BTreeMap<String, String>,
    started: Instant,
}

impl Probe {
    pub(crate) fn new(check: &Check, expected: impl Into<String>) -> Self {
        Self {
            check: check.id,
            severity: check.severity,
            url: None,
            expected: expected.into(),
            evidence: Vec::new(),
            facts: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    pub(crate) fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// This outcome matters more or less than the check's default (e.g. a known default).
    #[allow(dead_code)] // until a check judges its own severity
    pub(crate) fn severity(&mut self, severity: Severity) {
        self.severity = severity;
    }

    pub(crate) fn evidence(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }

    pub(crate) fn fact(&mut self, key: &str, value: impl Into<String>) {
        self.facts.insert(key.to_string(), value.into());
    }

    pub(crate) fn pass(self, got: impl Into<String>) -> Outcome {
        self.finish(Status::Passed, got.into())
    }

    pub(crate) fn fail(self, got: impl Into<String>) -> Outcome {
        self.finish(Status::Failed, got.into())
    }

    pub(crate) fn skip(self, why: impl Into<String>) -> Outcome {
        self.finish(Status::Skipped, why.into())
    }

    fn finish(self, status: Status, got: String) -> Outcome {
        Outcome {
            check: self.check.to_string(),
            status,
            severity: self.severity,
            url: self.url,
            expected: self.expected,
            got,
            evidence: self.evidence,
            facts: self.facts,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_check_url_expected_and_got() {
        const CHECK: Check = Check {
            id: "cors.console-preflight",
            suite: crate::Suite::Cors,
            severity: Severity::Major,
            title: "t",
        };
        let mut p = Probe::new(&CHECK, "Access-Control-Allow-Origin: http://a")
            .url("http://127.0.0.1:1/console/api/setup");
        p.evidence("HTTP 200");
        let o = p.fail("no Access-Control-Allow-Origin header");
        assert_eq!(
            o.to_string(),
            "cors.console-preflight failed (major) against http://127.0.0.1:1/console/api/setup: \
             expected Access-Control-Allow-Origin: http://a; got no Access-Control-Allow-Origin \
             header\n    | HTTP 200"
        );
        assert_eq!(o.suite(), "cors");
    }
}
