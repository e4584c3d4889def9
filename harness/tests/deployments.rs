//! Every runnable cell of a deployment resolves (`docker compose config`, no engine needed) to
//! exactly the always-on services, its VECTOR_STORE's and DB_TYPE's profile services and its
//! recipes' services; and no two cells share a container name, a host port or a bind-mount
//! source, so any set of them can run side by side; and `plan` names the images each runs.
//!
//! Runs on the bundled stand-in; `DIFY_DOCKER_DIRS=dir1:dir2` adds real Dify `docker/`
//! directories (kept outside the repository).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use harness::catalog::{Catalog, Runnability};
use harness::deployment::{Deployment, bundled};
use harness::images::ImageMap;

use harness::matrix::Matrix;
use harness::recipe::Axis;
use harness::workspace::{Workspace, active_profiles};

fn deployments() -> Vec<PathBuf> {
    let mut dirs = vec![bundled::deployment()];
    if let Ok(extra) = std::env::var("DIFY_DOCKER_DIRS") {
        dirs.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    dirs
}

#[tokio::test(flavor = "multi_thread")]
async fn cells_resolve_to_their_services_and_never_collide() {
    let matrix = Matrix::parse(
        std::path::Path::new("every-value.toml"),
        "[axes]\nvector_store = \"all\"\nstorage_type = \"all\"\n",
    )
    .unwrap();
    let images = ImageMap::default();
    for dir in deployments() {
        let catalog = Catalog::load(Deployment::open(&dir).unwrap())
            .await
            .unwrap();
        let services: BTreeMap<String, Vec<String>> = catalog
            .full_model
            .services
            .iter()
            .map(|(name, s)| (name.clone(), s.profiles.clone()))
            .collect();
        let cells = matrix
            .expand(Some(&catalog.sets), &catalog.recipes)
            .unwrap();
        let runnable: Vec<_> = cells
            .iter()
            .filter(|c| catalog.runnability(c) == Runnability::Runnable)
            .collect();
        assert!(!runnable.is_empty(), "{}: no runnable cell", dir.display());

        let mut seen_names: BTreeMap<String, String> = BTreeMap::new();
        let mut seen_ports: BTreeMap<String, String> = BTreeMap::new();
        let mut seen_sources: BTreeMap<String, String> = BTreeMap::new();
        let mut problems = Vec::new();
        for cell in &runnable {
            let ws =
                Workspace::prepare(&catalog.deployment, cell, "iso", &images, &catalog.recipes)
                    .await
                    .unwrap_or_else(|e| panic!("{}: cell {}: {e}", dir.display(), cell.id));
            let mut recipe_services = BTreeSet::new();
            for axis in Axis::ALL {
                if let Some(r) = catalog.recipes.get(axis, cell.value(axis)) {
                    recipe_services.extend(r.services.keys().cloned());
                }
            }
            // Active profiles as compose reads them from the cell's .env: the VECTOR_STORE's,
            // DB_TYPE's, and whatever the release always adds (1.15's `collaboration`).
            let active: BTreeSet<String> = active_profiles(&ws.env).into_iter().collect();
            if !active.contains(&cell.vector_store) {
                problems.push(format!(
                    "{}: profile {} is not active: {active:?}",
                    cell.id, cell.vector_store
                ));
            }
            let other_stores: Vec<&String> = active
                .iter()
                .filter(|p| *p != &cell.vector_store && catalog.sets.vector_stores.contains(p))
                .collect();
            if !other_stores.is_empty() {
                problems.push(format!(
                    "{}: other vector-store profiles active: {other_stores:?}",
                    cell.id
                ));
            }
            let expected: BTreeSet<String> = services
                .iter()
                .filter(|(_, profiles)| {
                    profiles.is_empty() || profiles.iter().any(|p| active.contains(p))
                })
                .map(|(name, _)| name.clone())
                .chain(recipe_services)
                .collect();
            let got: BTreeSet<String> = ws.model.services.keys().cloned().collect();
            if got != expected {
                problems.push(format!(
                    "{}: services {:?}, expected {:?}",
                    cell.id, got, expected
                ));
            }
            // `plan` judges a cell's images without preparing it; it must name what runs.
            let planned = catalog.cell_images(cell, &images);
            let prepared: BTreeMap<String, String> = ws
                .model
                .services
                .iter()
                .filter_map(|(n, s)| Some((n.clone(), s.image.clone()?)))
                .collect();
            if planned != prepared {
                problems.push(format!(
                    "{}: plan's images {planned:?}, the prepared cell's {prepared:?}",
                    cell.id
                ));
            }
            for (name, s) in &ws.model.services {
                let owner = format!("{}/{name}", cell.id);
                if let Some(cn) = &s.container_name
                    && let Some(other) = seen_names.insert(cn.clone(), owner.clone())
                {
                    problems.push(format!("container name {cn}: {other} and {owner}"));
                }
                for p in &s.ports {
                    match p.published.as_deref() {
                        None | Some("") | Some("0") => {}
                        Some(port) => {
                            let key =
                                format!("{}:{port}", p.host_ip.as_deref().unwrap_or("0.0.0.0"));
                            if let Some(other) = seen_ports.insert(key.clone(), owner.clone()) {
                                problems.push(format!("host port {key}: {other} and {owner}"));
                            }
                        }
                    }
                }
                for m in s.volumes.iter().filter(|m| m.kind == "bind") {
                    let src = m.source.clone().unwrap_or_default();
                    if !src.starts_with(&ws.dir.display().to_string()) {
                        problems.push(format!(
                            "{owner}: bind mount {src} lies outside its workspace"
                        ));
                    }
                    if let Some(other) = seen_sources.insert(src.clone(), owner.clone())
                        && !other.starts_with(&format!("{}/", cell.id))
                    {
                        problems.push(format!("bind source {src}: {other} and {owner}"));
                    }
                }
            }
            ws.remove().unwrap();
        }
        assert!(
            problems.is_empty(),
            "{} ({} runnable cells):\n{}",
            dir.display(),
            runnable.len(),
            problems.join("\n")
        );
        eprintln!(
            "{}: {} cells, {} runnable, all isolated",
            dir.display(),
            cells.len(),
            runnable.len()
        );
    }
}

/// The redactor on each deployment's own `.env.example` (Dify's real ones with
/// `DIFY_DOCKER_DIRS`): its passwords, keys and broker password are masked, and no evidence
/// word that also appears as an ordinary value (`true`, `dify`, an origin) is.
#[test]
fn the_redactor_masks_the_examples_secrets_and_nothing_else() {
    use harness::redact::{Redactor, is_secret_key};
    for dir in deployments() {
        let deployment = Deployment::open(&dir).unwrap();
        let values = deployment.env_example.values();
        let redactor = Redactor::from_env(&values);
        let shown = dir.display();
        for (key, value) in &values {
            let masked = redactor.redact(value);
            if !is_secret_key(key) && !value.contains("://") {
                assert_eq!(&masked, value, "{shown}: {key}={value} is not a secret");
            }
        }
        for key in ["DB_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY"] {
            if let Some(v) = values.get(key).filter(|v| v.len() >= 6) {
                assert_eq!(redactor.redact(v), "***", "{shown}: {key}");
            }
        }
        if let Some(broker) = values.get("CELERY_BROKER_URL") {
            let masked = redactor.redact(broker);
            assert!(masked.contains(":***@"), "{shown}: {masked}");
        }
        let evidence = "Access-Control-Allow-Credentials: true\n\
                        Access-Control-Allow-Origin: http://console.dify-conformance.test\n\
                        X-Version: 1.13.3";
        assert_eq!(redactor.redact(evidence), evidence, "{shown}");
    }
}
