//! The five suites and the checks in each.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::flow::Flow;
use crate::outcome::{Outcome, Severity};
use crate::target::Target;

/// A group of checks about one concern of the deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    Api,
    Web,
    Cors,
    Ssl,
    Celery,
}

/// One check: its id (`suite.kebab-name`), how much its failure matters, and what it proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    pub id: &'static str,
    pub suite: Suite,
    /// The severity of a failure, unless an outcome says otherwise.
    pub severity: Severity,
    pub title: &'static str,
}

impl Check {
    /// The check with this id, in any suite.
    pub fn find(id: &str) -> Option<&'static Check> {
        Suite::ALL
            .iter()
            .flat_map(|s| s.checks().iter())
            .find(|c| c.id == id)
    }
}

impl Suite {
    pub const ALL: [Suite; 5] = [
        Suite::Api,
        Suite::Web,
        Suite::Cors,
        Suite::Ssl,
        Suite::Celery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Api => "api",
            Suite::Web => "web",
            Suite::Cors => "cors",
            Suite::Ssl => "ssl",
            Suite::Celery => "celery",
        }
    }

    pub fn checks(self) -> &'static [Check] {
        match self {
            Suite::Api => crate::api::CHECKS,
            Suite::Web => crate::web::CHECKS,
            Suite::Cors => crate::cors::CHECKS,
            Suite::Ssl => crate::ssl::CHECKS,
            Suite::Celery => crate::celery::CHECKS,
        }
    }

    /// Runs the suite's checks; `flow` is the journey shared with the other suites of a run.
    pub async fn run(self, flow: &Flow) -> Vec<Outcome> {
        match self {
            Suite::Api => crate::api::run(flow).await,
            Suite::Web => crate::web::run(flow.target()).await,
            Suite::Cors => crate::cors::run(flow.target()).await,
            Suite::Ssl => crate::ssl::run(flow).await,
            Suite::Celery => crate::celery::run(flow).await,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Suite {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Suite::ALL
            .into_iter()
            .find(|suite| suite.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Suite::ALL.iter().map(|s| s.name()).collect();
                format!("unknown suite `{s}`; expected one of {}", names.join(", "))
            })
    }
}

/// What a run of suites produced.
#[derive(Clone, Debug, Default)]
pub struct SuiteRun {
    /// In suite order, each suite's checks in their order.
    pub outcomes: Vec<Outcome>,
    /// What the checks created and could not remove again (one line each).
    pub leftovers: Vec<String>,
}

/// Runs `suites` one after another against `target`, then removes what their checks created.
pub async fn run_suites(target: &Target, suites: &[Suite]) -> SuiteRun {
    let flow = Flow::new(target.clone());
    let mut outcomes = Vec::new();
    for suite in suites {
        // A suite's wall time (its checks share work, so per-check durations do not add up to
        // it), kept on its first outcome for the report.
        let started = std::time::Instant::now();
        let mut these = suite.run(&flow).await;
        if let Some(first) = these.first_mut() {
            first
                .facts
                .insert("suite_ms".into(), started.elapsed().as_millis().to_string());
        }
        outcomes.extend(these);
    }
    let leftovers = flow.clean_up().await;
    SuiteRun {
        outcomes,
        leftovers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_id_is_prefixed_by_its_suite() {
        for suite in Suite::ALL {
            assert!(!suite.checks().is_empty(), "{suite} has no checks");
            for check in suite.checks() {
                assert_eq!(check.suite, suite);
                assert!(
                    check.id.starts_with(&format!("{}.", suite.name())),
                    "{}",
                    check.id
                );
            }
        }
    }

    #[test]
    fn parses_suite_names() {
        assert_eq!("cors".parse::<Suite>(), Ok(Suite::Cors));
        assert!(
            "corz"
                .parse::<Suite>()
                .unwrap_err()
                .contains("api, web, cors, ssl, celery")
        );
    }
}
