//! Release facts and where a deployment's values come from.
//!
//! - Every bundled release facts file loads, and every value of every release has a recipe.
//! - With the api image on the engine, the values come from the image: the stand-in's image
//!   carries a `VectorType` and `STORAGE_TYPE` module at Dify's import paths
//!   (`STANDIN_API_IMAGE` names another build of it, e.g. one under test).
//! - `DIFY_RELEASE_DIRS=DIR` (kept outside the repository) holds real Dify `docker/`
//!   directories as `DIR/<release>/docker`: each plans its release's values, and every cell
//!   lists only profiles its compose file defines.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use harness::catalog::{Catalog, Runnability};
use harness::deployment::{Deployment, bundled};
use harness::matrix::Matrix;
use harness::recipe::{Axis, RecipeBook};
use harness::values::{Origin, load_releases};

fn every_value() -> Matrix {
    Matrix::parse(
        Path::new("every-value.toml"),
        "[axes]\nvector_store = \"all\"\nstorage_type = \"all\"\n",
    )
    .unwrap()
}

#[test]
fn every_release_loads_and_every_value_has_a_recipe() {
    let releases = load_releases(&bundled::releases()).unwrap();
    let names: BTreeSet<&str> = releases.iter().map(|r| r.name.as_str()).collect();
    for line in [
        "0.15", "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.10",
        "1.11", "1.12", "1.13", "1.14", "1.15",
    ] {
        assert!(
            names.contains(line),
            "no facts for release {line}: {names:?}"
        );
    }
    let recipes = RecipeBook::load(&bundled::recipes()).unwrap();
    let mut missing = Vec::new();
    for r in &releases {
        for (axis, values) in [
            (Axis::VectorStore, &r.vector_stores),
            (Axis::StorageType, &r.storage_types),
        ] {
            for v in values {
                if recipes.get(axis, v).is_none() {
                    missing.push(format!("{} {}={v}", r.name, axis.env_key()));
                }
            }
        }
        // An image names one release only.
        for other in releases.iter().filter(|o| o.name != r.name) {
            let tag = format!("langgenius/dify-api:{}", r.tag);
            assert!(!other.matches(&tag), "{tag} matches {} too", other.name);
        }
        assert!(r.matches(&format!("langgenius/dify-api:{}", r.tag)));
    }
    assert!(missing.is_empty(), "values without a recipe: {missing:?}");
}

