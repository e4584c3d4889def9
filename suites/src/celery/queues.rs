//! The workers consume every queue the release's api publishes to (remote control
//! `active_queues`, over the broker).
//!
//! A worker whose `-Q` list misses a queue leaves that queue's tasks in Redis forever: documents
//! stay "queuing", RAG pipelines "waiting", workflow runs never start (research §10: #27419,
//! #27769, #32183, #32213). Dify's entrypoint builds the list from `CELERY_QUEUES`,
//! `CELERY_WORKER_QUEUES` and `EDITION` (§6), none of which `.env.example` sets, so an override or
//! a Kubernetes split of workers is where it goes wrong. Several workers may share the queues
//! between them: a queue counts as consumed when any worker consumes it.
//!
//! The expected list per release is data (`matrices/releases/*.toml`, `[celery]`). Without it
//! (a release the facts do not know) only `dataset` and `priority_dataset` are judged: document
//! indexing goes there in every release read (§6; a real 1.13.3 api sends documents made through
//! `datasets/init` to `priority_dataset`, §12) and both are in every 1.x entrypoint default read,
//! while the rest of the list changes from release to release (1.10-era images had no
//! `api_token`, `dataset_summary` or `workflow_based_app_execution`), so judging it without facts
//! would fail correct deployments of other releases.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::clients::celery_control::{self, Reply};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "celery.queues",
    suite: Suite::Celery,
    severity: Severity::Critical,
    title: "the Celery workers consume every queue the release's api publishes to",
};
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Judged when no release facts say more (see the module comment).
const INDEXING_QUEUES: [&str; 2] = ["dataset", "priority_dataset"];

pub(crate) async fn check(target: &Target) -> Outcome {
    let Some(broker) = target.broker() else {
        return Probe::new(&CHECK, "a broker URL to reach the workers")
            .skip("the target has no Celery broker URL");
    };
    let edition = target.settings().non_empty("EDITION");
    let (expected, basis) = match target.expected_queues() {
        Some(facts) => (
            facts.for_edition(edition).to_vec(),
            format!(
                "release {}, EDITION={}; {}",
                facts.release,
                if edition.map(str::trim) == Some("CLOUD") {
                    "CLOUD"
                } else {
                    "SELF_HOSTED"
                },
                facts.source
            ),
        ),
        None => (
            INDEXING_QUEUES.iter().map(|q| q.to_string()).collect(),
            "no release facts for this deployment: only the indexing queues are judged".into(),
        ),
    };
    let mut probe = Probe::new(
        &CHECK,
        format!(
            "the workers consume {} queue(s): {} [{basis}]",
            expected.len(),
            expected.join(", ")
        ),
    )
    .url(broker.to_string());
    match celery_control::active_queues(broker, REPLY_TIMEOUT).await {
        Ok(replies) => judge(probe, &replies, &expected),
        Err(e) => {
            probe.evidence(format!("active_queues broadcast on {broker}"));
            probe.fail(e.to_string())
        }
    }
}

