//! `report.html`: one self-contained file (inline style and script, no network, no external
//! assets), for people deciding from a glance.
//!
//! Mapping: the VECTOR_STORE x STORAGE_TYPE grid as a heat map, one square per cell (green
//! passed, red a check failed, brown the stack did not come up, grey not run; a dashed edge
//! marks a cell that is not required). A square opens its cell: status and reason, stage
//! timings, services (image, state, restarts, exit code), `.env` overrides, every check with its
//! evidence, and the last service log lines. `#cell=<id>` in the URL opens a cell directly.
//! Filters by suite, severity and check status hide check rows and recolour the squares by the
//! checks still shown. Everything is in the markup; the script only hides and shows.

use std::fmt::Write;

use super::{CellReport, CellStatus, Grid, PolicyView, Report};
use suites::{Severity, Status, Suite};

pub fn render(r: &Report, view: Option<&PolicyView>) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("Dify conformance: {}", r.matrix.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    header(&mut h, r);
    filters(&mut h);
    grid(&mut h, r, view);
    h.push_str("<main id=\"details\">\n<p id=\"hint\">Select a cell to see its checks, evidence and logs.</p>\n");
    for c in &r.cells {
        cell(&mut h, c, view);
    }
    h.push_str("</main>\n");
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    h
}

