//! The cors suite: browsers at the configured origins may call each Dify API blueprint the way
//! Dify configures it (research §5), other origins may not. Driven by the deployment's
//! settings (`CONSOLE_CORS_ALLOW_ORIGINS`, `WEB_API_CORS_ALLOW_ORIGINS`, the console and app
//! URLs); without them (`check` without `--env-file`) only what needs no setting is judged.

mod exchange;
mod origins;
mod policy;
mod preflight;

use exchange::Seen;
use policy::{BLUEPRINTS, Blueprint, FOREIGN, Origins};

use crate::outcome::{Outcome, Probe};
use crate::suite::Check;
use crate::target::Target;

pub const CHECKS: &[Check] = &[
    preflight::CONSOLE,
    preflight::WEB,
    preflight::SERVICE,
    preflight::FILES,
    preflight::TRIGGERS,
    origins::ALLOWED,
    origins::DISALLOWED,
    origins::CREDENTIALS,
    origins::REFLECTION,
    origins::VARY,
    origins::EXPOSED,
    origins::BYPASS,
];

/// Which origin an exchange sent, as the judgements group them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// The origin the browser client of the blueprint runs at.
    Home,
    /// The first origin of the blueprint's explicit list.
    Listed,
    Foreign,
    Lookalike(&'static str),
    /// An actual (non-preflight) request from the home origin.
    Actual,
}

struct Exchange {
    blueprint: &'static Blueprint,
    policy: Origins,
    class: Class,
    origin: String,
    request: String,
    seen: Seen,
}

impl Exchange {
    fn line(&self) -> String {
        let status = self
            .seen
            .status
            .map(|s| format!("HTTP {s}"))
            .unwrap_or_else(|| {
                format!("no response ({})", self.seen.error.as_deref().unwrap_or(""))
            });
        let mut line = format!("{} -> {status}", self.request);
        for name in [
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "vary",
        ] {
            if let Some(v) = self.seen.header(name) {
                line.push_str(&format!(", {name}: {v}"));
            }
        }
        line
    }
}

pub async fn run(target: &Target) -> Vec<Outcome> {
    let mut seen: Vec<Exchange> = Vec::new();
    for bp in BLUEPRINTS {
        let policy = Origins::of(bp, target);
        let home = policy::home_origin(bp, target);
        let mut origins = vec![
            (Class::Home, home.clone()),
            (Class::Foreign, FOREIGN.to_string()),
        ];
        if let Origins::List(list) = &policy {
            let listed = list[0].clone();
            for (name, o) in policy::lookalikes(&listed) {
                if !list.contains(&o) {
                    origins.push((Class::Lookalike(name), o));
                }
            }
            origins.push((Class::Listed, listed));
        }
        for (class, origin) in origins {
            let s = exchange::preflight(target, bp.path, &origin, bp.method, bp.headers).await;
            seen.push(Exchange {
                blueprint: bp,
                policy: policy.clone(),
                class,
                request: format!(
                    "OPTIONS {} Origin: {origin}, Access-Control-Request-Method: {}, -Headers: {}",
                    bp.path,
                    bp.method,
                    bp.headers.join(",")
                ),
                origin,
                seen: s,
            });
        }
        // The embed route takes POST only; every other route answers a GET (an error status
        // still carries the blueprint's CORS headers).
        if bp.name != "web embed" {
            let s = exchange::get(target, bp.path, &home).await;
            seen.push(Exchange {
                blueprint: bp,
                policy: policy.clone(),
                class: Class::Actual,
                request: format!("GET {} Origin: {home}", bp.path),
                origin: home,
                seen: s,
            });
        }
    }

    let mut out: Vec<Outcome> = [
        &preflight::CONSOLE,
        &preflight::WEB,
        &preflight::SERVICE,
        &preflight::FILES,
        &preflight::TRIGGERS,
    ]
    .into_iter()
    .map(|c| preflights(target, c, &seen))
    .collect();
    out.push(allowed_origin(target, &seen));
    out.push(disallowed_origin(target, &seen));
    out.push(judge_all(
        target,
        &origins::CREDENTIALS,
        "Access-Control-Allow-Credentials: true on console and web, absent on service, files and triggers",
        seen.iter().filter(|e| matches!(e.class, Class::Home | Class::Listed)),
        |e| origins::credentials(e.blueprint, &e.seen),
    ));
    out.push(judge_all(
        target,
        &origins::REFLECTION,
        format!("{FOREIGN} never echoed together with credentials"),
        seen.iter().filter(|e| e.class == Class::Foreign),
        |e| origins::reflection(e.blueprint, &e.policy, &e.origin, &e.seen),
    ));
    out.push(judge_all(
        target,
        &origins::VARY,
        "Vary: Origin wherever Access-Control-Allow-Origin is not *",
        seen.iter(),
        |e| origins::vary(e.blueprint, &e.seen),
    ));
    out.push(judge_all(
        target,
        &origins::EXPOSED,
        "Access-Control-Expose-Headers with X-Version, X-Env, X-Trace-Id on actual responses",
        seen.iter().filter(|e| e.class == Class::Actual),
        |e| origins::exposed(e.blueprint, &e.seen),
    ));
    out.push(bypass(target, &seen));
    out
}

