//! A cell's own copy of the deployment: the directory compose runs in.
//!
//! Dify's compose keeps state in `./volumes` bind mounts and regenerates nginx config into its
//! own tree, so two stacks started from one directory would share databases. Each cell gets a
//! copy without `volumes/`, a rendered `.env`, its TLS material and a generated override.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use suites::{BrokerUrl, DEFAULT_CONSOLE_ORIGIN, Secret};

use crate::compose::{ComposeCli, ComposeModel};
use crate::deployment::Deployment;
use crate::endpoint::Endpoint;
use crate::envfile::EnvDocument;
use crate::error::{Error, Result};
use crate::images::ImageMap;
use crate::interpolate::interpolate;
use crate::labels;
use crate::matrix::Cell;
use crate::overrides::{self, OverrideSpec, Substitution};
use crate::pki::CellPki;
use crate::recipe::{Axis, CellRecipe, RecipeBook};

/// File name of the generated override inside a workspace.
pub const OVERRIDE_FILE: &str = "docker-compose.conformance.yaml";
/// The service that fronts the deployment, as in Dify's compose.
pub const ENTRY_SERVICE: &str = "nginx";

/// Where all workspaces live; the reaper looks here too.
pub fn root() -> PathBuf {
    std::env::temp_dir().join("dify-conformance")
}

/// In a workspace whose stack `--keep-on-failure` left up: the reaper of a later run leaves
/// it; only `reap` removes it.
pub const KEPT_FILE: &str = ".dify-conformance-kept";

/// The workspace directories of a run (`dc-<run>-<cell>`).
pub fn run_workspaces(run_id: &str) -> Vec<PathBuf> {
    let prefix = format!("dc-{run_id}-");
    std::fs::read_dir(root())
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Removes a workspace directory, its owner file last (see [`Workspace::remove`]).
pub fn remove_dir_owner_last(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("remove", dir, e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name() == crate::reaper::OWNER_FILE {
            continue;
        }
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io("remove", &path, e))?;
    }
    let owner_file = dir.join(crate::reaper::OWNER_FILE);
    let owner = std::fs::read(&owner_file).ok();
    let _ = std::fs::remove_file(&owner_file);
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            // Something wrote into it meanwhile: leave the owner for the reaper.
            if let Some(owner) = owner {
                let _ = std::fs::write(&owner_file, owner);
            }
            Err(Error::io("remove", dir, e))
        }
        _ => Ok(()),
    }
}

/// Removes a run's workspaces, all but those kept for debugging.
pub fn remove_run_workspaces(run_id: &str) {
    for dir in run_workspaces(run_id) {
        if !dir.join(KEPT_FILE).exists() {
            let _ = remove_dir_owner_last(&dir);
        }
    }
}

/// The compose project name of a cell in a run: unique per run, valid for compose.
pub fn project_name(run_id: &str, cell_id: &str) -> String {
    let cell: String = cell_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("dc-{run_id}-{cell}")
}

/// How the harness reaches a prepared stack once it runs.
#[derive(Clone, Debug)]
pub struct Access {
    /// nginx's container port for HTTP.
    pub http_port: u16,
    /// nginx's container port for HTTPS, when the cell enables it.
    pub https_port: Option<u16>,
    /// The broker's service, container port and URL (its host:port to be replaced).
    pub broker: Option<BrokerAccess>,
    pub console_origin: String,
}

#[derive(Clone, Debug)]
pub struct BrokerAccess {
    pub service: String,
    pub port: u16,
    url: Secret,
}

impl BrokerAccess {
    /// The broker URL with its host and port replaced by where the harness reaches it.
    pub fn url_via(&self, host: &str, port: u16) -> Result<BrokerUrl> {
        let mut url = parse_broker_url(self.url.expose())?;
        url.set_host(Some(host))
            .map_err(|e| Error::BadInput(format!("broker host {host}: {e}")))?;
        url.set_port(Some(port))
            .map_err(|_| Error::BadInput("broker URL cannot take a port".into()))?;
        BrokerUrl::parse(url.as_str()).map_err(|e| Error::BadInput(e.to_string()))
    }
}

