//! For `ci/bench`: prepares one cell's workspace exactly as `run` does, so plain shell scripts
//! can bring up the very stack the harness brings up, and compare.
//!
//!   bench_workspace MATRIX CELL IMAGE_MAP   prints shell assignments: DIR, COMPOSE (an array)
//!                                           and the variables compose needs (COMPOSE_PROFILES)
//!
//! The workspace's owner is this process, which exits at once: the caller removes the directory
//! (`rm -rf "$DIR"`) after `docker compose down -v`, and must not start a `run` meanwhile (its
//! reaper would take the workspace for a killed run's).

use harness::catalog::Catalog;
use harness::deployment::bundled;
use harness::images::ImageMap;
use harness::matrix::Matrix;
use harness::workspace::Workspace;

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [matrix, cell, images] = args.as_slice() else {
        return Err("usage: bench_workspace MATRIX CELL IMAGE_MAP".into());
    };
    let catalog = Catalog::load(harness::deployment::Deployment::open(
        &bundled::deployment(),
    )?)
    .await?;
    let matrix = Matrix::load(std::path::Path::new(matrix))?;
    let cells = matrix.expand(Some(&catalog.sets), &catalog.recipes)?;
    let cell = cells
        .iter()
        .find(|c| &c.id == cell)
        .ok_or_else(|| format!("no cell {cell} in the matrix"))?;
    let images = ImageMap::load(std::path::Path::new(images))?;
    let run_id = format!("b{:07x}", std::process::id());
    let ws = Workspace::prepare(
        &catalog.deployment,
        cell,
        &run_id,
        &images,
        &catalog.recipes,
    )
    .await?;
    println!("DIR={}", quote(&ws.dir.to_string_lossy()));
    for (k, v) in &ws.cli.env {
        println!("export {k}={}", quote(v));
    }
    let mut compose = vec![
        "docker".to_string(),
        "compose".into(),
        "--project-name".into(),
        ws.cli.project.clone(),
    ];
    for f in &ws.cli.files {
        compose.push("-f".into());
        compose.push(f.to_string_lossy().into_owned());
    }
    if let Some(env_file) = &ws.cli.env_file {
        compose.push("--env-file".into());
        compose.push(env_file.to_string_lossy().into_owned());
    }
    println!(
        "COMPOSE=({})",
        compose
            .iter()
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}
