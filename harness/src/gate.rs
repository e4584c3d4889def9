//! The release decision: a [`Policy`] applied to a [`Report`], optionally against baseline
//! reports (the last runs of the main branch) to tell new failures from old ones.
//!
//! Every finding lands in exactly one list: `failures` fail the gate; `accepted` are known
//! failures the policy accepts until their expiry; `tolerated` failed with a severity the
//! policy does not fail on, or in a cell it does not require; `ignored` are required cells that
//! did not run, of a kind the policy does not count. An expired acceptance is a failure that
//! says so.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use suites::Status;

use crate::policy::{Count, Policy};
use crate::report::{CellStatus, Report};

/// The pseudo-check of a cell whose stack did not come up, for baseline comparison.
pub const STACK: &str = "stack";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    pub failures: Vec<Finding>,
    pub accepted: Vec<Finding>,
    pub tolerated: Vec<Finding>,
    pub ignored: Vec<Finding>,
    /// Acceptances that matched nothing: fixed, or misspelt.
    pub unused: Vec<String>,
    pub baseline: Option<Comparison>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub cell: String,
    /// The check, or `None` for the cell as a whole.
    pub check: Option<String>,
    pub text: String,
}

/// Failures now against the baselines, per (cell, check).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// Failing now, failing in no baseline.
    pub new: Vec<(String, String)>,
    /// Failing in the latest baseline, passing now.
    pub fixed: Vec<(String, String)>,
    /// Changed verdict more than once over the baselines and this run: not to be trusted
    /// either way.
    pub flaky: Vec<(String, String)>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Applies `policy` to `report` as of `today` (acceptances expire after their day).
pub fn evaluate(report: &Report, policy: &Policy, today: time::Date) -> Verdict {
    let mut v = Verdict::default();
    let mut used = BTreeSet::new();
    for cell in &report.cells {
        let required = policy.requires(cell);
        let finding = |check: Option<&str>, text: String| Finding {
            cell: cell.id.clone(),
            check: check.map(str::to_string),
            text,
        };
        match cell.status {
            CellStatus::NotRun => {
                let kind = cell.not_run;
                let text = cell.reason.clone().unwrap_or_else(|| "not run".into());
                let counts = kind.map_or(Count::Fail, |k| policy.count(k));
                match (required, counts) {
                    (true, Count::Fail) => v.failures.push(finding(None, text)),
                    _ => v.ignored.push(finding(None, text)),
                }
            }
            CellStatus::Error => {
                let text = format!(
                    "the stack did not come up: {}",
                    cell.reason.as_deref().unwrap_or("no reason recorded")
                );
                if required {
                    v.failures.push(finding(None, text));
                } else {
                    v.tolerated
                        .push(finding(None, text + " (cell not required)"));
                }
            }
            CellStatus::Passed | CellStatus::Failed => {
                for o in &cell.checks {
                    let must_pass = policy.required_checks.contains(&o.id);
                    let fails = match o.status {
                        Status::Passed => false,
                        Status::Skipped => must_pass,
                        Status::Failed => must_pass || policy.fail_on.contains(&o.severity),
                    };
                    if o.status == Status::Passed {
                        continue;
                    }
                    let text = format!(
                        "{} ({}): expected {}; got {}",
                        o.status, o.severity, o.expected, o.got
                    );
                    if o.status == Status::Skipped && !must_pass {
                        continue;
                    }
                    if !required {
                        v.tolerated
                            .push(finding(Some(&o.id), text + " (cell not required)"));
                        continue;
                    }
                    if !fails {
                        v.tolerated.push(finding(
                            Some(&o.id),
                            text + " (severity not failing under this policy)",
                        ));
                        continue;
                    }
                    match policy
                        .accept
                        .iter()
                        .enumerate()
                        .find(|(_, a)| a.covers(&cell.id, &o.id))
                    {
                        Some((i, a)) if a.expires >= today => {
                            used.insert(i);
                            v.accepted.push(finding(
                                Some(&o.id),
                                format!("{text}; accepted until {}: {}", a.expires, a.reason),
                            ));
                        }
                        Some((i, a)) => {
                            used.insert(i);
                            v.failures.push(finding(
                                Some(&o.id),
                                format!(
                                    "{text}; its acceptance expired on {} ({})",
                                    a.expires, a.reason
                                ),
                            ));
                        }
                        None => v.failures.push(finding(Some(&o.id), text)),
                    }
                }
                if required {
                    for id in &policy.required_checks {
                        if !cell.checks.iter().any(|o| &o.id == id) {
                            v.failures.push(finding(
                                Some(id),
                                "required check did not run in this cell".into(),
                            ));
                        }
                    }
                }
            }
        }
    }
    v.unused = policy
        .accept
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, a)| format!("{} (until {}): matched no failure", a.check, a.expires))
        .collect();
    v
}

