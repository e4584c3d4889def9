//! Celery's remote control ("pidbox") spoken over a Redis broker, as `celery inspect` does it,
//! so a check can ping workers from outside their containers.
//!
//! The kombu Redis transport maps AMQP onto Redis:
//! - a broadcast goes to the fanout exchange `celery.pidbox`, i.e. `PUBLISH /<db>.celery.pidbox`;
//! - the reply exchange `reply.celery.pidbox` is direct: its bindings are members
//!   `routing_key SEP pattern SEP queue` of the set `_kombu.binding.reply.celery.pidbox`
//!   (SEP = `\x06\x16`) and a reply is `LPUSH`ed onto each bound queue (a Redis list);
//! - every message is a JSON envelope whose `body` is base64 of the JSON payload.

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

/// Broadcasts a remote-control `method` with `arguments` to every worker and collects replies.
pub async fn broadcast(
    broker: &BrokerUrl,
    method: &str,
    arguments: Value,
    timeout: Duration,
) -> Result<Vec<Reply>, ControlError> {
    let shown = broker.to_string();
    let connect_err = |e: redis::RedisError| ControlError::Connect {
        broker: shown.clone(),
        reason: scrub(&e.to_string(), broker),
    };
    let client = redis::Client::open(broker.expose()).map_err(connect_err)?;
    // BRPOP blocks for up to `timeout`; the client must not give up on it sooner.
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout + Duration::from_secs(2)));
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(connect_err)?;

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

/// Redis errors can quote the URL; make sure the password never leaves.
fn scrub(text: &str, broker: &BrokerUrl) -> String {
    let secret = reqwest::Url::parse(broker.expose())
        .ok()
        .and_then(|u| u.password().map(str::to_owned));
    match secret {
        Some(pw) if !pw.is_empty() => text.replace(&pw, "***"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn parses_a_worker_reply_for_our_ticket_only() {
        let answer = json!({"celery@abc": {"ok": "pong"}});
        let raw = json!({
            "body": BASE64.encode(answer.to_string()),
            "headers": {"ticket": "t1", "clock": 3},
            "properties": {"body_encoding": "base64"},
        })
        .to_string();
        let replies = parse_reply(&raw, "t1").unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].worker, "celery@abc");
        assert_eq!(replies[0].answer, json!({"ok": "pong"}));
        assert!(parse_reply(&raw, "t2").is_none());
        assert!(parse_reply("not json", "t1").is_none());
    }

    #[test]
    fn scrubs_the_password_from_errors() {
        let b = BrokerUrl::parse("redis://:hunter2@127.0.0.1:1/1").unwrap();
        assert_eq!(scrub("auth hunter2 failed", &b), "auth *** failed");
    }
}