fn parse_broker_url(text: &str) -> Result<url::Url> {
    url::Url::parse(text).map_err(|e| {
        Error::BadInput(format!(
            "CELERY_BROKER_URL `{}` is not a URL: {e}",
            suites::redact_url(text)
        ))
    })
}

/// A prepared, validated cell directory.
#[derive(Debug)]
pub struct Workspace {
    pub dir: PathBuf,
    pub project: String,
    pub cli: ComposeCli,
    /// The resolved model with the override applied.
    pub model: ComposeModel,
    pub env: EnvDocument,
    pub access: Access,
    pub pki: Option<CellPki>,
    pub substitutions: Vec<Substitution>,
    pub labels: BTreeMap<String, String>,
    /// Where the stack's published ports are reached from here.
    pub endpoint: Endpoint,
}

impl std::fmt::Debug for CellPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CellPki { .. }")
    }
}

impl Workspace {
    /// Copies the deployment, renders `.env`, writes certificates and the override, and checks
    /// the result with `docker compose config`.
    pub async fn prepare(
        deployment: &Deployment,
        cell: &Cell,
        run_id: &str,
        images: &ImageMap,
        recipes: &RecipeBook,
    ) -> Result<Self> {
        let mut recipe = CellRecipe::combine(
            Axis::ALL
                .iter()
                .filter_map(|axis| recipes.get(*axis, cell.value(*axis))),
        )?;
        // Update checks off: offline, the version endpoint would wait for the update server
        // (research §7), and `api.version` wants the api's own answer. On the service, because
        // compose's `${CHECK_UPDATE_URL:-https://updates.dify.ai}` turns an empty `.env` value
        // back into the default.
        recipe
            .service_env
            .entry("CHECK_UPDATE_URL".into())
            .or_default();
        let project = project_name(run_id, &cell.id);
        let dir = root().join(&project);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
        }
        copy_tree(&deployment.dir, &dir)?;
        // First thing after the copy: whoever finds this directory can tell if its owner lives.
        let owner = dir.join(crate::reaper::OWNER_FILE);
        std::fs::write(&owner, labels::Owner::current().to_string())
            .map_err(|e| Error::io("write", &owner, e))?;

        let env = render_env(&deployment.env_example, cell, recipes);
        let env_path = dir.join(".env");
        std::fs::write(&env_path, env.render()).map_err(|e| Error::io("write", &env_path, e))?;

        let compose_file = dir.join(
            deployment
                .compose_file
                .file_name()
                .unwrap_or_else(|| "docker-compose.yaml".as_ref()),
        );
        let mut cli = ComposeCli {
            workdir: dir.clone(),
            files: vec![compose_file],
            project: project.clone(),
            env: compose_env(&env, |k| std::env::var(k).ok()),
            env_file: None,
        };
        let base = cli.config().await?;

        let nginx = base.services.get(ENTRY_SERVICE).ok_or_else(|| {
            Error::BadInput(format!(
                "{}: the deployment has no `{ENTRY_SERVICE}` service to reach it through",
                deployment.compose_file.display()
            ))
        })?;
        let port_of = |key: &str, default: u16| -> Result<u16> {
            match nginx.env(key) {
                None | Some("") => Ok(default),
                Some(v) => v.parse().map_err(|_| {
                    Error::BadInput(format!(
                        "{key}=`{v}` in the cell's .env is not a port number"
                    ))
                }),
            }
        };
        let https_enabled = nginx.env("NGINX_HTTPS_ENABLED") == Some("true");
        let http_port = port_of("NGINX_PORT", 80)?;
        let https_port = if https_enabled {
            Some(port_of("NGINX_SSL_PORT", 443)?)
        } else {
            None
        };

        let pki = if https_enabled {
            Some(write_tls(&dir, &cell.id, nginx, &env)?)
        } else {
            None
        };

