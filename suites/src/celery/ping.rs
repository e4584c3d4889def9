//! At least one worker answers `ping` on the broker from `CELERY_BROKER_URL`.
//!
//! Going through the broker (not `celery inspect` inside the worker) proves the worker consumes
//! the very Redis database the api publishes tasks to, and takes milliseconds, not the ~10 s a
//! full Dify app import costs.

use std::time::Duration;

use crate::clients::celery_control;
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "celery.ping",
    suite: Suite::Celery,
    severity: Severity::Critical,
    title: "a Celery worker answers a remote-control ping through the broker",
};
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn check(target: &Target) -> Outcome {
    let Some(broker) = target.broker() else {
        return Probe::new(&CHECK, "a broker URL to reach the workers")
            .skip("the target has no Celery broker URL");
    };
    let mut probe = Probe::new(&CHECK, "at least one worker answers {\"ok\": \"pong\"}")
        .url(broker.to_string());
    let replies = match celery_control::ping(broker, REPLY_TIMEOUT).await {
        Ok(r) => r,
        Err(e) => return probe.fail(e.to_string()),
    };
    for r in &replies {
        probe.evidence(format!("{}: {}", r.worker, r.answer));
    }
    let ponged: Vec<&str> = replies
        .iter()
        .filter(|r| r.answer.get("ok").and_then(|v| v.as_str()) == Some("pong"))
        .map(|r| r.worker.as_str())
        .collect();
    if ponged.is_empty() {
        if replies.is_empty() {
            return probe.fail(format!("no worker answered within {REPLY_TIMEOUT:?}"));
        }
        return probe.fail("replies, but none was a pong");
    }
    probe.fact("workers", ponged.join(","));
    probe.pass(format!("{} worker(s) answered pong", ponged.len()))
}
