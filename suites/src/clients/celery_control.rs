//! Celery's remote control ("pidbox") spoken over a Redis broker, as `celery inspect` does it,
//! so a check can ping workers from outside their containers.
//!
//! The kombu Redis transport maps AMQP onto Redis:
//! - a broadcast goes to the fanout exchange `celery.pidbox`, i.e. `PUBLISH /<db>.celery.pidbox`;
//! - the reply exchange `reply.celery.pidbox` is direct: its bindings are members
//!   `routing_key SEP pattern SEP queue` of the set `_kombu.binding.reply.celery.pidbox`
//!   (SEP = `\x06\x16`) and a reply is `LPUSH`ed onto each bound queue (a Redis list);
//! - every message is a JSON envelope whose `body` is base64 of the JSON payload;
//! - a task queue is a Redis list named after the queue; with priorities, kombu (5.5) adds one
//!   list per priority step, `queue SEP 3`, `queue SEP 6`, `queue SEP 9` (steps 0, 3, 6, 9; step 0
//!   is the bare name), and a queue's size is the sum of their lengths (`Channel._size`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::target::BrokerUrl;

const SEP: &str = "\x06\x16";
const PIDBOX_EXCHANGE: &str = "celery.pidbox";
const REPLY_EXCHANGE: &str = "reply.celery.pidbox";
/// After the first reply, how long to keep collecting others (several workers answer at once).
const MORE_REPLIES_WINDOW: Duration = Duration::from_millis(500);
/// Suffix of the reply queues remote-control clients bind (`<oid>.reply.celery.pidbox`): lists on
/// the broker that are no task queue.
const REPLY_QUEUE_SUFFIX: &str = ".reply.celery.pidbox";
/// kombu's Redis priority steps other than 0 (the bare queue name).
const PRIORITY_STEPS: [u8; 3] = [3, 6, 9];

/// One worker's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// Worker node name, e.g. `celery@5f0e2c1a9d3b`.
    pub worker: String,
    /// What it answered, e.g. `{"ok": "pong"}`.
    pub answer: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach the broker {broker}: {reason}")]
    Connect { broker: String, reason: String },
    #[error("broker {broker} refused {command}: {reason}")]
    Command {
        broker: String,
        command: &'static str,
        reason: String,
    },
}

/// Broadcasts `ping` and returns the replies that arrive within `timeout`.
pub async fn ping(broker: &BrokerUrl, timeout: Duration) -> Result<Vec<Reply>, ControlError> {
    broadcast(broker, "ping", json!({}), timeout).await
}

/// Broadcasts `active_queues`: each worker answers with the queues it consumes
/// (read them with [`queue_names`]).
pub async fn active_queues(
    broker: &BrokerUrl,
    timeout: Duration,
) -> Result<Vec<Reply>, ControlError> {
    broadcast(broker, "active_queues", json!({}), timeout).await
}

/// The queue names in one worker's `active_queues` answer: a list of kombu queue declarations,
/// each with a `name`. A worker that answers something else (an error object, names missing)
/// gets a one-line description of what it sent instead.
pub fn queue_names(answer: &Value) -> Result<Vec<String>, String> {
    let Some(list) = answer.as_array() else {
        return Err(format!(
            "not a list of queues: {}",
            clip(&answer.to_string())
        ));
    };
    list.iter()
        .map(|q| {
            q.get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("a queue without a name: {}", clip(&q.to_string())))
        })
        .collect()
}

/// How many messages wait in one task queue (all its priority lists together).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLength {
    pub queue: String,
    pub waiting: u64,
}

/// The task queues on the broker that hold messages, longest first: every Redis list of the
/// broker's database except remote-control reply queues, priority lists folded into their queue.
/// Found by `SCAN ... TYPE list` (Redis 6+), so queues nobody consumes are found too.
pub async fn queue_lengths(
    broker: &BrokerUrl,
    timeout: Duration,
) -> Result<Vec<QueueLength>, ControlError> {
    let mut con = connect(broker, timeout).await?;
    let command_err = |command: &'static str| {
        move |e: redis::RedisError| ControlError::Command {
            broker: broker.to_string(),
            command,
            reason: scrub(&e.to_string(), broker),
        }
    };
    let mut lists = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .arg("TYPE")
            .arg("list")
            .query_async(&mut con)
            .await
            .map_err(command_err("SCAN"))?;
        lists.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut lengths = Vec::new();
    for key in lists {
        let len: u64 = redis::cmd("LLEN")
            .arg(&key)
            .query_async(&mut con)
            .await
            .map_err(command_err("LLEN"))?;
        lengths.push((String::from_utf8_lossy(&key).into_owned(), len));
    }
    Ok(fold_queue_lengths(lengths))
}