        let broker = broker_access(&base)?;
        let console_origin = base
            .services
            .values()
            .find_map(|s| s.env("CONSOLE_WEB_URL").filter(|v| !v.is_empty()))
            .and_then(origin_of)
            .unwrap_or_else(|| DEFAULT_CONSOLE_ORIGIN.to_string());

        let labels = labels::for_cell(run_id, &cell.id);
        let mut extra_ports: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
        extra_ports
            .entry(ENTRY_SERVICE.to_string())
            .or_default()
            .extend([Some(http_port), https_port].into_iter().flatten());
        if let Some(b) = &broker {
            extra_ports
                .entry(b.service.clone())
                .or_default()
                .insert(b.port);
        }
        let endpoint = Endpoint::from_env()?;
        let spec = OverrideSpec {
            publish_ip: Some(&endpoint.publish_ip),
            images: Some(images),
            labels: labels.clone(),
            extra_ports,
            recipe: Some(&recipe),
            service_env: Some(&cell.service_env),
            header: format!(
                "Generated by dify-conformance for cell {} of run {run_id}; do not edit.",
                cell.id
            ),
        };
        let (yaml, substitutions) = overrides::render(&base, &spec);
        let override_path = dir.join(OVERRIDE_FILE);
        std::fs::write(&override_path, yaml).map_err(|e| Error::io("write", &override_path, e))?;
        cli.files.push(override_path);
        let model = cli.config().await?;

        Ok(Self {
            dir,
            project,
            cli,
            model,
            env,
            access: Access {
                http_port,
                https_port,
                broker,
                console_origin,
            },
            pki,
            substitutions,
            labels,
            endpoint,
        })
    }

    /// The settings the checks judge against: the rendered `.env`, overlaid with the api
    /// service's environment as compose resolved it (what the api really runs with).
    pub fn settings(&self) -> suites::Settings {
        let mut values = self.env.values();
        if let Some(api) = self.model.services.get("api") {
            for (k, v) in &api.environment {
                if let Some(v) = v {
                    values.insert(k.clone(), v.clone());
                }
            }
        }
        suites::Settings::new(values)
    }

    /// Removes the directory; bind-mounted state written by containers goes with it.
    /// Marks the workspace kept (see [`KEPT_FILE`]).
    pub fn keep(&self) -> Result<()> {
        let path = self.dir.join(KEPT_FILE);
        std::fs::write(&path, b"kept by --keep-on-failure\n")
            .map_err(|e| Error::io("write", &path, e))
    }

    /// Removes the directory, its owner file last: if a step fails (a container of a stack
    /// that could not be stopped still writes into it), the reaper can still tell whose it is.
    pub fn remove(&self) -> Result<()> {
        remove_dir_owner_last(&self.dir)
    }
}

/// The example with the cell's keys set: the axes, HTTPS on (so the ssl suite has a target),
/// the recipes' keys, then the matrix's own env, which wins (it may turn HTTPS off again).
pub fn render_env(example: &EnvDocument, cell: &Cell, recipes: &RecipeBook) -> EnvDocument {
    let mut env = example.clone();
    env.set("VECTOR_STORE", &cell.vector_store);
    env.set("STORAGE_TYPE", &cell.storage_type);
    if example.contains("NGINX_HTTPS_ENABLED") {
        env.set("NGINX_HTTPS_ENABLED", "true");
    }
    for axis in Axis::ALL {
        if let Some(recipe) = recipes.get(axis, cell.value(axis)) {
            for (k, v) in &recipe.env {
                env.set(k, v);
            }
        }
    }
    for (k, v) in &cell.env {
        env.set(k, v);
    }
    env
}

