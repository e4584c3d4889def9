//! What a deployment offers a matrix: its release's VECTOR_STORE and STORAGE_TYPE values and
//! the recipes that say how each value runs. Built once per command.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::compose::{ComposeCli, ComposeModel};
use crate::deployment::{Deployment, bundled};
use crate::envfile::EnvDocument;
use crate::error::{Error, Result};
use crate::images::ImageMap;
use crate::matrix::Cell;
use crate::recipe::{Axis, RecipeBook, Runs};
use crate::values::{ValueSets, load_releases, read_from_image};
use crate::workspace::{active_profiles, compose_env, copy_tree, render_env};

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
    /// Bind-mounted entrypoint scripts of the deployment that lost their exec bit.
    pub not_executable: Vec<crate::compose::NotExecutable>,
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
    /// Dify's compose runs it, from an image that needs a licence.
    Licensed(String),
    /// A value the deployment's value sets do not know, allowed by the matrix
    /// (`allow_unknown`): it runs, as it is.
    UnknownValue(String),
    /// It would run, but the engine lacks images it needs (and compose may not pull).
    NotRunnableHere(String),
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
            Runnability::Licensed(_) => "licensed",
            Runnability::UnknownValue(_) => "unknown value",
            Runnability::NotRunnableHere(_) => "not runnable here",
        }
    }

    /// Whether `run` runs the cell.
    pub fn runs(&self) -> bool {
        matches!(self, Runnability::Runnable | Runnability::UnknownValue(_))
    }

    /// What the status stands on, as one line; `None` for a plain runnable cell.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Runnability::Runnable => None,
            Runnability::Excluded(r)
            | Runnability::External(r)
            | Runnability::NoRecipe(r)
            | Runnability::NotOffered(r)
            | Runnability::Licensed(r)
            | Runnability::UnknownValue(r)
            | Runnability::NotRunnableHere(r) => Some(r),
        }
    }

    /// Why the cell does not run, as one line; `None` when it runs.
    pub fn reason(&self) -> Option<String> {
        if self.runs() {
            return None;
        }
        self.detail().map(|r| format!("{}: {r}", self.label()))
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
        let (mut models, not_executable) = resolve_example(&deployment, &[None, Some("*")]).await?;
        let full_model = models.pop().unwrap_or_default();
        let profiles = full_model
            .services
            .values()
            .flat_map(|s| s.profiles.iter().cloned())
            .collect();
        let model = models.pop().unwrap_or_default();
        let api_image = model.services.get("api").and_then(|s| s.image.as_deref());
        let image = read_from_image(api_image).await;
        let split = split_examples(&deployment.dir);
        let examples: Vec<&EnvDocument> = std::iter::once(&deployment.env_example)
            .chain(split.iter())
            .collect();
        let sets = ValueSets::resolve(&examples, api_image, &image, &releases);
        let expected_queues = api_image
            .and_then(|img| releases.iter().find(|r| r.matches(img)))
            .map(|r| r.expected_queues());
        Ok(Self {
            deployment,
            model,
            sets,
            recipes,
            full_model,
            profiles,
            expected_queues,
            not_executable,
        })
    }

    /// The image each service of a cell's run will really run, after the image map: the
    /// deployment's services the cell starts and the services its recipes add. `plan` and
    /// `run` both judge a cell's images by this, so they cannot disagree.
    pub fn cell_images(&self, cell: &Cell, images: &ImageMap) -> BTreeMap<String, String> {
        let mapped = |image: &str| images.local_for(image).unwrap_or(image).to_string();
        let mut out = BTreeMap::new();
        for (name, s) in &self.full_model.services {
            if let Some(image) = &s.image
                && self.cell_runs_service(cell, name)
            {
                out.insert(name.clone(), mapped(image));
            }
        }
        for axis in Axis::ALL {
            let Some(recipe) = self.recipes.get(axis, cell.value(axis)) else {
                continue;
            };
            for (name, service) in &recipe.services {
                if let Some(image) = service.get("image").and_then(|i| i.as_str()) {
                    out.insert(name.clone(), mapped(image));
                }
            }
        }
        out
    }

    /// Refuses (as bad input) cells that would run a bind-mounted script without its exec bit,
    /// before any stack starts: compose would fail in one long line that names no service.
    pub fn check_entrypoints(&self, cells: &[Cell]) -> Result<()> {
        let broken: Vec<&crate::compose::NotExecutable> = self
            .not_executable
            .iter()
            .filter(|n| cells.iter().any(|c| self.cell_runs_service(c, &n.service)))
            .collect();
        if broken.is_empty() {
            return Ok(());
        }
        let what: Vec<String> = broken
            .iter()
            .map(|n| format!("service {} runs {}", n.service, n.path.display()))
            .collect();
        let paths: Vec<String> = broken
            .iter()
            .map(|n| n.path.display().to_string())
            .collect();
        Err(Error::BadInput(format!(
            "entrypoint script without the exec bit (compose up would fail with `permission denied`): {}; fix: chmod +x {}",
            what.join(", "),
            paths.join(" ")
        )))
    }

    /// Whether a run of `cell` starts `service` of the deployment: it runs, and the service
    /// is in no profile or in one the cell activates.
    pub fn cell_runs_service(&self, cell: &Cell, service: &str) -> bool {
        let Some(s) = self.full_model.services.get(service) else {
            return false;
        };
        if !self.runnability(cell).runs() {
            return false;
        }
        if s.profiles.is_empty() {
            return true;
        }
        let env = render_env(&self.deployment.env_example, cell, &self.recipes);
        let active = self.cell_profiles(cell, &env);
        s.profiles.iter().any(|p| active.contains(p))
    }

    pub fn runnability(&self, cell: &Cell) -> Runnability {
        if let Some(reason) = &cell.excluded {
            return Runnability::Excluded(reason.clone());
        }
        let mut needs = Vec::new();
        let mut licensed = Vec::new();
        for axis in Axis::ALL {
            let value = cell.value(axis);
            let key = axis.env_key();
            let unknown = cell.unknown.contains(&format!("{key}={value}"));
            match self.recipes.get(axis, value) {
                // An unknown value is tried as it is: no recipe is no reason to refuse it.
                None if unknown => {}
                None => {
                    return Runnability::NoRecipe(format!(
                        "no recipe says how {key}={value} runs (matrices/recipes/{}/{value}.toml)",
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
                            "{key}={value} is external and needs {}",
                            missing.join(", ")
                        ));
                    }
                }
                Some(r) if r.runs == Runs::Licensed => {
                    licensed.push(format!(
                        "{key}={value}: {}",
                        r.licence.as_deref().unwrap_or("its image needs a licence")
                    ));
                }
                Some(r) => {
                    let profile = self.sets.profile_for(value);
                    if axis == Axis::VectorStore
                        && r.services.is_empty()
                        && !self.profiles.contains(profile)
                        && !unknown
                    {
                        return Runnability::NotOffered(format!(
                            "the deployment has no compose profile `{profile}` for VECTOR_STORE={value}"
                        ));
                    }
                }
            }
        }
        if !licensed.is_empty() {
            Runnability::Licensed(licensed.join("; "))
        } else if !needs.is_empty() {
            Runnability::External(needs.join("; "))
        } else if !cell.unknown.is_empty() {
            Runnability::UnknownValue(format!(
                "{} not among {}; tried as it is (allow_unknown)",
                cell.unknown.join(", "),
                match self.sets.origin {
                    crate::values::Origin::ApiImage => "the api image's values".to_string(),
                    crate::values::Origin::ReleaseFacts => format!(
                        "release {} facts",
                        self.sets.release.as_deref().unwrap_or("?")
                    ),
                    crate::values::Origin::EnvExample =>
                        "the values guessed from .env.example".into(),
                }
            ))
        } else {
            Runnability::Runnable
        }
    }

    /// The matrix's cells on this deployment. Where the release runs a VECTOR_STORE value under
    /// a profile of another name (0.15's `tidb_vector` under `tidb`), the cell's `.env` gets a
    /// COMPOSE_PROFILES naming that profile in place of the value.
    pub fn expand(&self, matrix: &crate::matrix::Matrix) -> Result<Vec<Cell>> {
        let mut cells = matrix.expand(Some(&self.sets), &self.recipes)?;
        let template = self.deployment.env_example.get("COMPOSE_PROFILES");
        for cell in &mut cells {
            let profile = self.sets.profile_for(&cell.vector_store);
            if profile == cell.vector_store || cell.env.contains_key("COMPOSE_PROFILES") {
                continue;
            }
            if let Some(t) = template.as_deref().filter(|t| t.contains("${VECTOR_STORE")) {
                let start = t.find("${VECTOR_STORE").unwrap_or_default();
                let end = t[start..].find('}').map_or(t.len(), |e| start + e + 1);
                let rewritten = format!("{}{profile}{}", &t[..start], &t[end..]);
                cell.env.insert("COMPOSE_PROFILES".into(), rewritten);
            }
        }
        Ok(cells)
    }

    /// The secrets of a cell known before it runs: its rendered `.env` (the example, the
    /// recipes', the matrix's values) and the environment the matrix sets on services.
    pub fn redactor(&self, cell: &Cell) -> crate::redact::Redactor {
        let env = render_env(&self.deployment.env_example, cell, &self.recipes).values();
        cell.service_env
            .values()
            .map(crate::redact::Redactor::from_env)
            .fold(crate::redact::Redactor::from_env(&env), |all, r| {
                all.merged(&r)
            })
    }

    /// The compose profiles a cell's run activates: its `.env`'s COMPOSE_PROFILES with the
    /// VECTOR_STORE value's profile named as the release names it, keeping only profiles the
    /// compose file defines. A cell that does not run lists none.
    pub fn cell_profiles(&self, cell: &Cell, env: &EnvDocument) -> Vec<String> {
        if !self.runnability(cell).runs() {
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for p in active_profiles(env) {
            let p = if p == cell.vector_store {
                self.sets.profile_for(&p).to_string()
            } else {
                p
            };
            if self.profiles.contains(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// The split layout's per-service examples (`envs/**/*.env.example`, 1.14 on): they hold the
/// keys the top-level `.env.example` no longer lists, for the `.env.example` guess. A file the
/// parser cannot read is left out of the guess (compose reads them, not the harness).
pub fn split_examples(dir: &Path) -> Vec<EnvDocument> {
    let mut found = Vec::new();
    let mut stack = vec![dir.join("envs")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".env.example")
                && let Ok(doc) = EnvDocument::load(&p)
            {
                found.push(doc);
            }
        }
    }
    found
}

/// `docker compose config` of a copy of the deployment with its `.env.example` as `.env`
/// (some layouts read `./.env` as a service env file too); no engine needed, nothing written to
/// the deployment itself.
async fn resolve_example(
    deployment: &Deployment,
    profiles: &[Option<&str>],
) -> Result<(Vec<ComposeModel>, Vec<crate::compose::NotExecutable>)> {
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
        // Bind mounts point into the copy; the scripts to fix are the deployment's.
        let not_executable = models
            .last()
            .map(|m| crate::compose::scripts_without_exec_bit(m, &tmp, &deployment.dir))
            .unwrap_or_default();
        Ok((models, not_executable))
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_value_runs_and_says_why_the_others_do_not() {
        let unknown = Runnability::UnknownValue("STORAGE_TYPE=x not among ...".into());
        assert!(unknown.runs());
        // The runner runs a cell whose reason is None.
        assert_eq!(unknown.reason(), None);
        assert_eq!(unknown.detail(), Some("STORAGE_TYPE=x not among ..."));
        let licensed = Runnability::Licensed("VECTOR_STORE=vastbase: a licence".into());
        assert!(!licensed.runs());
        assert_eq!(
            licensed.reason().as_deref(),
            Some("licensed: VECTOR_STORE=vastbase: a licence")
        );
        assert!(Runnability::Runnable.runs());
        assert_eq!(Runnability::Runnable.detail(), None);
    }
}