/// Per (cell, check): whether it failed, for cells that ran. A cell that did not come up is
/// one failure of [`STACK`].
fn failures_of(report: &Report) -> BTreeMap<(String, String), bool> {
    let mut out = BTreeMap::new();
    for c in &report.cells {
        match c.status {
            CellStatus::NotRun => {}
            CellStatus::Error => {
                out.insert((c.id.clone(), STACK.to_string()), true);
            }
            CellStatus::Passed | CellStatus::Failed => {
                out.insert((c.id.clone(), STACK.to_string()), false);
                for o in c.checks.iter().filter(|o| o.status != Status::Skipped) {
                    out.insert((c.id.clone(), o.id.clone()), o.status == Status::Failed);
                }
            }
        }
    }
    out
}

/// `report` against `baselines` (oldest first; the last is the latest).
///
/// Over the sequence baselines-then-now: a (cell, check) whose verdict changed more than once
/// is flaky; otherwise it is new when it fails now and did not in the latest baseline that ran
/// it, and fixed when it passes now and failed there.
pub fn compare(report: &Report, baselines: &[Report]) -> Comparison {
    let now = failures_of(report);
    let before: Vec<BTreeMap<(String, String), bool>> = baselines.iter().map(failures_of).collect();
    let mut c = Comparison::default();
    for (key, failed) in &now {
        let mut seq: Vec<bool> = before.iter().filter_map(|b| b.get(key).copied()).collect();
        let last = seq.last().copied();
        seq.push(*failed);
        let changes = seq.windows(2).filter(|w| w[0] != w[1]).count();
        let pair = (key.0.clone(), key.1.clone());
        if changes >= 2 {
            c.flaky.push(pair);
        } else if *failed && last != Some(true) {
            c.new.push(pair);
        } else if !*failed && last == Some(true) {
            c.fixed.push(pair);
        }
    }
    c
}

impl Verdict {
    /// What `gate` prints: the verdict first, then each list.
    pub fn render(&self, policy: &Policy) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "gate {} under {} ({} failure(s), {} accepted, {} tolerated, {} not-run cell(s) ignored)",
            if self.passed() { "PASSED" } else { "FAILED" },
            policy.source,
            self.failures.len(),
            self.accepted.len(),
            self.tolerated.len(),
            self.ignored.len()
        );
        let list = |out: &mut String, title: &str, items: &[Finding]| {
            if items.is_empty() {
                return;
            }
            let _ = writeln!(out, "{title}:");
            for f in items {
                let _ = writeln!(
                    out,
                    "  {}{}: {}",
                    f.cell,
                    f.check
                        .as_deref()
                        .map(|c| format!(" {c}"))
                        .unwrap_or_default(),
                    f.text
                );
            }
        };
        list(&mut out, "failures", &self.failures);
        list(&mut out, "accepted known failures", &self.accepted);
        list(&mut out, "tolerated", &self.tolerated);
        if !self.ignored.is_empty() {
            // Dozens of cells share a few reasons: count them by reason kind.
            let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
            for f in &self.ignored {
                let kind = f.text.split(':').next().unwrap_or("not run").to_string();
                *by_kind.entry(kind).or_default() += 1;
            }
            let parts: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let _ = writeln!(out, "not run, not counted: {}", parts.join(", "));
        }
        for u in &self.unused {
            let _ = writeln!(out, "unused acceptance: {u}");
        }
        if let Some(c) = &self.baseline {
            let _ = writeln!(
                out,
                "against the baseline: {} new failure(s), {} fixed, {} flaky",
                c.new.len(),
                c.fixed.len(),
                c.flaky.len()
            );
            for (title, items) in [("new", &c.new), ("fixed", &c.fixed), ("flaky", &c.flaky)] {
                for (cell, check) in items {
                    let _ = writeln!(out, "  {title}: {cell} {check}");
                }
            }
        }
        out
    }
}