/// Environment for compose processes. Compose lets the shell beat `.env`, so a `VECTOR_STORE`
/// exported by a CI job would silently run another cell: every `.env` key that the harness'
/// own environment also sets is passed with the `.env` value. `COMPOSE_PROFILES` is resolved
/// here and always passed, as testcontainers' compose client takes profiles from it.
pub fn compose_env(
    env: &EnvDocument,
    process: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let values = env.values();
    let lookup = |k: &str| values.get(k).cloned();
    let mut out = BTreeMap::new();
    for (k, v) in &values {
        if process(k).is_some() {
            out.insert(k.clone(), interpolate(v, &lookup));
        }
    }
    out.insert("COMPOSE_PROFILES".into(), active_profiles(env).join(","));
    out
}

/// The compose profiles an `.env` activates: its `COMPOSE_PROFILES`, resolved against itself.
pub fn active_profiles(env: &EnvDocument) -> Vec<String> {
    let values = env.values();
    values
        .get("COMPOSE_PROFILES")
        .map(|p| interpolate(p, &|k| values.get(k).cloned()))
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The host directory nginx mounts at `target`, when it lies inside the workspace.
fn mount_source(
    dir: &Path,
    nginx: &crate::compose::Service,
    target: &str,
    default: &str,
) -> Result<PathBuf> {
    let source = nginx
        .volumes
        .iter()
        .find(|m| m.target == target && m.kind == "bind")
        .and_then(|m| m.source.as_deref())
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join(default));
    if !source.starts_with(dir) {
        return Err(Error::BadInput(format!(
            "nginx mounts {target} from {} outside the deployment; the harness will not write there",
            source.display()
        )));
    }
    Ok(source)
}

fn write_tls(
    dir: &Path,
    cell_id: &str,
    nginx: &crate::compose::Service,
    env: &EnvDocument,
) -> Result<CellPki> {
    let ssl_dir = mount_source(dir, nginx, "/etc/ssl", "nginx/ssl")?;
    let kind = crate::pki::CertKind::parse(env.get(crate::pki::CERT_KEY).as_deref())?;
    let certbot_domain = nginx
        .env("CERTBOT_DOMAIN")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let cert_name = nginx
        .env("NGINX_SSL_CERT_FILENAME")
        .filter(|s| !s.is_empty())
        .unwrap_or("dify.crt");
    let key_name = nginx
        .env("NGINX_SSL_CERT_KEY_FILENAME")
        .filter(|s| !s.is_empty())
        .unwrap_or("dify.key");
    let server_name = nginx
        .env("NGINX_SERVER_NAME")
        .filter(|s| !s.is_empty() && *s != "_")
        .unwrap_or("localhost");
    let mut names = vec!["localhost", "127.0.0.1"];
    if !names.contains(&server_name) {
        names.push(server_name);
    }
    let pki = CellPki::generate_for(cell_id, &names, kind, certbot_domain)?;
    let write = |dir: &Path, files: &[(&str, &String)]| -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        for (name, body) in files {
            let path = dir.join(name);
            std::fs::write(&path, body).map_err(|e| Error::io("write", &path, e))?;
        }
        Ok(())
    };
    if kind == crate::pki::CertKind::Missing {
        // As when the operator copied only the key: nginx exits on the missing certificate.
        write(&ssl_dir, &[(key_name, &pki.key_pem)])?;
    } else {
        write(
            &ssl_dir,
            &[(cert_name, &pki.cert_pem), (key_name, &pki.key_pem)],
        )?;
    }
    if let (Some(domain), Some(leaf)) = (certbot_domain, &pki.certbot) {
        let live = mount_source(
            dir,
            nginx,
            "/etc/letsencrypt/live",
            "volumes/certbot/conf/live",
        )?
        .join(domain);
        write(
            &live,
            &[(cert_name, &leaf.cert_pem), (key_name, &leaf.key_pem)],
        )?;
    }
    Ok(pki)
}

