//! `api.dataset-index` and `api.hit-test`: an economy dataset made from the uploaded document is
//! indexed by the worker, and keyword hit-testing finds the document's word.
//!
//! Dify 1.13.3 (research §6, §7, §12): `POST /console/api/datasets/init` with
//! `indexing_technique: economy` creates the dataset and the document (`waiting`) and sends an
//! indexing task to Celery (a real 1.13.3 api sent `priority_document_indexing_task` to the
//! `priority_dataset` queue); the worker loads the file from storage, splits it and writes the
//! keyword table; `GET .../batch/<batch>/indexing-status` walks waiting -> parsing -> cleaning ->
//! splitting -> indexing -> completed, or `error` with Dify's error text. A document that stays
//! `waiting` is the classic "queuing forever" of §10: no worker consumes the queue. Economy
//! indexing never touches the vector store; keyword search must be asked for explicitly
//! (the dataset default, semantic search, would need embeddings).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::clients::celery_control;
use crate::flow::{Done, Flow, Indexed, POLL};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};

pub(crate) const INDEX: Check = Check {
    id: "api.dataset-index",
    suite: Suite::Api,
    severity: Severity::Critical,
    title: "an economy dataset made from the uploaded document reaches `completed` through the worker",
};
pub(crate) const HIT_TEST: Check = Check {
    id: "api.hit-test",
    suite: Suite::Api,
    severity: Severity::Major,
    title: "keyword hit-testing finds the indexed document by its distinctive word",
};
const INIT_PATH: &str = "/console/api/datasets/init";
/// The queues Dify sends document indexing to (§6): named when a document waits.
pub(crate) const INDEXING_QUEUES: [&str; 2] = ["priority_dataset", "dataset"];
const REMOTE_CONTROL_TIMEOUT: Duration = Duration::from_secs(3);
/// A first keyword search loads the tokenizer (jieba) in the api: seconds, more on a busy host.
const HIT_TEST_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a document may wait before the broker is asked whether anyone consumes its queue
/// (a worker needs a moment to take a task even when it listens).
const ORPHAN_AFTER: Duration = Duration::from_secs(10);

