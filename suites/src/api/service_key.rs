//! `api.service-key`: a dataset API key works on the service API (`/v1/datasets`), and a missing
//! or wrong Bearer token is refused with 401.
//!
//! Dify 1.13.3 (research §7; `controllers/service_api/wraps.py`): `POST
//! /console/api/datasets/api-keys` makes a `dataset-` token (at most 10 per workspace); the
//! service API wants `Authorization: Bearer <token>` and answers 401 "Authorization header must
//! be provided and start with 'Bearer'" without it. The key is deleted after the run.

use reqwest::Method;
use serde_json::Value;

use crate::clients::console::exchange;
use crate::flow::Flow;
use crate::http::client;
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};

pub(crate) const CHECK: Check = Check {
    id: "api.service-key",
    suite: Suite::Api,
    severity: Severity::Major,
    title: "a dataset API key works on /v1/datasets; a missing or wrong Bearer token gets 401",
};
const KEYS: &str = "/console/api/datasets/api-keys";
const SERVICE: &str = "/v1/datasets?page=1&limit=20";

pub(crate) async fn check(flow: &Flow) -> Outcome {
    let target = flow.target();
    let mut probe = Probe::new(
        &CHECK,
        "a new `dataset-` key: GET /v1/datasets 200 (listing the run's dataset); no Bearer or a wrong one: 401",
    )
    .url(target.url(SERVICE));
    if !target.writes_allowed() {
        return probe.skip("writes are not allowed (pass --allow-writes)");
    }
    let session = match flow.login().await.needed() {
        Ok(s) => s,
        Err(why) => return probe.skip(why),
    };
    let made = match session.call(Method::POST, KEYS, None).await {
        Ok(a) => a,
        Err(e) => return probe.fail(e),
    };
    let (Some(key_id), Some(token)) = (
        made.str_field("/id").map(str::to_owned),
        made.str_field("/token").map(str::to_owned),
    ) else {
        probe.evidence(made.line());
        return probe.fail(format!(
            "{KEYS} answered HTTP {} without a key",
            made.status
        ));
    };
    flow.record_api_key(&key_id);
    probe.evidence(format!(
        "POST {KEYS} -> HTTP {} key {key_id} (token {}…, {} chars)",
        made.status,
        token.chars().take(8).collect::<String>(),
        token.len()
    ));
    if !token.starts_with("dataset-") {
        return probe.fail("the key does not start with `dataset-`");
    }
    let http = client(target);
    let wrong = format!("dataset-{}", uuid::Uuid::new_v4().simple());
    for (bearer, want, label) in [
        (Some(token.as_str()), 200, "with the key"),
        (None, 401, "without Authorization"),
        (Some(wrong.as_str()), 401, "with a wrong key"),
    ] {
        let mut req = http.get(target.url(SERVICE));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let answer = match exchange(req, Method::GET, SERVICE).await {
            Ok(a) => a,
            Err(e) => return probe.fail(e),
        };
        probe.evidence(format!("{label}: {}", answer.line()).replace(&token, "<key>"));
        if answer.status != want {
            return probe.fail(format!(
                "GET /v1/datasets {label}: HTTP {}, expected {want}",
                answer.status
            ));
        }
        if want == 200
            && let Some(indexed) = flow.index.get().and_then(|d| d.value.clone())
        {
            let listed = answer
                .field("/data")
                .and_then(Value::as_array)
                .is_some_and(|d| {
                    d.iter()
                        .any(|x| x.get("id").and_then(Value::as_str) == Some(&indexed.dataset_id))
                });
            if !listed {
                return probe.fail("GET /v1/datasets with the key does not list the run's dataset");
            }
        }
    }
    // Remove the key now: a workspace holds at most 10.
    match session
        .call(Method::DELETE, &format!("{KEYS}/{key_id}"), None)
        .await
    {
        Ok(a) if a.is_success() => flow.forget_api_key(&key_id),
        Ok(a) => probe.evidence(format!("deleting the key: {}", a.line())),
        Err(e) => probe.evidence(format!("deleting the key: {e}")),
    }
    probe.pass("the key lists the datasets on /v1; no Bearer and a wrong one get 401")
}
