//! `celery.round-trip`: the document the api suite indexed was indexed by a Celery worker, not
//! inline in the api.
//!
//! Seen in the workers' answer to remote control `stats`: its `total` counts the tasks each
//! worker executed, by name. The count of indexing tasks must have grown since just before the
//! document was made. The queue is not assumed: a real 1.13.3 api sends a document made through
//! `datasets/init` to `priority_dataset`, others to `dataset` (research §6, §12), so any task
//! whose name says indexing counts.

use crate::api::dataset::indexing_totals;
use crate::flow::Flow;
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};

pub(crate) const CHECK: Check = Check {
    id: "celery.round-trip",
    suite: Suite::Celery,
    severity: Severity::Critical,
    title: "the api suite's document was indexed by a Celery worker (remote-control stats), not inline",
};

pub(crate) async fn check(flow: &Flow) -> Outcome {
    let target = flow.target();
    let mut probe = Probe::new(
        &CHECK,
        "a worker's count of executed indexing tasks grew while the document was indexed",
    );
    let Some(broker) = target.broker() else {
        return probe.skip("the target has no Celery broker URL");
    };
    probe = probe.url(broker.to_string());
    let indexed = match flow.index().await.needed() {
        Ok(i) => i,
        Err(why) => return probe.skip(why),
    };
    let Some(before) = indexed.worker_totals_before.clone() else {
        return probe.fail(
            "the workers did not answer remote control `stats` before the document was made",
        );
    };
    let after = match indexing_totals(broker).await {
        Ok(t) => t,
        Err(e) => return probe.fail(e),
    };
    let grown: Vec<String> = after
        .iter()
        .filter(|(task, n)| **n > before.get(*task).copied().unwrap_or(0))
        .map(|(task, n)| format!("{task} {} -> {n}", before.get(task).copied().unwrap_or(0)))
        .collect();
    probe.evidence(format!("indexing tasks executed before: {before:?}"));
    probe.evidence(format!("indexing tasks executed after: {after:?}"));
    probe.evidence(format!(
        "document {} statuses: {}",
        indexed.document_id,
        indexed
            .transitions
            .iter()
            .map(|(s, at)| format!("{s}@{at:.1}s"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if grown.is_empty() {
        probe.fail("no worker executed an indexing task: the document was indexed without Celery")
    } else {
        probe.pass(format!("executed by a worker: {}", grown.join(", ")))
    }
}
