//! What a deployment offers a matrix: its release's VECTOR_STORE and STORAGE_TYPE values and
//! the recipes that say how each value runs. Built once per command.

use std::path::Path;

use serde::Serialize;

use crate::compose::{ComposeCli, ComposeModel};
use crate::deployment::{Deployment, bundled};
use crate::error::{Error, Result};
use crate::matrix::Cell;
use crate::recipe::{Axis, RecipeBook, Runs};
use crate::values::{ValueSets, load_releases, release_for};
use crate::workspace::{compose_env, copy_tree};

#[derive(Clone, Debug)]
pub struct Catalog {
    pub deployment: Deployment,
    /// The deployment as its own `.env.example` resolves (no cell applied).
    pub model: ComposeModel,
    pub sets: ValueSets,
    pub recipes: RecipeBook,
    /// The deployment with every profile enabled: all services it can run.
    pub full_model: ComposeModel,
    /// Every compose profile the deployment defines.
    pub profiles: std::collections::BTreeSet<String>,
    /// The queues the release's api publishes to, when its facts say (for `celery.queues`).
    pub expected_queues: Option<suites::ExpectedQueues>,
}

/// Whether a cell can run, and if not why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Runnability {
    Runnable,
    /// A matrix rule left it out.
    Excluded(String),
    /// A value needs a cloud account; the keys a user must supply.
    External(String),
    /// No recipe says how a value runs.
    NoRecipe(String),
    /// A local value the deployment has no service for (no compose profile of that name, and
    /// the recipe adds none).
    NotOffered(String),
}

impl Runnability {
    /// The status word `plan` shows.
    pub fn label(&self) -> &'static str {
        match self {
            Runnability::Runnable => "runnable",
            Runnability::Excluded(_) => "excluded",
            Runnability::External(_) => "external",
            Runnability::NoRecipe(_) => "no recipe",
            Runnability::NotOffered(_) => "not offered",
        }
    }

    /// Why the cell does not run, as one line; `None` when it runs.
    pub fn reason(&self) -> Option<String> {
        match self {
            Runnability::Runnable => None,
            Runnability::Excluded(r)
            | Runnability::External(r)
            | Runnability::NoRecipe(r)
            | Runnability::NotOffered(r) => Some(format!("{}: {r}", self.label())),
        }
    }
}

impl Catalog {
    /// Reads the deployment and the bundled recipes and release facts.
    pub async fn load(deployment: Deployment) -> Result<Self> {
        Self::load_with(deployment, &bundled::recipes(), &bundled::releases()).await
    }

    pub async fn load_with(
        deployment: Deployment,
        recipes: &Path,
        releases: &Path,
    ) -> Result<Self> {
        let recipes = RecipeBook::load(recipes)?;
        let releases = load_releases(releases)?;
        let mut models = resolve_example(&deployment, &[None, Some("*")]).await?;
        let full_model = models.pop().unwrap_or_default();
        let profiles = full_model
            .services
            .values()
            .flat_map(|s| s.profiles.iter().cloned())
            .collect();
        let model = models.pop().unwrap_or_default();
        let api_image = model.services.get("api").and_then(|s| s.image.as_deref());
        let sets = ValueSets::read(&deployment.env_example, api_image, &releases);
        let expected_queues = release_for(api_image, &releases).and_then(|r| r.expected_queues());
        Ok(Self {
            deployment,
            model,
            sets,
            recipes,
            full_model,
            profiles,
            expected_queues,
        })
    }

    pub fn runnability(&self, cell: &Cell) -> Runnability {
        if let Some(reason) = &cell.excluded {
            return Runnability::Excluded(reason.clone());
        }
        let mut needs = Vec::new();
        for axis in Axis::ALL {
            let value = cell.value(axis);
            match self.recipes.get(axis, value) {
                None => {
                    return Runnability::NoRecipe(format!(
                        "no recipe says how {}={value} runs (matrices/recipes/{}/{value}.toml)",
                        axis.env_key(),
                        axis.name()
                    ));
                }
                Some(r) if r.runs == Runs::External => {
                    let missing: Vec<&str> = r
                        .needs
                        .iter()
                        .filter(|k| !cell.env.contains_key(*k))
                        .map(String::as_str)
                        .collect();
                    if !missing.is_empty() {
                        needs.push(format!(
                            "{}={value} is external and needs {}",
                            axis.env_key(),
                            missing.join(", ")
                        ));
                    }
                }
                Some(r) => {
                    if axis == Axis::VectorStore
                        && r.services.is_empty()
                        && !self.profiles.contains(value)
                    {
                        return Runnability::NotOffered(format!(
                            "the deployment has no compose profile `{value}` for VECTOR_STORE={value}"
                        ));
                    }
                }
            }
        }
        if needs.is_empty() {
            Runnability::Runnable
        } else {
            Runnability::External(needs.join("; "))
        }
    }
}

/// `docker compose config` of a copy of the deployment with its `.env.example` as `.env`
/// (some layouts read `./.env` as a service env file too); no engine needed, nothing written to
/// the deployment itself.
async fn resolve_example(
    deployment: &Deployment,
    profiles: &[Option<&str>],
) -> Result<Vec<ComposeModel>> {
    let tmp = std::env::temp_dir().join(format!(
        "dify-conformance-example-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let result = async {
        copy_tree(&deployment.dir, &tmp)?;
        let env_file = tmp.join(".env");
        std::fs::write(&env_file, deployment.env_example.render())
            .map_err(|e| Error::io("write", &env_file, e))?;
        let compose_file = tmp.join(
            deployment
                .compose_file
                .file_name()
                .unwrap_or_else(|| "docker-compose.yaml".as_ref()),
        );
        let mut models = Vec::new();
        for p in profiles {
            let mut env = compose_env(&deployment.env_example, |k| std::env::var(k).ok());
            if let Some(p) = p {
                env.insert("COMPOSE_PROFILES".into(), (*p).into());
            }
            let cli = ComposeCli {
                workdir: tmp.clone(),
                files: vec![compose_file.clone()],
                project: "dify-conformance-plan".into(),
                env,
                env_file: None,
            };
            models.push(cli.config().await.map_err(|e| match e {
                Error::ComposeConfig { stderr, .. } => Error::ComposeConfig {
                    dir: deployment.dir.clone(),
                    stderr,
                },
                other => other,
            })?);
        }
        Ok(models)
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}