/// A deployment whose api service runs `image`, whose `.env.example` lists one value.
fn deployment_running(image: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yaml"),
        format!("services:\n  api:\n    image: {image}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join(".env.example"),
        "# Supported values are `weaviate`.\nVECTOR_STORE=weaviate\nSTORAGE_TYPE=opendal\n",
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn values_come_from_the_api_image_when_the_engine_has_it() {
    let Some(engine) = common::engine_or_skip("values_come_from_the_api_image").await else {
        return;
    };
    let image = std::env::var("STANDIN_API_IMAGE")
        .unwrap_or_else(|_| "dify-conformance/standin-api:local".into());
    assert!(
        engine.image_exists(&image).await,
        "{image} is not on the engine"
    );
    let dir = deployment_running(&image);
    let no_releases = tempfile::tempdir().unwrap();
    // No release facts and a one-value comment: only the image can give these values.
    let catalog = Catalog::load_with(
        Deployment::open(dir.path()).unwrap(),
        &bundled::recipes(),
        no_releases.path(),
    )
    .await
    .unwrap();
    let sets = &catalog.sets;
    assert_eq!(sets.origin, Origin::ApiImage, "{}", sets.source);
    assert_eq!(sets.vector_stores.len(), 32, "{:?}", sets.vector_stores);
    assert!(sets.vector_stores.contains(&"tidb_vector".to_string()));
    assert!(sets.vector_stores.contains(&"hologres".to_string()));
    assert_eq!(sets.storage_types.len(), 13, "{:?}", sets.storage_types);
    assert!(
        sets.storage_types
            .contains(&"clickzetta-volume".to_string())
    );
    assert!(sets.source.contains(&image), "{}", sets.source);
    assert_eq!(sets.release, None);

    // With the bundled facts (the stand-in matches 1.13) the image still wins, and `plan`
    // says so.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .args(["plan", "--format", "json", "--deployment"])
        .arg(dir.path())
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(plan["values_origin"], "api_image");
    assert!(
        plan["values_from"]
            .as_str()
            .unwrap()
            .starts_with(&format!("the api image {image}")),
        "{}",
        plan["values_from"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_that_is_not_dify_falls_back_and_says_why() {
    let Some(engine) = common::engine_or_skip("an_image_that_is_not_dify").await else {
        return;
    };
    // The web image has no python: the read fails and the guess says why.
    let image = "dify-conformance/standin-web:local";
    if !engine.image_exists(image).await {
        eprintln!("skipped: {image} is not on the engine");
        return;
    }
    let dir = deployment_running(image);
    let catalog = Catalog::load(Deployment::open(dir.path()).unwrap())
        .await
        .unwrap();
    assert_eq!(catalog.sets.origin, Origin::EnvExample);
    assert_eq!(catalog.sets.vector_stores, ["weaviate"]);
    assert!(
        catalog
            .sets
            .source
            .contains(&format!("the api image {image} could not be read")),
        "{}",
        catalog.sets.source
    );
}

fn release_dirs() -> Vec<(String, PathBuf)> {
    let Ok(root) = std::env::var("DIFY_RELEASE_DIRS") else {
        return Vec::new();
    };
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("DIFY_RELEASE_DIRS={root}: {e}"))
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().join("docker"),
            )
        })
        .filter(|(_, p)| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test(flavor = "multi_thread")]
async fn real_release_dirs_plan_their_release_values_and_existing_profiles() {
    let dirs = release_dirs();
    if dirs.is_empty() {
        eprintln!("skipped: DIFY_RELEASE_DIRS names no DIR/<release>/docker directories");
        return;
    }
    let releases = load_releases(&bundled::releases()).unwrap();
    let matrix = every_value();
    let mut problems = Vec::new();
    for (name, dir) in &dirs {
        let catalog = Catalog::load(Deployment::open(dir).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let Some(facts) = releases.iter().find(|r| &r.name == name) else {
            problems.push(format!("{name}: no release facts"));
            continue;
        };
        let sets = &catalog.sets;
        if sets.release.as_deref() != Some(name.as_str()) {
            problems.push(format!("{name}: matched release {:?}", sets.release));
        }
        let same = |a: &[String], b: &[String]| {
            a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
        };
        if !same(&sets.vector_stores, &facts.vector_stores)
            || !same(&sets.storage_types, &facts.storage_types)
        {
            problems.push(format!(
                "{name}: values differ from {}",
                facts.path.display()
            ));
        }
        // The compose file really defines what the facts say it does.
        let compose: BTreeSet<&String> = catalog.full_model.services.keys().collect();
        let facts_services: BTreeSet<&String> = facts.services.keys().collect();
        if compose != facts_services {
            problems.push(format!(
                "{name}: services {compose:?}, facts say {facts_services:?}"
            ));
        }
        // The .env.example guess, as it would be without facts or image: never a comment's
        // misspelling, and how near it comes (printed for the record).
        let split = harness::catalog::split_examples(dir);
        let mut examples = vec![&catalog.deployment.env_example];
        examples.extend(split.iter());
        let (guessed_vs, guessed_st) = harness::values::guess(&examples);
        for wrong in ["tidb", "alibabcloud_mysql"] {
            if guessed_vs.iter().any(|v| v == wrong) {
                problems.push(format!(
                    "{name}: the guess keeps the comment name `{wrong}`"
                ));
            }
        }
        let diff = |guess: &[String], truth: &[String]| {
            let g: BTreeSet<&String> = guess.iter().collect();
            let t: BTreeSet<&String> = truth.iter().collect();
            format!(
                "missing {:?}, extra {:?}",
                t.difference(&g).collect::<Vec<_>>(),
                g.difference(&t).collect::<Vec<_>>()
            )
        };
        eprintln!(
            "{name}: guess VECTOR_STORE {}/{} ({}); STORAGE_TYPE {}/{} ({})",
            guessed_vs.len(),
            facts.vector_stores.len(),
            diff(&guessed_vs, &facts.vector_stores),
            guessed_st.len(),
            facts.storage_types.len(),
            diff(&guessed_st, &facts.storage_types)
        );
        let cells = matrix.expand(Some(sets), &catalog.recipes).unwrap();
        let mut runnable = 0;
        for cell in &cells {
            let env = harness::workspace::render_env(
                &catalog.deployment.env_example,
                cell,
                &catalog.recipes,
            );
            let profiles = catalog.cell_profiles(cell, &env);
            let status = catalog.runnability(cell);
            if status == Runnability::Runnable {
                runnable += 1;
            }
            if let Some(p) = profiles.iter().find(|p| !catalog.profiles.contains(*p)) {
                problems.push(format!("{name} {}: profile {p} is not defined", cell.id));
            }
            if !status.runs() && !profiles.is_empty() {
                problems.push(format!("{name} {}: {status:?} lists {profiles:?}", cell.id));
            }
        }
        eprintln!(
            "{name}: {} VECTOR_STORE, {} STORAGE_TYPE, {} cells, {runnable} runnable ({})",
            sets.vector_stores.len(),
            sets.storage_types.len(),
            cells.len(),
            sets.source
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// 0.15 runs TiDB under the profile `tidb`, not `tidb_vector`: a cell of that value gets a
/// COMPOSE_PROFILES naming `tidb`, and plan lists it (with a recipe that runs it locally).
#[tokio::test(flavor = "multi_thread")]
async fn a_value_whose_profile_has_another_name_activates_that_profile() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yaml"),
        "services:\n  api:\n    image: langgenius/dify-api:0.15.8\n  tidb:\n    image: pingcap/tidb:v8.4.0\n    profiles: [tidb]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join(".env.example"),
        "VECTOR_STORE=weaviate\nSTORAGE_TYPE=opendal\nCOMPOSE_PROFILES=${VECTOR_STORE:-weaviate}\n",
    )
    .unwrap();
    let recipes = tempfile::tempdir().unwrap();
    for (rel, text) in [
        ("vector_store/tidb_vector.toml", "runs = \"local\"\n"),
        ("storage_type/opendal.toml", "runs = \"local\"\n"),
    ] {
        let p = recipes.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let catalog = Catalog::load_with(
        Deployment::open(dir.path()).unwrap(),
        recipes.path(),
        &bundled::releases(),
    )
    .await
    .unwrap();
    if catalog.sets.origin == Origin::ApiImage {
        eprintln!("skipped: the engine has langgenius/dify-api:0.15.8, whose values win");
        return;
    }
    assert_eq!(catalog.sets.release.as_deref(), Some("0.15"));
    let matrix = Matrix::parse(
        Path::new("m.toml"),
        "[axes]\nvector_store = [\"tidb_vector\"]\nstorage_type = [\"opendal\"]\n",
    )
    .unwrap();
    let cells = catalog.expand(&matrix).unwrap();
    assert_eq!(cells[0].env["COMPOSE_PROFILES"], "tidb");
    assert_eq!(catalog.runnability(&cells[0]), Runnability::Runnable);
    let env = harness::workspace::render_env(
        &catalog.deployment.env_example,
        &cells[0],
        &catalog.recipes,
    );
    assert_eq!(catalog.cell_profiles(&cells[0], &env), ["tidb"]);
}
