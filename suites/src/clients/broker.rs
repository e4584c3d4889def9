//! Plain reads of the Celery broker (Redis): how many messages wait in a queue.
//!
//! kombu's Redis transport keeps each queue as a Redis list named after the queue in the
//! broker's database; messages with a priority go to sibling lists `<queue>\x06\x16<n>`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::target::BrokerUrl;

/// kombu's separator between a queue name and its priority.
const PRIORITY_SEP: &str = "\x06\x16";

/// Waiting messages per queue name (priority lists added to their queue), for `queues`.
pub async fn queue_lengths(
    broker: &BrokerUrl,
    queues: &[&str],
    timeout: Duration,
) -> Result<BTreeMap<String, u64>, String> {
    let client = redis::Client::open(broker.expose()).map_err(|e| scrub(&e.to_string(), broker))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| {
            format!(
                "cannot reach the broker {broker}: {}",
                scrub(&e.to_string(), broker)
            )
        })?;
    let mut out = BTreeMap::new();
    for queue in queues {
        let mut total = 0u64;
        let mut names = vec![queue.to_string()];
        names.extend((1..=9).map(|p| format!("{queue}{PRIORITY_SEP}{p}")));
        for name in names {
            let n: u64 = redis::cmd("LLEN")
                .arg(&name)
                .query_async(&mut con)
                .await
                .map_err(|e| {
                    format!(
                        "LLEN {queue} on {broker}: {}",
                        scrub(&e.to_string(), broker)
                    )
                })?;
            total += n;
        }
        out.insert(queue.to_string(), total);
    }
    Ok(out)
}

fn scrub(text: &str, broker: &BrokerUrl) -> String {
    match reqwest::Url::parse(broker.expose())
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(pw) if !pw.is_empty() => text.replace(&pw, "***"),
        _ => text.to_string(),
    }
}
