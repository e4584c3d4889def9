//! What the checks may see of a stack the harness started, beyond HTTP: where an uploaded file
//! landed, and whether the vector store answers from the api's networks.
//!
//! Both run the recipe's Python probe (`[probe]` in `matrices/recipes/`) with the api's own
//! image and environment, so they use the same client libraries and settings as the api:
//! a storage lookup runs inside the running api container (the upload is there or not); a
//! vector-store probe runs in a short-lived container of the api's image, attached to the api's
//! networks, so it still speaks when the api itself is broken, and touches nothing of it.

use std::time::Duration;

use suites::{BoxFuture, Inspector};

use crate::engine::{Engine, OneShot};
use crate::labels;
use crate::recipe::RecipeProbe;

/// How long a probe may take (a Python import of a store's client included).
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// The service whose image, environment and networks the probes borrow.
const API_SERVICE: &str = "api";

#[derive(Clone)]
pub struct StackInspector {
    pub engine: Engine,
    pub project: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub storage_type: String,
    pub vector_store: String,
    pub storage_probe: Option<RecipeProbe>,
    pub vector_probe: Option<RecipeProbe>,
}

impl std::fmt::Debug for StackInspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackInspector")
            .field("project", &self.project)
            .finish()
    }
}

/// Runs a Python script with whichever interpreter the image has (`python3` or `python`),
/// passing the rest of `argv` on.
fn python_argv(script: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        "exec \"$(command -v python3 || command -v python)\" -c \"$0\" \"$@\"".into(),
        script.into(),
    ]
}

impl StackInspector {
    async fn api_container(&self) -> Result<String, String> {
        let states = self
            .engine
            .containers(labels::COMPOSE_PROJECT, &self.project)
            .await
            .map_err(|e| e.to_string())?;
        states
            .into_iter()
            .find(|s| s.service == API_SERVICE && s.state == "running")
            .map(|s| s.id)
            .ok_or_else(|| format!("no running `{API_SERVICE}` container"))
    }

    async fn locate(&self, file_id: &str, word: &str) -> Result<Vec<String>, String> {
        let Some(probe) = &self.storage_probe else {
            return Err(format!(
                "no storage probe for STORAGE_TYPE={} (matrices/recipes/storage_type)",
                self.storage_type
            ));
        };
        let api = self.api_container().await?;
        let mut argv = python_argv(&probe.python);
        argv.push(file_id.to_string());
        argv.push(word.to_string());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (code, output) = tokio::time::timeout(PROBE_TIMEOUT, self.engine.exec(&api, &argv))
            .await
            .map_err(|_| format!("the storage probe did not finish within {PROBE_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        let lines: Vec<String> = output
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        if code == 0 {
            Ok(lines)
        } else {
            Err(format!(
                "the storage probe exited {code}: {}",
                lines.last().cloned().unwrap_or_default()
            ))
        }
    }

    async fn probe(&self) -> Result<Vec<String>, String> {
        let Some(probe) = &self.vector_probe else {
            return Err(format!(
                "no probe for VECTOR_STORE={} (add `[probe]` to matrices/recipes/vector_store/{}.toml)",
                self.vector_store, self.vector_store
            ));
        };
        let api = self.api_container().await?;
        let (image, env, networks) = self
            .engine
            .container_setup(&api)
            .await
            .map_err(|e| e.to_string())?;
        let mut labels = self.labels.clone();
        labels.insert(labels::COMPOSE_PROJECT.into(), self.project.clone());
        let spec = OneShot {
            name_prefix: format!("{}-vector-probe", self.project),
            image,
            cmd: python_argv(&probe.python),
            env,
            networks: networks.clone(),
            labels,
        };
        let (code, output) = self
            .engine
            .run_to_completion(&spec, PROBE_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let mut lines: Vec<String> = output
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        let from = format!("probe container on network(s) {}", networks.join(", "));
        match code {
            0 => {
                lines.insert(0, from);
                Ok(lines)
            }
            -2 => Err(format!("{from}: no answer within {PROBE_TIMEOUT:?}")),
            _ => {
                // The last lines of a Python traceback say what failed.
                let tail: Vec<String> = lines.iter().rev().take(3).rev().cloned().collect();
                Err(format!("{from}: exited {code}\n{}", tail.join("\n")))
            }
        }
    }
}

impl Inspector for StackInspector {
    fn locate_upload<'a>(
        &'a self,
        file_id: &'a str,
        word: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(self.locate(file_id, word))
    }

    fn probe_vector_store(&self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(self.probe())
    }
}