/// Today in UTC, for expiry.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{self, check, passing_checks};
    use crate::report::{CellReport, NotRunKind, Report};
    use std::path::Path;
    use time::macros::date;

    const TODAY: time::Date = date!(2026 - 12 - 02);

    fn policy(text: &str) -> Policy {
        Policy::parse(Path::new("p.toml"), text).unwrap()
    }

    fn report(cells: Vec<CellReport>) -> Report {
        Report::new(fixtures::meta(), cells)
    }

    fn reflecting() -> Vec<crate::report::CheckResult> {
        let mut checks = passing_checks();
        let mut c = check("cors.reflection", Status::Failed, "Origin reflected");
        c.severity = suites::Severity::Major;
        checks.push(c);
        checks
    }

    fn cells_of(v: &[Finding]) -> Vec<String> {
        v.iter()
            .map(|f| format!("{} {}", f.cell, f.check.as_deref().unwrap_or("-")))
            .collect()
    }

    #[test]
    fn passes_when_every_required_cell_passed() {
        let r = report(vec![fixtures::cell(
            "pgvector.opendal",
            CellStatus::Passed,
            passing_checks(),
        )]);
        let v = evaluate(&r, &Policy::default(), TODAY);
        assert!(v.passed(), "{}", v.render(&Policy::default()));
        assert!(v.render(&Policy::default()).starts_with("gate PASSED"));
    }

    #[test]
    fn fails_on_a_failed_check_and_on_a_stack_that_did_not_come_up() {
        let r = fixtures::report();
        let p = policy("[not_run]\nnot_offered = \"ignore\"\n");
        let v = evaluate(&r, &p, TODAY);
        assert!(!v.passed());
        assert_eq!(
            cells_of(&v.failures),
            ["pgvector.local cors.console-preflight", "chroma.local -"]
        );
        assert_eq!(cells_of(&v.ignored), ["qdrant.opendal -", "qdrant.local -"]);
        let text = v.render(&p);
        assert!(
            text.starts_with("gate FAILED under p.toml (2 failure(s)"),
            "{text}"
        );
        assert!(
            text.contains("not run, not counted: 2 not offered"),
            "{text}"
        );
    }

    #[test]
    fn an_accepted_known_failure_passes_until_it_expires() {
        let r = report(vec![fixtures::cell(
            "pgvector.opendal",
            CellStatus::Failed,
            reflecting(),
        )]);
        let accept = |expires: &str| {
            policy(&format!(
                "[[accept]]\ncheck = \"cors.reflection\"\nreason = \"Dify's default `*`\"\nexpires = {expires}\n"
            ))
        };
        let v = evaluate(&r, &accept("2026-12-02"), TODAY);
        assert!(v.passed(), "{}", v.render(&accept("2026-12-02")));
        assert_eq!(cells_of(&v.accepted), ["pgvector.opendal cors.reflection"]);
        assert!(
            v.accepted[0]
                .text
                .contains("accepted until 2026-12-02: Dify's default `*`")
        );

        let v = evaluate(&r, &accept("2026-12-01"), TODAY);
        assert!(!v.passed());
        assert!(
            v.failures[0]
                .text
                .contains("its acceptance expired on 2026-12-01"),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn an_acceptance_is_limited_to_its_cells_and_unused_ones_are_named() {
        let r = report(vec![
            fixtures::cell("pgvector.opendal", CellStatus::Failed, reflecting()),
            fixtures::cell("chroma.opendal", CellStatus::Failed, reflecting()),
        ]);
        let p = policy(
            "[[accept]]\ncheck = \"cors.reflection\"\ncells = [\"pgvector.*\"]\nreason = \"r\"\nexpires = 2030-01-01\n\
             [[accept]]\ncheck = \"ssl.hsts\"\nreason = \"r\"\nexpires = 2030-01-01\n",
        );
        let v = evaluate(&r, &p, TODAY);
        assert_eq!(cells_of(&v.failures), ["chroma.opendal cors.reflection"]);
        assert_eq!(cells_of(&v.accepted), ["pgvector.opendal cors.reflection"]);
        assert_eq!(
            v.unused,
            ["ssl.hsts (until 2030-01-01): matched no failure"]
        );
    }

    #[test]
    fn severities_outside_fail_on_are_tolerated_and_required_checks_must_pass() {
        let mut checks = passing_checks();
        checks[3] = check("ssl.handshake", Status::Skipped, "no TLS endpoint");
        let mut minor = check("web.cache-headers", Status::Failed, "no Cache-Control");
        minor.severity = suites::Severity::Minor;
        checks.push(minor);
        let r = report(vec![fixtures::cell(
            "pgvector.opendal",
            CellStatus::Failed,
            checks,
        )]);
        let lenient = policy("[checks]\nfail_on = [\"critical\", \"major\"]\n");
        let v = evaluate(&r, &lenient, TODAY);
        assert!(v.passed(), "{}", v.render(&lenient));
        assert_eq!(
            cells_of(&v.tolerated),
            ["pgvector.opendal web.cache-headers"]
        );

        let strict = policy(
            "[checks]\nfail_on = [\"critical\"]\nrequired = [\"ssl.handshake\", \"celery.ping\", \"web.cache-headers\"]\n",
        );
        let v = evaluate(&r, &strict, TODAY);
        assert_eq!(
            cells_of(&v.failures),
            [
                "pgvector.opendal ssl.handshake",
                "pgvector.opendal web.cache-headers"
            ]
        );
    }

    #[rstest::rstest]
    #[case::not_offered(NotRunKind::NotOffered, "not_offered")]
    #[case::not_runnable_here(NotRunKind::NotRunnableHere, "not_runnable_here")]
    #[case::external(NotRunKind::External, "external")]
    #[case::no_recipe(NotRunKind::NoRecipe, "no_recipe")]
    #[case::excluded(NotRunKind::Excluded, "excluded")]
    fn not_run_cells_count_as_the_policy_says(#[case] kind: NotRunKind, #[case] key: &str) {
        let mut cell = fixtures::cell("weaviate.s3", CellStatus::NotRun, vec![]);
        cell.not_run = Some(kind);
        cell.reason = Some(format!("{}: why", kind.label()));
        let r = report(vec![
            fixtures::cell("pgvector.opendal", CellStatus::Passed, passing_checks()),
            cell.clone(),
        ]);
        let v = evaluate(
            &r,
            &policy(&format!("[not_run]\n{key} = \"fail\"\n")),
            TODAY,
        );
        assert_eq!(cells_of(&v.failures), ["weaviate.s3 -"]);
        let v = evaluate(
            &r,
            &policy(&format!("[not_run]\n{key} = \"ignore\"\n")),
            TODAY,
        );
        assert!(v.passed());
        assert_eq!(cells_of(&v.ignored), ["weaviate.s3 -"]);
        // A cell the policy does not require never fails the gate by not running.
        let v = evaluate(
            &r,
            &policy(&format!(
                "[cells]\nrequired = [\"pgvector.*\"]\n[not_run]\n{key} = \"fail\"\n"
            )),
            TODAY,
        );
        assert!(v.passed());
    }

    #[test]
    fn the_default_policy_counts_every_not_run_kind_but_excluded() {
        let p = Policy::default();
        for kind in NotRunKind::ALL {
            let expected = if kind == NotRunKind::Excluded {
                Count::Ignore
            } else {
                Count::Fail
            };
            assert_eq!(p.count(kind), expected, "{kind:?}");
        }
    }

    #[test]
    fn the_baseline_tells_new_failures_from_fixed_and_flaky_ones() {
        let failing = |id: &str| {
            let mut checks = passing_checks();
            let i = checks.iter().position(|c| c.id == id).unwrap();
            checks[i].status = Status::Failed;
            checks
        };
        let cell = |checks| fixtures::cell("pgvector.opendal", CellStatus::Failed, checks);
        // celery.ping failed in every baseline, web.root failed three runs ago and then passed.
        let mut oldest_checks = failing("web.root");
        oldest_checks[4].status = Status::Failed;
        let oldest = report(vec![cell(oldest_checks)]);
        let older = report(vec![cell(failing("celery.ping"))]);
        let latest = report(vec![cell(failing("celery.ping"))]);
        // Now cors fails (new), celery passes (fixed), web.root fails again (flaky).
        let mut now_checks = failing("cors.console-preflight");
        now_checks[1].status = Status::Failed;
        let now = report(vec![cell(now_checks)]);
        let c = compare(&now, &[oldest, older, latest]);
        let pairs = |v: &[(String, String)]| v.iter().map(|p| p.1.clone()).collect::<Vec<_>>();
        assert_eq!(pairs(&c.new), ["cors.console-preflight"]);
        assert_eq!(pairs(&c.fixed), ["celery.ping"]);
        assert_eq!(pairs(&c.flaky), ["web.root"]);
    }

    #[test]
    fn a_stack_that_stopped_coming_up_is_a_new_failure() {
        let before = report(vec![fixtures::cell(
            "chroma.local",
            CellStatus::Passed,
            passing_checks(),
        )]);
        let now = report(vec![fixtures::cell(
            "chroma.local",
            CellStatus::Error,
            vec![],
        )]);
        let c = compare(&now, &[before]);
        assert_eq!(c.new, [("chroma.local".to_string(), STACK.to_string())]);
    }
}
