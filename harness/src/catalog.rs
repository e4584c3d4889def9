//! What a deployment offers a matrix: its release's VECTOR_STORE and STORAGE_TYPE values and
//! the recipes that say how each value runs. Built once per command.

use std::path::Path;

use serde::Serialize;

use crate::compose::{ComposeCli, ComposeModel};
use crate::deployment::{Deployment, bundled};
use crate::error::{Error, Result};
use crate::matrix::Cell;
use crate::recipe::{Axis, RecipeBook, Runs};
use crate::values::{ValueSets, load_releases};
use crate::workspace::compose_env;

#[derive(Clone, Debug)]
pub struct Catalog {
    pub deployment: Deployment,
    /// The deployment as its own `.env.example` resolves (no cell applied).
    pub model: ComposeModel,
    pub sets: ValueSets,
    pub recipes: RecipeBook,
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
        let model = resolve_example(&deployment).await?;
        let api_image = model.services.get("api").and_then(|s| s.image.as_deref());
        let sets = ValueSets::read(&deployment.env_example, api_image, &releases);
        Ok(Self {
            deployment,
            model,
            sets,
            recipes,
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
                Some(_) => {}
            }
        }
        if needs.is_empty() {
            Runnability::Runnable
        } else {
            Runnability::External(needs.join("; "))
        }
    }
}

/// `docker compose config` of the deployment with its `.env.example` as `.env`; no engine
/// needed, nothing written to the deployment.
async fn resolve_example(deployment: &Deployment) -> Result<ComposeModel> {
    let tmp = std::env::temp_dir().join(format!(
        "dify-conformance-example-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    let env_file = tmp.join(".env");
    std::fs::write(&env_file, deployment.env_example.render())
        .map_err(|e| Error::io("write", &env_file, e))?;
    let cli = ComposeCli {
        workdir: deployment.dir.clone(),
        files: vec![deployment.compose_file.clone()],
        project: "dify-conformance-plan".into(),
        env: compose_env(&deployment.env_example, |k| std::env::var(k).ok()),
        env_file: Some(env_file),
    };
    let model = cli.config().await;
    let _ = std::fs::remove_dir_all(&tmp);
    model
}