/// Task queues from raw `(list, length)` pairs: reply queues dropped, `queue SEP step` lists
/// added to `queue`, empty queues dropped; longest first, then by name.
fn fold_queue_lengths(lists: impl IntoIterator<Item = (String, u64)>) -> Vec<QueueLength> {
    let mut by_queue = std::collections::BTreeMap::<String, u64>::new();
    for (list, len) in lists {
        if list.ends_with(REPLY_QUEUE_SUFFIX) {
            continue;
        }
        let queue = match list.rsplit_once(SEP) {
            Some((queue, step))
                if PRIORITY_STEPS.iter().any(|s| s.to_string() == step) && !queue.is_empty() =>
            {
                queue.to_string()
            }
            _ => list,
        };
        *by_queue.entry(queue).or_default() += len;
    }
    let mut out: Vec<QueueLength> = by_queue
        .into_iter()
        .filter(|(_, waiting)| *waiting > 0)
        .map(|(queue, waiting)| QueueLength { queue, waiting })
        .collect();
    out.sort_by(|a, b| {
        b.waiting
            .cmp(&a.waiting)
            .then_with(|| a.queue.cmp(&b.queue))
    });
    out
}

fn clip(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// A connection to the broker whose commands may block for up to `timeout` (BRPOP).
async fn connect(
    broker: &BrokerUrl,
    timeout: Duration,
) -> Result<redis::aio::MultiplexedConnection, ControlError> {
    let connect_err = |e: redis::RedisError| ControlError::Connect {
        broker: broker.to_string(),
        reason: scrub(&e.to_string(), broker),
    };
    let client = redis::Client::open(broker.expose()).map_err(connect_err)?;
    // BRPOP blocks for up to `timeout`; the client must not give up on it sooner.
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout + Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(connect_err)
}

/// Broadcasts a remote-control `method` with `arguments` to every worker and collects replies.
pub async fn broadcast(
    broker: &BrokerUrl,
    method: &str,
    arguments: Value,
    timeout: Duration,
) -> Result<Vec<Reply>, ControlError> {
    let shown = broker.to_string();
    let mut con = connect(broker, timeout).await?;

    let oid = uuid::Uuid::new_v4().to_string();
    let ticket = uuid::Uuid::new_v4().to_string();
    let reply_queue = format!("{oid}.{REPLY_EXCHANGE}");
    let binding_key = format!("_kombu.binding.{REPLY_EXCHANGE}");
    let binding = format!("{oid}{SEP}{SEP}{reply_queue}");
    let command_err = |command: &'static str| {
        let shown = shown.clone();
        move |e: redis::RedisError| ControlError::Command {
            broker: shown,
            command,
            reason: scrub(&e.to_string(), broker),
        }
    };

    redis::cmd("SADD")
        .arg(&binding_key)
        .arg(&binding)
        .query_async::<i64>(&mut con)
        .await
        .map_err(command_err("SADD"))?;

    let payload = json!({
        "method": method,
        "arguments": arguments,
        "destination": null,
        "pattern": null,
        "matcher": null,
        "ticket": ticket,
        "reply_to": {"exchange": REPLY_EXCHANGE, "routing_key": oid},
    });
    let envelope = envelope(&payload, PIDBOX_EXCHANGE, "", timeout);
    let channel = format!("/{}.{PIDBOX_EXCHANGE}", broker.db());
    let published = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(envelope.to_string())
        .query_async::<i64>(&mut con)
        .await
        .map_err(command_err("PUBLISH"));

    let replies = match published {
        Ok(_) => collect(&mut con, &reply_queue, &ticket, timeout)
            .await
            .map_err(|e| ControlError::Command {
                broker: shown.clone(),
                command: "BRPOP",
                reason: scrub(&e.to_string(), broker),
            }),
        Err(e) => Err(e),
    };

    // The reply queue is ours alone; leave the broker as we found it even when collecting failed.
    let _ = redis::cmd("SREM")
        .arg(&binding_key)
        .arg(&binding)
        .query_async::<i64>(&mut con)
        .await;
    let _ = redis::cmd("DEL")
        .arg(&reply_queue)
        .query_async::<i64>(&mut con)
        .await;
    replies
}

