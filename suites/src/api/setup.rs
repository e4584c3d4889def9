//! `api.setup`: a fresh stack reports `not_started`; setup succeeds; then `finished`; a second
//! setup is refused.
//!
//! Dify 1.13.3 (`controllers/console/setup.py`, research §7, §12): `GET /console/api/setup` is
//! `{"step": "not_started"}` or `{"step": "finished", "setup_at": ISO}`; `POST` takes the plain
//! password and answers 201 `{"result": "success"}`; once set up, `POST` raises
//! `AlreadySetupError` (403, code `already_setup`). A stale `volumes/` copy shows up here as a
//! "fresh" stack that is already `finished`.

use reqwest::Method;
use serde_json::json;

use crate::clients::console::{Answer, exchange};
use crate::flow::{Done, Flow};
use crate::http::client;
use crate::outcome::{Probe, Severity};
use crate::suite::{Check, Suite};

pub(crate) const CHECK: Check = Check {
    id: "api.setup",
    suite: Suite::Api,
    severity: Severity::Critical,
    title: "setup: `not_started` on a fresh stack, setup succeeds, then `finished`; a second setup is refused",
};
const PATH: &str = "/console/api/setup";

/// The setup step the api reports.
async fn step(flow: &Flow, probe: &mut Probe) -> Result<(String, Answer), String> {
    let target = flow.target();
    let answer = exchange(client(target).get(target.url(PATH)), Method::GET, PATH).await?;
    probe.evidence(answer.line());
    match (answer.status, answer.str_field("/step")) {
        (200, Some(step)) => Ok((step.to_string(), answer)),
        (code, _) => Err(format!(
            "GET {PATH} answered HTTP {code} without a setup `step`"
        )),
    }
}

pub(crate) async fn run(flow: &Flow) -> Done<()> {
    let target = flow.target();
    let mut probe = Probe::new(
        &CHECK,
        "GET step `not_started` -> POST 201 {\"result\":\"success\"} -> GET `finished` -> a second POST refused (4xx `already_setup`)",
    )
    .url(target.url(PATH));
    let (initial, _) = match step(flow, &mut probe).await {
        Ok(s) => s,
        Err(why) => return Done::without(probe.fail(why)),
    };
    probe.fact("initial_step", initial.clone());
    if !target.writes_allowed() {
        return match initial.as_str() {
            "finished" => Done::passed(
                probe.pass(
                    "setup `finished` (a second setup is only tried when writes are allowed)",
                ),
                (),
            ),
            "not_started" => Done::without(probe.skip(
                "setup `not_started` and writes are not allowed (pass --allow-writes to set up)",
            )),
            other => Done::without(probe.fail(format!("unknown setup step `{other}`"))),
        };
    }
    let Some(admin) = target.admin() else {
        return Done::without(
            probe.skip("no administrator to set up (give --admin-email and the password)"),
        );
    };
    let post = |password: &str| {
        let body = json!({
            "email": admin.email,
            "name": admin.name,
            "password": password,
            "language": "en-US",
        });
        exchange(
            client(target).post(target.url(PATH)).json(&body),
            Method::POST,
            PATH,
        )
    };
    if initial == "not_started" {
        let created = match post(admin.password.expose()).await {
            Ok(a) => a,
            Err(e) => return Done::without(probe.fail(e)),
        };
        probe.evidence(created.line());
        if created.status != 201 || created.str_field("/result") != Some("success") {
            return Done::without(probe.fail(format!(
                "setup answered HTTP {} instead of 201 {{\"result\":\"success\"}}",
                created.status
            )));
        }
        match step(flow, &mut probe).await {
            Ok((s, _)) if s == "finished" => {}
            Ok((s, _)) => {
                return Done::without(
                    probe.fail(format!("after setup the step is `{s}`, not `finished`")),
                );
            }
            Err(why) => return Done::without(probe.fail(why)),
        }
    } else if initial != "finished" {
        return Done::without(probe.fail(format!("unknown setup step `{initial}`")));
    } else if target.is_fresh() {
        return Done::without(probe.fail(
            "a stack started moments ago is already set up: its database kept state from an earlier stack (a reused volumes/ directory?)",
        ));
    }
    // A second setup with another password must change nothing.
    let again = match post("Second-setup-9").await {
        Ok(a) => a,
        Err(e) => return Done::without(probe.fail(e)),
    };
    probe.evidence(again.line());
    let refused = (400..500).contains(&again.status);
    let fresh = initial == "not_started";
    match (refused, again.code()) {
        (true, Some("already_setup")) | (true, None) => {
            let how = format!(
                "HTTP {}{}",
                again.status,
                again.code().map(|c| format!(" `{c}`")).unwrap_or_default()
            );
            let got = if fresh {
                format!(
                    "`not_started` -> setup 201 -> `finished`; a second setup is refused ({how})"
                )
            } else {
                format!("already `finished`; a second setup is refused ({how})")
            };
            Done::passed(probe.pass(got), ())
        }
        (true, Some(code)) => Done::without(probe.fail(format!(
            "a second setup was refused with HTTP {} but code `{code}`, not `already_setup`",
            again.status
        ))),
        (false, _) => Done::without(probe.fail(format!(
            "a second setup was not refused: HTTP {}",
            again.status
        ))),
    }
}