/// Indexing tasks each worker has run so far, by task name (remote control `stats`).
pub(crate) async fn indexing_totals(
    broker: &crate::target::BrokerUrl,
) -> Result<BTreeMap<String, u64>, String> {
    let replies = celery_control::broadcast(broker, "stats", json!({}), REMOTE_CONTROL_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let mut totals = BTreeMap::new();
    for reply in replies {
        if let Some(total) = reply.answer.get("total").and_then(Value::as_object) {
            for (task, n) in total {
                if task.contains("indexing") {
                    *totals.entry(task.clone()).or_default() += n.as_u64().unwrap_or(0);
                }
            }
        }
    }
    Ok(totals)
}

pub(crate) async fn run_index(flow: &Flow) -> Done<Indexed> {
    let target = flow.target();
    let timeout = target.index_timeout();
    let mut probe = Probe::new(
        &INDEX,
        format!(
            "POST {INIT_PATH} (economy) -> the document reaches `completed` within {} s",
            timeout.as_secs()
        ),
    )
    .url(target.url(INIT_PATH));
    let upload = match flow.upload().await.needed() {
        Ok(u) => u,
        Err(why) => return Done::without(probe.skip(why)),
    };
    let session = match flow.login().await.needed() {
        Ok(s) => s,
        Err(why) => return Done::without(probe.skip(why)),
    };
    let totals_before = match target.broker() {
        Some(b) => indexing_totals(b).await.ok(),
        None => None,
    };
    let body = json!({
        "indexing_technique": "economy",
        "data_source": {
            "type": "upload_file",
            "info_list": {
                "data_source_type": "upload_file",
                "file_info_list": {"file_ids": [upload.file_id]},
            },
        },
        "process_rule": {"mode": "automatic"},
        "doc_form": "text_model",
        "doc_language": "English",
    });
    let made = match session.call(Method::POST, INIT_PATH, Some(&body)).await {
        Ok(a) => a,
        Err(e) => return Done::without(probe.fail(e)),
    };
    probe.evidence(made.line());
    let (Some(dataset_id), Some(document_id), Some(batch)) = (
        made.str_field("/dataset/id").map(str::to_owned),
        made.str_field("/documents/0/id").map(str::to_owned),
        made.str_field("/batch").map(str::to_owned),
    ) else {
        return Done::without(probe.fail(format!(
            "{INIT_PATH} answered HTTP {} without a dataset, document and batch",
            made.status
        )));
    };
    flow.record_dataset(&dataset_id);
    probe.fact("dataset_id", dataset_id.clone());
    probe.fact("document_id", document_id.clone());

    let status_path = format!("/console/api/datasets/{dataset_id}/batch/{batch}/indexing-status");
    let started = Instant::now();
    let deadline = started + timeout;
    let mut next_orphan_check = started;
    let mut transitions: Vec<(String, f64)> = Vec::new();
    let last_answer = loop {
        let answer = match session.call(Method::GET, &status_path, None).await {
            Ok(a) => a,
            Err(e) => return Done::without(probe.fail(e)),
        };
        let doc = answer
            .json
            .as_ref()
            .and_then(|j| j.get("data"))
            .and_then(Value::as_array)
            .and_then(|docs| {
                docs.iter()
                    .find(|d| d.get("id").and_then(Value::as_str) == Some(&document_id))
            })
            .cloned();
        let Some(doc) = doc else {
            probe.evidence(answer.line());
            return Done::without(probe.fail(format!(
                "the indexing status (HTTP {}) does not list the document",
                answer.status
            )));
        };
        let status = doc
            .get("indexing_status")
            .and_then(Value::as_str)
            .unwrap_or("<none>")
            .to_string();
        let at = started.elapsed().as_secs_f64();
        if transitions.last().map(|(s, _)| s) != Some(&status) {
            // A status may only move forward; going back means the task ran twice or state broke.
            if let (Some(prev), Some(now)) =
                (transitions.last().and_then(|(s, _)| rank(s)), rank(&status))
                && now < prev
            {
                probe.evidence(seen(&transitions));
                return Done::without(probe.fail(format!(
                    "the status went back from `{}` to `{status}`",
                    transitions.last().map(|(s, _)| s.as_str()).unwrap_or("?")
                )));
            }
            transitions.push((status.clone(), at));
        }
        match status.as_str() {
            "completed" => {
                probe.evidence(seen(&transitions));
                let segments = doc
                    .get("completed_segments")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let got = format!(
                    "`completed` after {:.1} s ({} segment(s)); seen: {}",
                    at,
                    segments,
                    statuses(&transitions)
                );
                let indexed = Indexed {
                    dataset_id,
                    document_id,
                    worker_totals_before: totals_before,
                    transitions,
                };
                return Done::passed(probe.pass(got), indexed);
            }
            "error" => {
                probe.evidence(seen(&transitions));
                let error = doc
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("<no error text>");
                probe.evidence(format!("error: {error}"));
                return Done::without(probe.fail(format!("indexing ended in `error`: {error}")));
            }
            "paused" => {
                probe.evidence(seen(&transitions));
                return Done::without(probe.fail("the document is `paused`"));
            }
            _ => {}
        }
        // A task in a queue no worker consumes never runs: say so now, not at the deadline.
        if status == "waiting"
            && started.elapsed() >= ORPHAN_AFTER
            && next_orphan_check <= Instant::now()
        {
            next_orphan_check = Instant::now() + ORPHAN_AFTER;
            if let Some(broker) = target.broker()
                && let Some(orphaned) = orphaned_queues(broker).await
                && !orphaned.is_empty()
            {
                probe.evidence(answer.line());
                probe.evidence(seen(&transitions));
                for (queue, waiting) in &orphaned {
                    probe.evidence(format!(
                        "broker queue `{queue}`: {waiting} waiting message(s), consumed by no worker"
                    ));
                }
                let names: Vec<String> = orphaned.iter().map(|(q, _)| format!("`{q}`")).collect();
                return Done::without(probe.fail(format!(
                    "still `waiting` after {:.0} s: its indexing task waits in queue {} and no worker consumes it",
                    started.elapsed().as_secs_f64(),
                    names.join(" and ")
                )));
            }
        }
        if Instant::now() + POLL >= deadline {
            break answer;
        }
        tokio::time::sleep(POLL).await;
    };
    probe.evidence(last_answer.line());
    probe.evidence(seen(&transitions));
    let last = transitions
        .last()
        .map(|(s, _)| s.clone())
        .unwrap_or_default();
    let mut why = format!(
        "still `{last}` after {} s; seen: {}",
        timeout.as_secs(),
        statuses(&transitions)
    );
    if last == "waiting" {
        why.push_str(&waiting_hint(flow, &mut probe).await);
    }
    Done::without(probe.fail(why))
}

/// Indexing queues holding messages that no worker consumes, with their lengths; `None` when
/// the broker or the workers cannot be asked.
async fn orphaned_queues(broker: &crate::target::BrokerUrl) -> Option<Vec<(String, u64)>> {
    let lengths = celery_control::queue_lengths(broker, REMOTE_CONTROL_TIMEOUT)
        .await
        .ok()?;
    let replies = celery_control::active_queues(broker, REMOTE_CONTROL_TIMEOUT)
        .await
        .ok()?;
    let consumed: Vec<String> = replies
        .iter()
        .filter_map(|r| celery_control::queue_names(&r.answer).ok())
        .flatten()
        .collect();
    Some(
        lengths
            .into_iter()
            .filter(|l| INDEXING_QUEUES.contains(&l.queue.as_str()) && l.waiting > 0)
            .filter(|l| !consumed.contains(&l.queue))
            .map(|l| (l.queue, l.waiting))
            .collect(),
    )
}

/// Why a document waits: which indexing queue holds its task (no worker consumes it).
async fn waiting_hint(flow: &Flow, probe: &mut Probe) -> String {
    let Some(broker) = flow.target().broker() else {
        return ": no worker took the indexing task (no broker access to name the queue)".into();
    };
    match celery_control::queue_lengths(broker, REMOTE_CONTROL_TIMEOUT).await {
        Ok(lengths) => {
            let stuck: Vec<String> = lengths
                .iter()
                .filter(|l| INDEXING_QUEUES.contains(&l.queue.as_str()) && l.waiting > 0)
                .map(|l| {
                    probe.evidence(format!(
                        "broker queue `{}`: {} waiting message(s)",
                        l.queue, l.waiting
                    ));
                    format!("`{}`", l.queue)
                })
                .collect();
            if stuck.is_empty() {
                ": no indexing task waits on the broker either (the api did not send it, or a worker took it and hangs)".into()
            } else {
                format!(
                    ": its task waits in queue {} (workers too busy or too slow?)",
                    stuck.join(" and ")
                )
            }
        }
        Err(e) => format!(": no worker took the indexing task ({e})"),
    }
}

/// Order of Dify's indexing statuses; unknown ones are not ordered.
fn rank(status: &str) -> Option<u8> {
    [
        "waiting",
        "parsing",
        "cleaning",
        "splitting",
        "indexing",
        "completed",
    ]
    .iter()
    .position(|s| *s == status)
    .and_then(|p| u8::try_from(p).ok())
}

fn statuses(transitions: &[(String, f64)]) -> String {
    transitions
        .iter()
        .map(|(s, _)| s.as_str())
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn seen(transitions: &[(String, f64)]) -> String {
    let parts: Vec<String> = transitions
        .iter()
        .map(|(s, at)| format!("{s} at {at:.1} s"))
        .collect();
    format!("statuses seen: {}", parts.join(", "))
}

pub(crate) async fn hit_test(flow: &Flow) -> Outcome {
    let target = flow.target();
    let mut probe = Probe::new(
        &HIT_TEST,
        "HTTP 200 and a record whose segment contains the document's word",
    );
    let indexed = match flow.index().await.needed() {
        Ok(i) => i,
        Err(why) => return probe.skip(why),
    };
    let (Ok(upload), Ok(session)) = (flow.upload().await.needed(), flow.login().await.needed())
    else {
        return probe.skip("needs api.upload and api.login");
    };
    let path = format!("/console/api/datasets/{}/hit-testing", indexed.dataset_id);
    probe = probe.url(target.url(&path));
    let body = json!({
        "query": upload.word,
        "retrieval_model": {
            "search_method": "keyword_search",
            "reranking_enable": false,
            "top_k": 3,
            "score_threshold_enabled": false,
        },
    });
    let answer = match session
        .call_within(Method::POST, &path, Some(&body), HIT_TEST_TIMEOUT)
        .await
    {
        Ok(a) => a,
        Err(e) => return probe.fail(e),
    };
    probe.evidence(answer.line());
    if answer.status != 200 {
        return probe.fail(format!("HTTP {}", answer.status));
    }
    let records = answer
        .field("/records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let found = records.iter().any(|r| {
        r.pointer("/segment/content")
            .and_then(Value::as_str)
            .is_some_and(|c| c.contains(&upload.word))
    });
    if found {
        probe.pass(format!(
            "{} record(s); the document's segment is among them",
            records.len()
        ))
    } else {
        probe.fail(format!(
            "{} record(s), none with the word `{}`",
            records.len(),
            upload.word
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_ordered_as_dify_moves_them() {
        assert!(rank("waiting") < rank("parsing"));
        assert!(rank("indexing") < rank("completed"));
        assert_eq!(rank("error"), None);
    }
}