/// The verdict on the workers' answers: pass when together they consume every expected queue.
fn judge(mut probe: Probe, replies: &[Reply], expected: &[String]) -> Outcome {
    if replies.is_empty() {
        return probe.fail(format!(
            "no worker answered active_queues within {REPLY_TIMEOUT:?}"
        ));
    }
    let mut consumed = BTreeSet::new();
    let mut readable = Vec::new();
    for reply in replies {
        match celery_control::queue_names(&reply.answer) {
            Ok(names) => {
                probe.evidence(format!(
                    "{} consumes {} queue(s): {}",
                    reply.worker,
                    names.len(),
                    names.join(", ")
                ));
                consumed.extend(names);
                readable.push(reply.worker.as_str());
            }
            Err(what) => probe.evidence(format!(
                "{} answered active_queues with {what}",
                reply.worker
            )),
        }
    }
    if readable.is_empty() {
        return probe.fail(format!(
            "{} worker(s) answered, none with a queue list",
            replies.len()
        ));
    }
    probe.fact("workers", readable.join(","));
    probe.fact(
        "queues",
        consumed.iter().cloned().collect::<Vec<_>>().join(","),
    );
    let missing: Vec<&str> = expected
        .iter()
        .filter(|q| !consumed.contains(*q))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return probe.pass(format!(
            "{} worker(s) consume {} queue(s), every expected one among them",
            readable.len(),
            consumed.len()
        ));
    }
    for queue in &missing {
        probe.evidence(format!(
            "missing queue `{queue}`: not consumed by {}",
            readable.join(", ")
        ));
    }
    probe.fail(format!(
        "{} queue(s) the api publishes to have no consumer: {}",
        missing.len(),
        missing.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::*;
    use crate::outcome::Status;

    fn queues(names: &[&str]) -> Value {
        Value::Array(
            names
                .iter()
                .map(|n| json!({"name": n, "routing_key": n, "exchange": {"name": n}}))
                .collect(),
        )
    }

    fn reply(worker: &str, answer: Value) -> Reply {
        Reply {
            worker: worker.into(),
            answer,
        }
    }

    fn expected(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[rstest]
    #[case::all_there(
        vec![reply("celery@a", queues(&["dataset", "priority_dataset", "mail"]))],
        Status::Passed, "1 worker(s) consume 3 queue(s), every expected one among them"
    )]
    #[case::split_across_workers(
        vec![reply("celery@a", queues(&["dataset"])), reply("celery@b", queues(&["priority_dataset"]))],
        Status::Passed, "2 worker(s) consume 2 queue(s), every expected one among them"
    )]
    #[case::one_missing(
        vec![reply("celery@a", queues(&["dataset", "mail"]))],
        Status::Failed, "1 queue(s) the api publishes to have no consumer: priority_dataset"
    )]
    #[case::both_missing(
        vec![reply("celery@a", queues(&["mail"])), reply("celery@b", queues(&[]))],
        Status::Failed, "2 queue(s) the api publishes to have no consumer: dataset, priority_dataset"
    )]
    #[case::no_worker_answers(vec![], Status::Failed, "no worker answered active_queues within 5s")]
    #[case::only_malformed_answers(
        vec![reply("celery@a", json!({"error": "unknown command"})), reply("celery@b", json!([{"nom": "x"}]))],
        Status::Failed, "2 worker(s) answered, none with a queue list"
    )]
    #[case::malformed_next_to_a_good_one(
        vec![reply("celery@a", json!("garbage")), reply("celery@b", queues(&["dataset", "priority_dataset"]))],
        Status::Passed, "1 worker(s) consume 2 queue(s), every expected one among them"
    )]
    fn judges_the_union_of_the_workers_queues(
        #[case] replies: Vec<Reply>,
        #[case] status: Status,
        #[case] got: &str,
    ) {
        let probe = Probe::new(&CHECK, "e");
        let o = judge(probe, &replies, &expected(&["dataset", "priority_dataset"]));
        assert_eq!((o.status, o.got.as_str()), (status, got), "{o}");
        assert_eq!(o.severity, Severity::Critical);
    }

    #[test]
    fn evidence_names_each_missing_queue_and_the_workers_lacking_it() {
        let replies = [
            reply("celery@a", queues(&["mail", "dataset"])),
            reply("celery@b", queues(&["ops_trace"])),
            reply("celery@c", json!({"error": "boom"})),
        ];
        let o = judge(
            Probe::new(&CHECK, "e"),
            &replies,
            &expected(&[
                "dataset",
                "priority_dataset",
                "workflow_based_app_execution",
            ]),
        );
        assert_eq!(o.status, Status::Failed);
        assert_eq!(
            o.evidence,
            [
                "celery@a consumes 2 queue(s): mail, dataset",
                "celery@b consumes 1 queue(s): ops_trace",
                "celery@c answered active_queues with not a list of queues: {\"error\":\"boom\"}",
                "missing queue `priority_dataset`: not consumed by celery@a, celery@b",
                "missing queue `workflow_based_app_execution`: not consumed by celery@a, celery@b",
            ]
        );
        assert_eq!(o.facts["queues"], "dataset,mail,ops_trace");
        assert_eq!(o.facts["workers"], "celery@a,celery@b");
    }

    #[rstest]
    #[case::default_edition(None, "workflow")]
    #[case::self_hosted(Some("SELF_HOSTED"), "workflow")]
    #[case::cloud(Some("CLOUD"), "workflow_team")]
    fn the_edition_picks_the_list(#[case] edition: Option<&str>, #[case] has: &str) {
        let facts = crate::target::ExpectedQueues {
            release: "1.13".into(),
            self_hosted: expected(&["dataset", "workflow"]),
            cloud: expected(&["dataset", "workflow_professional", "workflow_team"]),
            source: "test".into(),
        };
        assert!(facts.for_edition(edition).iter().any(|q| q == has));
    }

    #[tokio::test]
    async fn an_unreachable_broker_fails_without_its_password() {
        let broker = crate::target::BrokerUrl::parse("redis://:s3cret-pw@127.0.0.1:1/1").unwrap();
        let t = Target::new("http://127.0.0.1:9")
            .unwrap()
            .with_broker(broker);
        let o = check(&t).await;
        assert_eq!(o.status, Status::Failed);
        assert!(o.got.contains("cannot reach the broker"), "{o}");
        assert!(
            o.expected
                .contains("dataset, priority_dataset [no release facts"),
            "{o}"
        );
        assert!(!o.to_string().contains("s3cret-pw"), "{o}");
    }

    #[rstest]
    #[case::self_hosted(&[], "the workers consume 2 queue(s): dataset, workflow [release 1.13, EDITION=SELF_HOSTED; f]")]
    #[case::cloud(&[("EDITION", "CLOUD")], "the workers consume 2 queue(s): dataset, workflow_team [release 1.13, EDITION=CLOUD; f]")]
    #[tokio::test]
    async fn the_expectation_names_the_list_and_where_it_comes_from(
        #[case] env: &[(&str, &str)],
        #[case] expectation: &str,
    ) {
        let settings = crate::target::Settings::new(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let t = Target::new("http://127.0.0.1:9")
            .unwrap()
            .with_broker(crate::target::BrokerUrl::parse("redis://127.0.0.1:1/1").unwrap())
            .with_settings(settings)
            .with_expected_queues(crate::target::ExpectedQueues {
                release: "1.13".into(),
                self_hosted: expected(&["dataset", "workflow"]),
                cloud: expected(&["dataset", "workflow_team"]),
                source: "f".into(),
            });
        let o = check(&t).await;
        assert_eq!(o.expected, expectation);
        assert_eq!(o.status, Status::Failed, "nothing listens on port 1");
    }

    #[tokio::test]
    async fn skips_without_a_broker() {
        let t = Target::new("http://127.0.0.1:9").unwrap();
        let o = check(&t).await;
        assert_eq!(o.status, Status::Skipped);
    }
}
