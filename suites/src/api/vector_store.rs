//! `api.vector-store`: the vector store the deployment's `.env` configures answers, with that
//! `.env`'s host, port and credentials, from the networks the api is on.
//!
//! Dify's api never touches the store at start-up (research §13): a wrong `MILVUS_URI`,
//! `CHROMA_HOST`, `ELASTICSEARCH_HOST` or OpenSearch password (§2, §10) only fails the first
//! high-quality indexing, long after the deployment "works". The probe itself needs to be where
//! the api is (a container on its networks), so whoever runs the checks supplies it.

use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "api.vector-store",
    suite: Suite::Api,
    severity: Severity::Critical,
    title: "the configured vector store answers with the .env's host, port and credentials from the api's networks",
};

pub(crate) async fn check(target: &Target) -> Outcome {
    let store = target
        .settings()
        .non_empty("VECTOR_STORE")
        .unwrap_or("?")
        .to_string();
    let mut probe = Probe::new(
        &CHECK,
        format!("the {store} vector store answers its own protocol with the api's settings"),
    );
    let Some(inspector) = target.inspector() else {
        return probe.skip("no way to reach the api's networks from here (only stacks the harness started are probed)");
    };
    match inspector.probe_vector_store().await {
        Ok(lines) => {
            let last = lines.last().cloned().unwrap_or_default();
            for l in lines {
                probe.evidence(l);
            }
            probe.pass(format!("{store} answered: {last}"))
        }
        Err(why) => {
            probe.evidence(why.clone());
            probe.fail(format!(
                "{store} did not answer: {}",
                why.lines().last().unwrap_or(&why)
            ))
        }
    }
}
