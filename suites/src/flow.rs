//! The user journey the api and celery checks share: set up, log in, upload, index.
//!
//! Each step runs once per run and is judged by one check (its outcome is cached with it);
//! checks further down the journey take the step's result, or are skipped naming the check that
//! did not pass, so one broken step fails one check instead of ten. What the journey creates
//! (datasets, API keys) is recorded and removed by [`Flow::clean_up`] after every suite ran.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::clients::console::Session;
use crate::outcome::Outcome;
use crate::target::Target;

/// A step's result: the value later steps need (when it passed) and the outcome of its check.
#[derive(Clone, Debug)]
pub(crate) struct Done<T> {
    pub value: Option<T>,
    pub outcome: Outcome,
}

impl<T: Clone> Done<T> {
    pub fn passed(outcome: Outcome, value: T) -> Self {
        Self {
            value: Some(value),
            outcome,
        }
    }

    pub fn without(outcome: Outcome) -> Self {
        Self {
            value: None,
            outcome,
        }
    }

    /// The value, or why a dependent check cannot run.
    pub fn needed(&self) -> Result<T, String> {
        self.value.clone().ok_or_else(|| {
            format!(
                "needs {}, which {}",
                self.outcome.check,
                match self.outcome.status {
                    crate::Status::Skipped => format!("was skipped ({})", self.outcome.got),
                    // What it got says why here too: against a server that is not Dify's
                    // console, that is the whole story.
                    _ => format!("failed ({})", self.outcome.got),
                }
            )
        })
    }
}

/// The uploaded file: its id and the word only it contains.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub file_id: String,
    pub word: String,
}

/// The economy document made from the upload, once it completed.
#[derive(Clone, Debug)]
pub(crate) struct Indexed {
    pub dataset_id: String,
    pub document_id: String,
    /// Indexing tasks each worker had executed before the document was made, by task name
    /// (from remote control `stats`), so a check can tell the worker ran the new one.
    pub worker_totals_before: Option<std::collections::BTreeMap<String, u64>>,
    /// Status transitions seen, with seconds since the document was made.
    pub transitions: Vec<(String, f64)>,
}

/// Things the journey made on the deployment, removed at the end.
#[derive(Debug, Default)]
pub(crate) struct Created {
    pub datasets: Vec<String>,
    pub api_keys: Vec<String>,
}

/// The shared journey of one run against one target.
#[derive(Debug)]
pub struct Flow {
    pub(crate) target: Target,
    pub(crate) setup: OnceCell<Done<()>>,
    pub(crate) login: OnceCell<Done<Session>>,
    pub(crate) upload: OnceCell<Done<Upload>>,
    pub(crate) index: OnceCell<Done<Indexed>>,
    pub(crate) created: Mutex<Created>,
}

impl Flow {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            setup: OnceCell::new(),
            login: OnceCell::new(),
            upload: OnceCell::new(),
            index: OnceCell::new(),
            created: Mutex::new(Created::default()),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub(crate) async fn setup(&self) -> &Done<()> {
        self.setup
            .get_or_init(|| crate::api::setup::run(self))
            .await
    }

    pub(crate) async fn login(&self) -> &Done<Session> {
        self.login
            .get_or_init(|| crate::api::login::run(self))
            .await
    }

    pub(crate) async fn upload(&self) -> &Done<Upload> {
        self.upload
            .get_or_init(|| crate::api::upload::run(self))
            .await
    }

    pub(crate) async fn index(&self) -> &Done<Indexed> {
        self.index
            .get_or_init(|| crate::api::dataset::run_index(self))
            .await
    }

    pub(crate) fn record_dataset(&self, id: &str) {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .datasets
            .push(id.to_string());
    }

    pub(crate) fn record_api_key(&self, id: &str) {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .api_keys
            .push(id.to_string());
    }

    pub(crate) fn forget_api_key(&self, id: &str) {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .api_keys
            .retain(|k| k != id);
    }

    /// Removes what the journey created; returns one line per thing that could not be removed.
    /// Deleting a dataset makes Dify remove its documents, segments and uploaded files.
    pub async fn clean_up(&self) -> Vec<String> {
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if created.datasets.is_empty() && created.api_keys.is_empty() {
            return Vec::new();
        }
        let Some(session) = self.login.get().and_then(|d| d.value.clone()) else {
            return vec!["not logged in: cannot remove what the checks created".into()];
        };
        let mut problems = Vec::new();
        let deletes = created
            .api_keys
            .iter()
            .map(|id| format!("/console/api/datasets/api-keys/{id}"))
            .chain(
                created
                    .datasets
                    .iter()
                    .map(|id| format!("/console/api/datasets/{id}")),
            );
        for path in deletes {
            match session.call(reqwest::Method::DELETE, &path, None).await {
                Ok(a) if a.is_success() || a.status == 404 => {}
                Ok(a) => problems.push(a.line()),
                Err(e) => problems.push(e),
            }
        }
        problems
    }
}

/// How often a status is polled while waiting for the worker.
pub(crate) const POLL: Duration = Duration::from_millis(500);
