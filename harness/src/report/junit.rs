//! `junit.xml`: JUnit XML as Jenkins, GitLab and the common GitHub Actions parsers read it
//! (the Surefire/Jenkins shape; `docs/junit.xsd` is the schema the tests validate against).
//!
//! Mapping: one `<testsuite>` per cell (named by its id, axes as properties), one
//! `<testcase>` per check (`classname` = `<cell>.<suite>`, `name` = the check id). A failed check
//! is a `<failure>` (type = its severity, the evidence as text); a skipped check `<skipped>`. A
//! cell whose stack did not come up has one testcase `stack` with an `<error>` carrying the
//! reason and the last log lines; a cell that did not run has one testcase `cell` that is
//! `<skipped>` with the reason, so the count of cells stays visible in CI.

use std::fmt::Write;

use suites::Status;

use super::{CellReport, CellStatus, Report};

pub fn render(r: &Report) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let totals = Totals::of_report(r);
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
        attr(&format!("dify-conformance {}", r.matrix.name)),
        totals.tests,
        totals.failures,
        totals.errors,
        totals.skipped,
        secs(r.run.duration_ms)
    );
    for (i, c) in r.cells.iter().enumerate() {
        suite(&mut x, r, i, c);
    }
    x.push_str("</testsuites>\n");
    x
}

#[derive(Default)]
struct Totals {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Totals {
    fn of_cell(c: &CellReport) -> Self {
        match c.status {
            CellStatus::Error => Totals {
                tests: 1,
                errors: 1,
                ..Totals::default()
            },
            CellStatus::NotRun => Totals {
                tests: 1,
                skipped: 1,
                ..Totals::default()
            },
            CellStatus::Passed | CellStatus::Failed => Totals {
                tests: c.checks.len(),
                failures: c.failed_checks().count(),
                skipped: c
                    .checks
                    .iter()
                    .filter(|o| o.status == Status::Skipped)
                    .count(),
                errors: 0,
            },
        }
    }

    fn of_report(r: &Report) -> Self {
        r.cells
            .iter()
            .map(Totals::of_cell)
            .fold(Totals::default(), |a, b| Totals {
                tests: a.tests + b.tests,
                failures: a.failures + b.failures,
                errors: a.errors + b.errors,
                skipped: a.skipped + b.skipped,
            })
    }
}

fn suite(x: &mut String, r: &Report, i: usize, c: &CellReport) {
    let t = Totals::of_cell(c);
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" id=\"{i}\" package=\"{}\">",
        attr(&c.id),
        t.tests,
        t.failures,
        t.errors,
        t.skipped,
        secs(c.duration_ms),
        attr(r.run.started_at.trim_end_matches('Z')),
        attr(&r.matrix.name),
    );
    x.push_str("    <properties>\n");
    let mut props: Vec<(String, String)> = vec![
        ("VECTOR_STORE".into(), c.vector_store.clone()),
        ("STORAGE_TYPE".into(), c.storage_type.clone()),
        ("required".into(), c.required.to_string()),
        ("status".into(), c.status.key().into()),
    ];
    if let Some(v) = &c.dify_version {
        props.push(("dify_version".into(), v.clone()));
    }
    for (k, v) in &c.env {
        props.push((format!("env.{k}"), v.clone()));
    }
    for (name, s) in &c.services {
        props.push((format!("service.{name}.image"), s.image.clone()));
    }
    for (k, v) in props {
        let _ = writeln!(
            x,
            "      <property name=\"{}\" value=\"{}\"/>",
            attr(&k),
            attr(&v)
        );
    }
    x.push_str("    </properties>\n");
    match c.status {
        CellStatus::Error => {
            let _ = writeln!(
                x,
                "    <testcase name=\"stack\" classname=\"{}\" time=\"{}\">",
                attr(&c.id),
                secs(c.timings.prepare_ms + c.timings.up_ms + c.timings.ready_ms)
            );
            let reason = c.reason.as_deref().unwrap_or("the stack did not come up");
            let _ = write!(
                x,
                "      <error message=\"{}\" type=\"stack\">",
                attr(reason)
            );
            let mut body = String::new();
            for (service, lines) in &c.logs {
                let _ = writeln!(body, "--- last log lines of {service}");
                for l in lines {
                    let _ = writeln!(body, "{l}");
                }
            }
            x.push_str(&text(&body));
            x.push_str("</error>\n    </testcase>\n");
        }
        CellStatus::NotRun => {
            let _ = writeln!(
                x,
                "    <testcase name=\"cell\" classname=\"{}\" time=\"0\">\n      <skipped message=\"{}\"/>\n    </testcase>",
                attr(&c.id),
                attr(c.reason.as_deref().unwrap_or("not run"))
            );
        }
        CellStatus::Passed | CellStatus::Failed => {
            for o in &c.checks {
                let _ = write!(
                    x,
                    "    <testcase name=\"{}\" classname=\"{}.{}\" time=\"{}\"",
                    attr(&o.id),
                    attr(&c.id),
                    attr(&o.suite),
                    secs(o.duration_ms)
                );
                match o.status {
                    Status::Passed => x.push_str("/>\n"),
                    Status::Skipped => {
                        let _ = writeln!(
                            x,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                            attr(&o.got)
                        );
                    }
                    Status::Failed => {
                        let message = format!("expected {}; got {}", o.expected, o.got);
                        let _ = write!(
                            x,
                            ">\n      <failure message=\"{}\" type=\"{}\">",
                            attr(&message),
                            o.severity
                        );
                        let mut body = String::new();
                        if let Some(url) = &o.url {
                            let _ = writeln!(body, "{url}");
                        }
                        for l in &o.evidence {
                            let _ = writeln!(body, "{l}");
                        }
                        x.push_str(&text(&body));
                        x.push_str("</failure>\n    </testcase>\n");
                    }
                }
            }
        }
    }
    if !c.logs.is_empty() && c.status == CellStatus::Failed {
        x.push_str("    <system-out>");
        let mut body = String::new();
        for (service, lines) in &c.logs {
            let _ = writeln!(body, "--- last log lines of {service}");
            for l in lines {
                let _ = writeln!(body, "{l}");
            }
        }
        x.push_str(&text(&body));
        x.push_str("</system-out>\n");
    }
    x.push_str("  </testsuite>\n");
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// XML 1.0 cannot carry most control characters even escaped; log lines can hold them (ANSI
/// colours). They become U+FFFD so the document stays well-formed.
fn clean(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().map(|c| match c {
        '\t' | '\n' | '\r' => c,
        c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
        c => c,
    })
}

fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden() {
        insta::assert_snapshot!(render(&super::super::fixtures::report()));
    }

    #[test]
    fn control_characters_and_markup_cannot_break_the_document() {
        assert_eq!(
            attr("a\u{1b}[31m<b> & \"c\"\n"),
            "a\u{FFFD}[31m&lt;b&gt; &amp; &quot;c&quot;&#10;"
        );
        assert_eq!(text("]]> <x>"), "]]&gt; &lt;x&gt;");
    }
}