async fn collect(
    con: &mut redis::aio::MultiplexedConnection,
    queue: &str,
    ticket: &str,
    timeout: Duration,
) -> Result<Vec<Reply>, redis::RedisError> {
    let mut deadline = Instant::now() + timeout;
    let mut replies = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(replies);
        }
        // BRPOP's timeout is in seconds (fractions allowed); 0 would block forever.
        let wait = left.as_secs_f64().max(0.01);
        let popped: Option<(String, String)> = redis::cmd("BRPOP")
            .arg(queue)
            .arg(wait)
            .query_async(con)
            .await?;
        let Some((_, raw)) = popped else {
            return Ok(replies);
        };
        if let Some(mut found) = parse_reply(&raw, ticket) {
            if replies.is_empty() {
                deadline = deadline.min(Instant::now() + MORE_REPLIES_WINDOW);
            }
            replies.append(&mut found);
        }
    }
}

/// The kombu message envelope around a JSON payload.
fn envelope(payload: &Value, exchange: &str, routing_key: &str, ttl: Duration) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    json!({
        "body": BASE64.encode(payload.to_string()),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"clock": 1, "expires": now + ttl.as_secs_f64()},
        "properties": {
            "delivery_mode": 1,
            "delivery_info": {"exchange": exchange, "routing_key": routing_key},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": uuid::Uuid::new_v4().to_string(),
        },
    })
}

/// The replies in one envelope if it answers `ticket` (other clients' replies are ignored).
fn parse_reply(raw: &str, ticket: &str) -> Option<Vec<Reply>> {
    let envelope: Value = serde_json::from_str(raw).ok()?;
    if let Some(t) = envelope.pointer("/headers/ticket").and_then(Value::as_str)
        && t != ticket
    {
        return None;
    }
    let body = envelope.get("body")?;
    let payload: Value = match envelope
        .pointer("/properties/body_encoding")
        .and_then(Value::as_str)
    {
        Some("base64") => serde_json::from_slice(&BASE64.decode(body.as_str()?).ok()?).ok()?,
        _ => match body {
            Value::String(s) => serde_json::from_str(s).ok()?,
            other => other.clone(),
        },
    };
    let replies = payload
        .as_object()?
        .iter()
        .map(|(worker, answer)| Reply {
            worker: worker.clone(),
            answer: answer.clone(),
        })
        .collect();
    Some(replies)
}

