//! `api.retrieval-setting`: the retrieval methods the api offers match the deployment's
//! VECTOR_STORE, which proves the api runs with the store `.env` asked for.
//!
//! Dify 1.13.3 (`controllers/console/datasets/datasets.py`, research §2): semantic search only
//! for relyt, tidb_vector, chroma, pgvecto-rs, vikingdb and upstash; semantic, full-text and
//! hybrid search for every other known store (milvus included); an unknown value is an error.

use reqwest::Method;
use serde_json::Value;

use crate::flow::Flow;
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};

pub(crate) const CHECK: Check = Check {
    id: "api.retrieval-setting",
    suite: Suite::Api,
    severity: Severity::Major,
    title: "the retrieval methods the api offers match the configured VECTOR_STORE",
};
const PATH: &str = "/console/api/datasets/retrieval-setting";
const SEMANTIC_ONLY: &[&str] = &[
    "relyt",
    "tidb_vector",
    "chroma",
    "pgvecto-rs",
    "vikingdb",
    "upstash",
];

/// The methods Dify offers for `store`.
pub(crate) fn expected_methods(store: &str) -> Vec<&'static str> {
    if SEMANTIC_ONLY.contains(&store) {
        vec!["semantic_search"]
    } else {
        vec!["semantic_search", "full_text_search", "hybrid_search"]
    }
}

pub(crate) async fn check(flow: &Flow) -> Outcome {
    let target = flow.target();
    let store = target
        .settings()
        .non_empty("VECTOR_STORE")
        .map(str::to_owned);
    let expected = match &store {
        Some(s) => format!(
            "HTTP 200 with retrieval_method {:?} (VECTOR_STORE={s})",
            expected_methods(s)
        ),
        None => "HTTP 200 with a retrieval_method list".to_string(),
    };
    let mut probe = Probe::new(&CHECK, expected).url(target.url(PATH));
    let session = match flow.login().await.needed() {
        Ok(s) => s,
        Err(why) => return probe.skip(why),
    };
    let answer = match session.call(Method::GET, PATH, None).await {
        Ok(a) => a,
        Err(e) => return probe.fail(e),
    };
    probe.evidence(answer.line());
    if answer.status != 200 {
        return probe.fail(format!(
            "HTTP {} (an unknown VECTOR_STORE makes the api raise here)",
            answer.status
        ));
    }
    let Some(methods) = answer.field("/retrieval_method").and_then(Value::as_array) else {
        return probe.fail("no `retrieval_method` list in the answer");
    };
    let mut got: Vec<&str> = methods.iter().filter_map(Value::as_str).collect();
    got.sort_unstable();
    probe.fact("retrieval_methods", got.join(","));
    let Some(store) = store else {
        return probe.pass(format!(
            "offers {} (VECTOR_STORE unknown: pass --env-file to judge them)",
            got.join(", ")
        ));
    };
    let mut want = expected_methods(&store);
    want.sort_unstable();
    if got == want {
        probe.pass(format!(
            "offers {} as Dify does for {store}",
            got.join(", ")
        ))
    } else {
        probe.fail(format!(
            "offers {} where Dify offers {} for {store}: the api runs with another VECTOR_STORE",
            got.join(", "),
            want.join(", ")
        ))
    }
}