/// The broker the workers consume, from `CELERY_BROKER_URL` as the api sees it.
fn broker_access(model: &ComposeModel) -> Result<Option<BrokerAccess>> {
    let Some(url) = model
        .services
        .get("api")
        .or_else(|| {
            model
                .services
                .values()
                .find(|s| s.env("CELERY_BROKER_URL").is_some())
        })
        .and_then(|s| s.env("CELERY_BROKER_URL"))
        .filter(|u| u.starts_with("redis://") || u.starts_with("rediss://"))
    else {
        return Ok(None);
    };
    let parsed = parse_broker_url(url)?;
    let Some(host) = parsed.host_str() else {
        return Ok(None);
    };
    // Only a broker inside the stack can be published; an external one is reached as is.
    if !model.services.contains_key(host) {
        return Ok(None);
    }
    Ok(Some(BrokerAccess {
        service: host.to_string(),
        port: parsed.port().unwrap_or(6379),
        url: Secret::new(url),
    }))
}

fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization()).filter(|o| o != "null")
}

/// Copies `from` into `to`, leaving out state and user files a cell must not inherit.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    copy_dir(from, to, true)
}

fn copy_dir(from: &Path, to: &Path, top: bool) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("create", to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| Error::io("read", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read", from, e))?;
        let name = entry.file_name();
        if top && (name == "volumes" || name == ".env") {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        let kind = entry.file_type().map_err(|e| Error::io("stat", &src, e))?;
        if kind.is_dir() {
            copy_dir(&src, &dst, false)?;
        } else if kind.is_file() || kind.is_symlink() {
            std::fs::copy(&src, &dst).map_err(|e| Error::io("copy", &src, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(env: &[(&str, &str)]) -> Cell {
        Cell {
            id: "pgvector.opendal".into(),
            vector_store: "pgvector".into(),
            storage_type: "opendal".into(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timeout: std::time::Duration::from_secs(1),
            stages: Default::default(),
            required: true,
            excluded: None,
            service_env: BTreeMap::new(),
            unknown: Vec::new(),
        }
    }

    #[test]
    fn project_names_are_compose_safe() {
        assert_eq!(
            project_name("a1b2", "pgvecto-rs.azure-blob"),
            "dc-a1b2-pgvecto-rs-azure-blob"
        );
    }

    #[test]
    fn env_sets_axes_https_then_matrix_env() {
        let example = EnvDocument::parse(
            Path::new(".env.example"),
            "# store\nVECTOR_STORE=weaviate\nSTORAGE_TYPE=opendal\nNGINX_HTTPS_ENABLED=false\n",
        )
        .unwrap();
        let none = RecipeBook::default();
        let env = render_env(
            &example,
            &cell(&[("NGINX_HTTPS_ENABLED", "false"), ("X", "1")]),
            &none,
        );
        assert_eq!(
            env.render(),
            "# store\nVECTOR_STORE=pgvector\nSTORAGE_TYPE=opendal\nNGINX_HTTPS_ENABLED=false\nX=1\n"
        );
        let env = render_env(&example, &cell(&[]), &none);
        assert_eq!(env.get("NGINX_HTTPS_ENABLED").as_deref(), Some("true"));
    }

    #[test]
    fn shell_variables_cannot_shadow_the_cell() {
        let env = EnvDocument::parse(
            Path::new(".env"),
            "VECTOR_STORE=pgvector\nDB_TYPE=postgresql\nCOMPOSE_PROFILES=${VECTOR_STORE:-weaviate},${DB_TYPE:-postgresql}\n",
        )
        .unwrap();
        let process = |k: &str| (k == "VECTOR_STORE").then(|| "qdrant".to_string());
        let out = compose_env(&env, process);
        assert_eq!(out["VECTOR_STORE"], "pgvector");
        assert_eq!(out["COMPOSE_PROFILES"], "pgvector,postgresql");
        assert!(!out.contains_key("DB_TYPE"));
    }

    #[test]
    fn origins_drop_paths() {
        assert_eq!(
            origin_of("https://dify.example:8443/apps").as_deref(),
            Some("https://dify.example:8443")
        );
        assert_eq!(origin_of("nonsense"), None);
    }
}