fn header(h: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = writeln!(
        h,
        "<header>\n<h1>Dify conformance: <code>{}</code></h1>",
        esc(&r.matrix.name)
    );
    let _ = writeln!(
        h,
        "<p class=\"summary\"><b>{} cell(s)</b>: <span class=\"k passed\">{} passed</span> \
         <span class=\"k failed\">{} failed</span> <span class=\"k error\">{} error(s)</span> \
         <span class=\"k not_run\">{} not run</span>{}</p>",
        s.cells,
        s.passed,
        s.failed,
        s.errors,
        s.not_run,
        r.dify_version
            .as_deref()
            .map(|v| format!(" &middot; Dify <b>{}</b>", esc(v)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">Run <code>{}</code>{} of <code>{}</code> on <code>{}</code>, {} to {} \
         ({}). Engine {}, compose {}, {} {}.</p>\n</header>",
        esc(&r.run.id),
        r.run
            .shard
            .as_deref()
            .map(|s| format!(" (shard {})", esc(s)))
            .unwrap_or_default(),
        esc(&r.matrix.path),
        esc(&r.deployment),
        esc(&r.run.started_at),
        esc(&r.run.finished_at),
        seconds(r.run.duration_ms),
        esc(&r.environment.engine),
        esc(&r.environment.compose),
        esc(&r.tool.name),
        esc(&r.tool.version),
    );
}

fn filters(h: &mut String) {
    h.push_str(
        "<nav id=\"filters\">\n<label>Suite <select id=\"f-suite\"><option value=\"\">all</option>",
    );
    for s in Suite::ALL {
        let _ = write!(h, "<option>{s}</option>");
    }
    h.push_str("</select></label>\n<label>Severity <select id=\"f-severity\"><option value=\"\">all</option>");
    for s in Severity::ALL {
        let _ = write!(h, "<option>{s}</option>");
    }
    h.push_str("</select></label>\n<label>Check status <select id=\"f-status\"><option value=\"\">all</option>");
    for s in [Status::Failed, Status::Passed, Status::Skipped] {
        let _ = write!(h, "<option>{s}</option>");
    }
    h.push_str("</select></label>\n</nav>\n");
}

fn grid(h: &mut String, r: &Report, view: Option<&PolicyView>) {
    let g = Grid::of(r);
    h.push_str("<section id=\"grid\">\n<table class=\"grid\">\n<thead><tr><th class=\"corner\">VECTOR_STORE \\ STORAGE_TYPE</th>");
    for st in &g.storage_types {
        let _ = write!(h, "<th>{}</th>", esc(st));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for vs in &g.vector_stores {
        let _ = write!(h, "<tr><th>{}</th>", esc(vs));
        for st in &g.storage_types {
            match g.cell(vs, st) {
                Some(c) => square(h, c, view),
                None => h.push_str("<td></td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str(
        "</tbody>\n</table>\n<p class=\"legend\"><span class=\"sq passed\">passed</span> \
         <span class=\"sq failed\">a check failed</span> <span class=\"sq error\">stack did not come up</span> \
         <span class=\"sq not_run\">not run</span> <span class=\"sq optional\">not required</span>",
    );
    if let Some(v) = view {
        let _ = write!(
            h,
            " <span class=\"sq accepted\">failed, accepted by {}</span>",
            esc(&v.policy)
        );
    }
    h.push_str("</p>\n</section>\n");
}

fn square(h: &mut String, c: &CellReport, view: Option<&PolicyView>) {
    let accepted = |id: &str| view.is_some_and(|v| v.accepts(&c.id, id));
    // "suite severity status[ accepted]" per check: the filters recolour squares from these.
    let checks: Vec<String> = c
        .checks
        .iter()
        .map(|o| {
            let mark = if o.status == Status::Failed && accepted(&o.id) {
                " accepted"
            } else {
                ""
            };
            format!("{} {} {}{mark}", o.suite, o.severity, o.status)
        })
        .collect();
    let all_accepted = view.is_some_and(|v| v.accepts_cell(c));
    let label = match c.status {
        CellStatus::Passed => format!("{} ✓", c.checks.len()),
        CellStatus::Failed if all_accepted => format!("{} ✗ accepted", c.failed_checks().count()),
        CellStatus::Failed => format!("{} ✗", c.failed_checks().count()),
        CellStatus::Error => "error".into(),
        CellStatus::NotRun => c.not_run.map(|k| k.label()).unwrap_or("not run").into(),
    };
    let title = format!(
        "{}: {}{}{}",
        c.id,
        c.status.label(),
        if all_accepted {
            ", every failure accepted by the policy"
        } else {
            ""
        },
        c.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    let _ = write!(
        h,
        "<td><button type=\"button\" class=\"sq {}{}{}\" data-cell=\"{}\" data-status=\"{}\" data-checks=\"{}\" title=\"{}\">{}</button></td>",
        c.status.key(),
        if all_accepted { " accepted" } else { "" },
        if c.required { "" } else { " optional" },
        esc(&c.id),
        c.status.key(),
        esc(&checks.join(",")),
        esc(&title),
        esc(&label)
    );
}

fn cell(h: &mut String, c: &CellReport, view: Option<&PolicyView>) {
    let _ = writeln!(
        h,
        "<article class=\"cell\" id=\"cell-{}\" hidden>\n<h2><code>{}</code> <span class=\"k {}\">{}</span>{}</h2>",
        esc(&c.id),
        esc(&c.id),
        c.status.key(),
        c.status.label(),
        if c.required {
            ""
        } else {
            " <small>(not required)</small>"
        }
    );
    if let Some(reason) = &c.reason {
        let _ = writeln!(h, "<p class=\"reason\">{}</p>", esc(reason));
    }
    let t = &c.timings;
    let _ = writeln!(
        h,
        "<p class=\"meta\">VECTOR_STORE=<code>{}</code> STORAGE_TYPE=<code>{}</code>{} &middot; {} \
         (prepare {}, up {}, ready {}, checks {}, down {}{})</p>",
        esc(&c.vector_store),
        esc(&c.storage_type),
        c.dify_version
            .as_deref()
            .map(|v| format!(" &middot; Dify {}", esc(v)))
            .unwrap_or_default(),
        seconds(c.duration_ms),
        seconds(t.prepare_ms),
        seconds(t.up_ms),
        seconds(t.ready_ms),
        seconds(t.checks_ms),
        seconds(t.down_ms),
        t.health_ms
            .map(|h| format!("; all healthy {} after readiness began", seconds(h)))
            .unwrap_or_default()
    );
    if !c.checks.is_empty() {
        h.push_str("<table class=\"checks\">\n<thead><tr><th>Check</th><th>Severity</th><th>Status</th><th>Expected / got</th><th>Time</th></tr></thead>\n<tbody>\n");
        for o in &c.checks {
            let _ = write!(
                h,
                "<tr class=\"check {}\" data-suite=\"{}\" data-severity=\"{}\" data-status=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}{}</td><td>",
                o.status,
                esc(&o.suite),
                o.severity,
                o.status,
                esc(&o.id),
                o.severity,
                o.status,
                match view {
                    Some(v) if o.status == Status::Failed && v.accepts(&c.id, &o.id) =>
                        format!(", accepted by {}", esc(&v.policy)),
                    _ => String::new(),
                }
            );
            if let Some(url) = &o.url {
                let _ = write!(h, "<div class=\"url\"><code>{}</code></div>", esc(url));
            }
            let _ = write!(
                h,
                "<div>expected {}</div><div>got <b>{}</b></div>",
                esc(&o.expected),
                esc(&o.got)
            );
            if !o.evidence.is_empty() {
                let _ = write!(
                    h,
                    "<pre class=\"evidence\">{}</pre>",
                    esc(&o.evidence.join("\n"))
                );
            }
            let _ = writeln!(h, "</td><td>{}</td></tr>", millis(o.duration_ms));
        }
        h.push_str("</tbody>\n</table>\n");
    }
    if !c.services.is_empty() {
        h.push_str("<h3>Services</h3>\n<table class=\"services\">\n<thead><tr><th>Service</th><th>Image</th><th>State</th><th>Restarts</th><th>Exit code</th></tr></thead>\n<tbody>\n");
        for (name, s) in &c.services {
            let bad = s.restarts > 0 || s.exit_code.is_some_and(|e| e != 0);
            let _ = writeln!(
                h,
                "<tr{}><td><code>{}</code></td><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if bad { " class=\"bad\"" } else { "" },
                esc(name),
                esc(&s.image),
                s.replaces
                    .as_deref()
                    .map(|u| format!(" <small>for <code>{}</code></small>", esc(u)))
                    .unwrap_or_default(),
                esc(&s.state),
                s.restarts,
                s.exit_code.map(|e| e.to_string()).unwrap_or_default()
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    if !c.env.is_empty() {
        h.push_str(
            "<details class=\"env\"><summary><code>.env</code> overrides</summary><table>\n",
        );
        for (k, v) in &c.env {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(k),
                esc(v)
            );
        }
        h.push_str("</table></details>\n");
    }
    if !c.log_files.is_empty() {
        let links: Vec<String> = c
            .log_files
            .iter()
            .map(|(service, path)| {
                format!(
                    "<a href=\"{}\"><code>{}</code></a>",
                    esc(path),
                    esc(service)
                )
            })
            .collect();
        let _ = writeln!(
            h,
            "<p class=\"log-files\">Whole logs: {}</p>",
            links.join(", ")
        );
    }
    for (service, lines) in &c.logs {
        let _ = writeln!(
            h,
            "<details class=\"logs\" open><summary>Last {} log lines of <code>{}</code></summary><pre>{}</pre></details>",
            lines.len(),
            esc(service),
            esc(&lines.join("\n"))
        );
    }
    for e in &c.teardown_errors {
        let _ = writeln!(h, "<p class=\"reason\">teardown: {}</p>", esc(e));
    }
    h.push_str("</article>\n");
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn millis(ms: u64) -> String {
    format!("{ms} ms")
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --passed:#1a7f37; --failed:#cf222e; --error:#8a4600; --not_run:#8c959f; --accepted:repeating-linear-gradient(135deg, #1a7f37 0 6px, #4c9a63 6px 12px); --ink:#1f2328; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0; padding: 16px 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 8px 0; }
h3 { font-size: 15px; margin: 14px 0 6px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.meta { color: #57606a; margin: 2px 0; }
.k { display: inline-block; padding: 0 8px; border-radius: 10px; color: #fff; font-weight: 600; }
.k.passed { background: var(--passed); } .k.failed { background: var(--failed); }
.k.error { background: var(--error); } .k.not_run { background: var(--not_run); }
#filters { margin: 12px 0; display: flex; gap: 16px; }
#filters select { margin-left: 4px; }
table.grid { border-collapse: separate; border-spacing: 3px; }
table.grid th { font-weight: 600; padding: 2px 6px; white-space: nowrap; }
table.grid thead th { font-size: 12px; }
table.grid tbody th { text-align: right; }
th.corner { color: #57606a; font-weight: 400; }
.sq { display: inline-block; min-width: 104px; padding: 6px 4px; border: 2px solid transparent; border-radius: 4px; color: #fff; font: 600 12px system-ui, sans-serif; text-align: center; cursor: pointer; }
.sq.passed { background: var(--passed); } .sq.failed { background: var(--failed); }
.sq.failed.accepted, .sq.accepted { background: var(--accepted); }
.legend .sq.accepted { background: var(--accepted); }
.sq.error { background: var(--error); } .sq.not_run { background: #eaeef2; color: #57606a; font-weight: 400; }
.sq.optional { border-style: dashed; border-color: #24292f; }
.legend .sq.optional { background: #fff; color: var(--ink); }
.legend .sq { min-width: 0; padding: 2px 8px; cursor: default; }
.sq.dim { opacity: .25; }
.sq.selected { outline: 3px solid #0969da; outline-offset: 1px; }
#details { margin-top: 12px; border-top: 1px solid var(--line); }
article.cell { padding: 4px 0; }
.reason { color: var(--failed); font-weight: 600; }
table.checks, table.services { border-collapse: collapse; width: 100%; }
table.checks td, table.checks th, table.services td, table.services th { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
tr.check.failed td:nth-child(3) { color: var(--failed); font-weight: 700; }
tr.check.passed td:nth-child(3) { color: var(--passed); }
tr.check.skipped td:nth-child(3) { color: #57606a; }
tr.bad td { color: var(--failed); }
pre { background: #f6f8fa; padding: 6px 8px; margin: 4px 0; overflow-x: auto; white-space: pre-wrap; }
.url { color: #57606a; }
details { margin: 6px 0; }
"#;

const SCRIPT: &str = r#"
(function () {
  var suite = document.getElementById('f-suite');
  var severity = document.getElementById('f-severity');
  var status = document.getElementById('f-status');
  function matches(s, sev, st) {
    return (!suite.value || suite.value === s) && (!severity.value || severity.value === sev) && (!status.value || status.value === st);
  }
  function apply() {
    document.querySelectorAll('tr.check').forEach(function (row) {
      row.hidden = !matches(row.dataset.suite, row.dataset.severity, row.dataset.status);
    });
    var filtering = suite.value || severity.value || status.value;
    document.querySelectorAll('button.sq').forEach(function (sq) {
      var cellStatus = sq.dataset.status;
      if (cellStatus !== 'passed' && cellStatus !== 'failed') { sq.classList.toggle('dim', !!filtering); return; }
      var shown = 0, failed = 0, accepted = 0;
      (sq.dataset.checks ? sq.dataset.checks.split(',') : []).forEach(function (c) {
        var p = c.split(' ');
        if (matches(p[0], p[1], p[2]) && p[2] === 'failed') { if (p[3] === 'accepted') accepted++; else failed++; }
        if (matches(p[0], p[1], p[2])) shown++;
      });
      sq.classList.toggle('failed', failed + accepted > 0);
      sq.classList.toggle('accepted', failed === 0 && accepted > 0);
      sq.classList.toggle('passed', failed + accepted === 0);
      sq.classList.toggle('dim', filtering && shown === 0);
      sq.textContent = failed > 0 ? failed + ' \u2717' : accepted > 0 ? accepted + ' \u2717 accepted' : shown + ' \u2713';
    });
  }
  function open(id) {
    var found = false;
    document.querySelectorAll('article.cell').forEach(function (a) {
      var on = a.id === 'cell-' + id;
      a.hidden = !on; found = found || on;
    });
    document.querySelectorAll('button.sq').forEach(function (b) { b.classList.toggle('selected', b.dataset.cell === id); });
    document.getElementById('hint').hidden = found;
  }
  document.querySelectorAll('button.sq').forEach(function (b) {
    b.addEventListener('click', function () { location.hash = 'cell=' + b.dataset.cell; });
  });
  [suite, severity, status].forEach(function (s) { s.addEventListener('change', apply); });
  function fromHash() {
    var m = /^#cell=(.+)$/.exec(location.hash);
    if (m) open(decodeURIComponent(m[1]));
  }
  window.addEventListener('hashchange', fromHash);
  fromHash();
  apply();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's markup; style and script are constant and reviewed in the source.
    pub(crate) fn markup(html: &str) -> &str {
        let start = html.find("<body>").unwrap_or(0);
        let end = html.find("<script>").unwrap_or(html.len());
        &html[start..end]
    }

    #[test]
    fn golden() {
        insta::assert_snapshot!(markup(&render(&super::super::fixtures::report(), None)));
    }

    #[test]
    fn is_self_contained() {
        let html = render(&super::super::fixtures::report(), None);
        for needle in ["src=", "href=", "http-equiv", "@import", "url("] {
            assert!(!html.contains(needle), "the page refers out via {needle}");
        }
    }

    #[test]
    fn check_text_cannot_inject_markup() {
        let mut r = super::super::fixtures::report();
        r.cells[1].checks[2].got = "<script>alert(1)</script>".into();
        let html = render(&r, None);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(html.matches("<script>").count(), 1);
    }
}