/// Redis errors can quote the URL; make sure the password never leaves, as written in the URL
/// or percent-decoded.
fn scrub(text: &str, broker: &BrokerUrl) -> String {
    let secret = reqwest::Url::parse(broker.expose())
        .ok()
        .and_then(|u| u.password().map(str::to_owned));
    match secret {
        Some(pw) if !pw.is_empty() => {
            let decoded = percent_decode(&pw);
            let text = text.replace(&pw, "***");
            if decoded.is_empty() {
                text
            } else {
                text.replace(&decoded, "***")
            }
        }
        _ => text.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[test]
    fn envelope_body_round_trips_through_base64() {
        let payload = json!({"method": "ping", "arguments": {}});
        let env = envelope(&payload, PIDBOX_EXCHANGE, "", Duration::from_secs(5));
        let body = BASE64.decode(env["body"].as_str().unwrap()).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), payload);
        assert_eq!(
            env["properties"]["delivery_info"]["exchange"],
            "celery.pidbox"
        );
    }

    /// A reply envelope as kombu's pidbox publishes it, body base64-encoded.
    fn reply_envelope(ticket: Option<&str>, body: &str) -> String {
        let mut env = json!({
            "body": BASE64.encode(body),
            "headers": {"clock": 3},
            "properties": {"body_encoding": "base64"},
        });
        if let Some(t) = ticket {
            env["headers"]["ticket"] = json!(t);
        }
        env.to_string()
    }

    #[rstest]
    #[case::our_ticket(reply_envelope(Some("t1"), r#"{"celery@abc": {"ok": "pong"}}"#), Some(vec![("celery@abc", json!({"ok": "pong"}))]))]
    #[case::no_ticket_header(reply_envelope(None, r#"{"celery@abc": {"ok": "pong"}}"#), Some(vec![("celery@abc", json!({"ok": "pong"}))]))]
    #[case::another_ticket(reply_envelope(Some("t2"), r#"{"celery@abc": {"ok": "pong"}}"#), None)]
    #[case::not_json("not json".to_string(), None)]
    #[case::no_body(json!({"headers": {"ticket": "t1"}}).to_string(), None)]
    #[case::body_not_base64(json!({"body": "%%%", "headers": {"ticket": "t1"}, "properties": {"body_encoding": "base64"}}).to_string(), None)]
    #[case::body_not_an_object(reply_envelope(Some("t1"), r#"["celery@abc"]"#), None)]
    #[case::plain_json_body(json!({"body": {"celery@x": [1]}, "headers": {"ticket": "t1"}}).to_string(), Some(vec![("celery@x", json!([1]))]))]
    #[case::empty_answer(reply_envelope(Some("t1"), "{}"), Some(vec![]))]
    fn parses_only_well_formed_replies_to_our_ticket(
        #[case] raw: String,
        #[case] expected: Option<Vec<(&str, Value)>>,
    ) {
        let expected = expected.map(|v| {
            v.into_iter()
                .map(|(worker, answer)| Reply {
                    worker: worker.to_string(),
                    answer,
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(parse_reply(&raw, "t1"), expected);
    }

    #[rstest]
    #[case::two_queues(json!([{"name": "dataset", "exchange": {"name": "dataset"}}, {"name": "mail"}]), Ok(vec!["dataset", "mail"]))]
    #[case::none(json!([]), Ok(vec![]))]
    #[case::error_object(json!({"error": "No such command"}), Err("not a list of queues: {\"error\":\"No such command\"}"))]
    #[case::nameless(json!([{"name": "dataset"}, {"routing_key": "x"}]), Err("a queue without a name: {\"routing_key\":\"x\"}"))]
    #[case::name_not_text(json!([{"name": 7}]), Err("a queue without a name: {\"name\":7}"))]
    fn reads_queue_names_from_an_active_queues_answer(
        #[case] answer: Value,
        #[case] expected: Result<Vec<&str>, &str>,
    ) {
        let expected = expected
            .map(|v| v.into_iter().map(str::to_owned).collect::<Vec<_>>())
            .map_err(str::to_owned);
        assert_eq!(queue_names(&answer), expected);
    }

    #[test]
    fn a_long_malformed_answer_is_clipped() {
        let answer = json!("x".repeat(1000));
        let err = queue_names(&answer).unwrap_err();
        assert!(err.len() < 260, "{err}");
        assert!(err.ends_with("..."), "{err}");
    }

    #[rstest]
    #[case::empty(vec![], vec![])]
    #[case::plain(vec![("dataset", 2), ("mail", 0)], vec![("dataset", 2)])]
    #[case::priority_lists_fold(
        vec![("dataset", 1), ("dataset\x06\x163", 2), ("dataset\x06\x169", 4)],
        vec![("dataset", 7)]
    )]
    #[case::priority_list_alone(vec![("priority_dataset\x06\x166", 3)], vec![("priority_dataset", 3)])]
    #[case::unknown_step_kept(vec![("odd\x06\x165", 1)], vec![("odd\x06\x165", 1)])]
    #[case::reply_queues_dropped(
        vec![("0b6f1d2e-aaaa.reply.celery.pidbox", 3), ("mail", 1)],
        vec![("mail", 1)]
    )]
    #[case::longest_first_then_name(
        vec![("b", 1), ("a", 1), ("c", 9)],
        vec![("c", 9), ("a", 1), ("b", 1)]
    )]
    fn folds_redis_lists_into_task_queues(
        #[case] lists: Vec<(&str, u64)>,
        #[case] expected: Vec<(&str, u64)>,
    ) {
        let got = fold_queue_lengths(lists.into_iter().map(|(l, n)| (l.to_string(), n)));
        let expected: Vec<QueueLength> = expected
            .into_iter()
            .map(|(q, n)| QueueLength {
                queue: q.to_string(),
                waiting: n,
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[rstest]
    #[case::plain(
        "redis://:hunter2@127.0.0.1:1/1",
        "auth hunter2 failed",
        "auth *** failed"
    )]
    #[case::user_and_password("redis://default:hunter2@127.0.0.1:1/1", "hunter2", "***")]
    #[case::percent_encoded(
        "redis://:p%40ss@127.0.0.1:1/1",
        "bad p@ss and p%40ss",
        "bad *** and ***"
    )]
    #[case::no_password("redis://127.0.0.1:1/1", "auth failed", "auth failed")]
    fn scrubs_the_password_from_errors(
        #[case] url: &str,
        #[case] text: &str,
        #[case] expected: &str,
    ) {
        let b = BrokerUrl::parse(url).unwrap();
        assert_eq!(scrub(text, &b), expected);
    }
}
