//! Once the flows finish, no queue on the broker holds more than N waiting messages.
//!
//! A backed-up queue is how users meet a worker that is too slow or consumes the wrong queues:
//! every workflow waits, documents stay "queuing" (research §10: #35305, #36988), and a queue no
//! worker consumes grows without bound (Dify 1.13.3's beat publishes to
//! `trigger_refresh_publisher`, which its own default worker list lacks: langgenius/dify#35280).
//! The lengths are read on the broker itself (kombu's Redis transport keeps each queue as a list,
//! see `clients::celery_control`), so queues that no worker and no release facts name are found
//! too. Every list of the broker's database counts as a queue (Dify keeps its cache in
//! `REDIS_DB`, 0, and the broker in db 1 of `CELERY_BROKER_URL`), remote-control reply queues
//! excepted. The check runs last in the suite, after the flows of the other checks.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::clients::celery_control::{self, QueueLength};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "celery.backlog",
    suite: Suite::Celery,
    severity: Severity::Major,
    title: "no Celery queue on the broker holds a backlog once the flows finish",
};
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn check(target: &Target) -> Outcome {
    let limit = target.backlog_limit();
    let Some(broker) = target.broker() else {
        return Probe::new(&CHECK, "a broker URL to read the queues on")
            .skip("the target has no Celery broker URL");
    };
    let mut probe = Probe::new(
        &CHECK,
        format!("no queue holds more than {limit} waiting message(s)"),
    )
    .url(broker.to_string());
    match celery_control::queue_lengths(broker, BROKER_TIMEOUT).await {
        Ok(lengths) => {
            // Which waiting queues have a consumer at all tells a slow worker from a missing one.
            let consumed = if lengths.is_empty() {
                None
            } else {
                consumed_queues(broker).await
            };
            judge(probe, &lengths, limit, consumed.as_ref())
        }
        Err(e) => {
            probe.evidence(format!("SCAN of the lists on {broker}"));
            probe.fail(e.to_string())
        }
    }
}

/// The queues the workers consume, `None` when no worker answered readably (then the evidence
/// says nothing about consumers).
async fn consumed_queues(broker: &crate::target::BrokerUrl) -> Option<BTreeSet<String>> {
    let replies = celery_control::active_queues(broker, BROKER_TIMEOUT)
        .await
        .ok()?;
    let consumed: BTreeSet<String> = replies
        .iter()
        .filter_map(|r| celery_control::queue_names(&r.answer).ok())
        .flatten()
        .collect();
    (!replies.is_empty()).then_some(consumed)
}

/// Pass when every queue holds at most `limit` messages; each non-empty queue is evidence,
/// marked when no worker consumes it.
fn judge(
    mut probe: Probe,
    lengths: &[QueueLength],
    limit: u64,
    consumed: Option<&BTreeSet<String>>,
) -> Outcome {
    for q in lengths {
        let orphan = consumed.is_some_and(|c| !c.contains(&q.queue));
        probe.evidence(format!(
            "{}: {} waiting{}",
            q.queue,
            q.waiting,
            if orphan {
                " (no worker consumes it)"
            } else {
                ""
            }
        ));
    }
    let total: u64 = lengths.iter().map(|q| q.waiting).sum();
    probe.fact("waiting", total.to_string());
    let over: Vec<String> = lengths
        .iter()
        .filter(|q| q.waiting > limit)
        .map(|q| format!("{} ({})", q.queue, q.waiting))
        .collect();
    if over.is_empty() {
        return probe.pass(if lengths.is_empty() {
            "every queue is empty".to_string()
        } else {
            format!(
                "{} message(s) waiting in {} queue(s), none over {limit}",
                total,
                lengths.len()
            )
        });
    }
    probe.fail(format!(
        "{} queue(s) over {limit} waiting message(s): {}",
        over.len(),
        over.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::outcome::Status;
    use crate::target::{BrokerUrl, DEFAULT_BACKLOG_LIMIT};

    fn lengths(pairs: &[(&str, u64)]) -> Vec<QueueLength> {
        pairs
            .iter()
            .map(|(q, n)| QueueLength {
                queue: q.to_string(),
                waiting: *n,
            })
            .collect()
    }

    #[rstest]
    #[case::empty(&[], 10, Status::Passed, "every queue is empty")]
    #[case::under(&[("schedule_poller", 2), ("mail", 1)], 10, Status::Passed, "3 message(s) waiting in 2 queue(s), none over 10")]
    #[case::at_the_limit(&[("dataset", 10)], 10, Status::Passed, "10 message(s) waiting in 1 queue(s), none over 10")]
    #[case::over(&[("trigger_refresh_publisher", 11), ("mail", 1)], 10, Status::Failed, "1 queue(s) over 10 waiting message(s): trigger_refresh_publisher (11)")]
    #[case::strict_limit(&[("priority_dataset", 1)], 0, Status::Failed, "1 queue(s) over 0 waiting message(s): priority_dataset (1)")]
    fn judges_queue_lengths_against_the_limit(
        #[case] pairs: &[(&str, u64)],
        #[case] limit: u64,
        #[case] status: Status,
        #[case] got: &str,
    ) {
        let o = judge(Probe::new(&CHECK, "e"), &lengths(pairs), limit, None);
        assert_eq!((o.status, o.got.as_str()), (status, got), "{o}");
        assert_eq!(o.evidence.len(), pairs.len());
        assert_eq!(o.severity, Severity::Major);
    }

    #[rstest]
    #[case::consumers_unknown(None, ["dataset: 12 waiting", "trigger_refresh_publisher: 1 waiting"])]
    #[case::one_without_consumer(
        Some(&["dataset", "mail"][..]),
        ["dataset: 12 waiting", "trigger_refresh_publisher: 1 waiting (no worker consumes it)"]
    )]
    #[case::no_readable_worker_queues(
        Some(&[][..]),
        ["dataset: 12 waiting (no worker consumes it)", "trigger_refresh_publisher: 1 waiting (no worker consumes it)"]
    )]
    fn evidence_lists_each_non_empty_queue_with_its_length(
        #[case] consumed: Option<&[&str]>,
        #[case] evidence: [&str; 2],
    ) {
        let consumed: Option<BTreeSet<String>> =
            consumed.map(|c| c.iter().map(|q| q.to_string()).collect());
        let o = judge(
            Probe::new(&CHECK, "e"),
            &lengths(&[("dataset", 12), ("trigger_refresh_publisher", 1)]),
            DEFAULT_BACKLOG_LIMIT,
            consumed.as_ref(),
        );
        assert_eq!(o.evidence, evidence);
        assert_eq!(o.facts["waiting"], "13");
        assert_eq!(o.status, Status::Failed);
    }

    #[tokio::test]
    async fn an_unreachable_broker_fails_without_its_password() {
        let broker = BrokerUrl::parse("redis://:s3cret-pw@127.0.0.1:1/1").unwrap();
        let t = Target::new("http://127.0.0.1:9")
            .unwrap()
            .with_broker(broker)
            .with_backlog_limit(3);
        let o = check(&t).await;
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.expected, "no queue holds more than 3 waiting message(s)");
        assert!(o.got.contains("cannot reach the broker"), "{o}");
        assert!(!o.to_string().contains("s3cret-pw"), "{o}");
    }

    #[tokio::test]
    async fn skips_without_a_broker() {
        let o = check(&Target::new("http://127.0.0.1:9").unwrap()).await;
        assert_eq!(o.status, Status::Skipped);
    }
}