fn preflights(target: &Target, check: &'static Check, seen: &[Exchange]) -> Outcome {
    let home: Vec<&Exchange> = seen
        .iter()
        .filter(|e| e.class == Class::Home && std::ptr::eq(e.blueprint.preflight_check, check))
        .collect();
    let first = home[0];
    let mut probe = Probe::new(
        check,
        format!(
            "2xx, not redirected, {} allowed{}, method {} and headers {} covered",
            first.origin,
            if first.blueprint.credentials {
                " with credentials"
            } else {
                ""
            },
            first.blueprint.method,
            first.blueprint.headers.join(", ")
        ),
    )
    .url(target.url(first.blueprint.path));
    let mut failures = Vec::new();
    let mut passes = Vec::new();
    for e in &home {
        match preflight::judge(e.blueprint, &e.origin, &e.seen) {
            Ok(got) => passes.push(format!("{}: {got}", e.blueprint.path)),
            Err(why) => {
                failures.push(format!("{}: {why}", e.blueprint.path));
            }
        }
        for line in e.seen.evidence(&e.request) {
            probe.evidence(line);
        }
    }
    if failures.is_empty() {
        probe.pass(passes.join("; "))
    } else {
        probe.fail(failures.join("; "))
    }
}

fn allowed_origin(target: &Target, seen: &[Exchange]) -> Outcome {
    // Listed origins where a list exists, the home origin where every origin is allowed.
    judge_all(
        target,
        &origins::ALLOWED,
        "each blueprint echoes an origin its settings allow exactly (* only where no credentials)",
        seen.iter().filter(|e| match e.policy {
            Origins::List(_) => e.class == Class::Listed,
            _ => e.class == Class::Home,
        }),
        |e| origins::allowed(e.blueprint, &e.origin, &e.seen),
    )
}

fn disallowed_origin(target: &Target, seen: &[Exchange]) -> Outcome {
    let listed: Vec<&Exchange> = seen
        .iter()
        .filter(|e| e.class == Class::Foreign && matches!(e.policy, Origins::List(_)))
        .collect();
    if listed.is_empty() {
        return Probe::new(
            &origins::DISALLOWED,
            "an explicit CORS origin list to judge",
        )
        .skip(no_list_reason(seen));
    }
    judge_all(
        target,
        &origins::DISALLOWED,
        format!("no Access-Control-Allow-Origin for {FOREIGN} where a list is set"),
        listed.into_iter(),
        |e| origins::refused(e.blueprint, &e.origin, &e.seen),
    )
}

fn bypass(target: &Target, seen: &[Exchange]) -> Outcome {
    let tries: Vec<&Exchange> = seen
        .iter()
        .filter(|e| matches!(e.class, Class::Lookalike(_)))
        .collect();
    if tries.is_empty() {
        return Probe::new(&origins::BYPASS, "an explicit CORS origin list to judge")
            .skip(no_list_reason(seen));
    }
    judge_all(
        target,
        &origins::BYPASS,
        "null, prefix and suffix look-alikes and the other scheme of a listed origin all refused",
        tries.into_iter(),
        |e| {
            let Class::Lookalike(name) = e.class else {
                return None;
            };
            origins::refused(e.blueprint, &e.origin, &e.seen).map(|r| format!("{name}: {r}"))
        },
    )
}

fn no_list_reason(seen: &[Exchange]) -> String {
    if seen.iter().any(|e| e.policy == Origins::Unknown) {
        "the deployment's settings are unknown (pass its .env): cannot tell which origins are allowed".into()
    } else {
        "no blueprint has an explicit origin list: every origin is allowed (see cors.reflection)"
            .into()
    }
}

/// One outcome from a judgement over many exchanges: failed with every reason, or passed.
fn judge_all<'a>(
    target: &Target,
    check: &'static Check,
    expected: impl Into<String>,
    exchanges: impl Iterator<Item = &'a Exchange>,
    judge: impl Fn(&Exchange) -> Option<String>,
) -> Outcome {
    let mut probe = Probe::new(check, expected).url(target.url(""));
    let mut reasons = Vec::new();
    let mut n = 0;
    for e in exchanges {
        n += 1;
        match judge(e) {
            Some(r) => {
                reasons.push(r);
                for line in e.seen.evidence(&e.request) {
                    probe.evidence(line);
                }
            }
            None => probe.evidence(e.line()),
        }
    }
    if reasons.is_empty() {
        probe.pass(format!("{n} exchange(s) as expected"))
    } else {
        probe.fail(reasons.join("; "))
    }
}
