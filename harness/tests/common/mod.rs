//! Shared by the tests that need the Docker engine and the local images.

use harness::catalog::Catalog;
use harness::deployment::{Deployment, bundled};
use harness::engine::Engine;
use harness::images::ImageMap;
use harness::labels;
use harness::matrix::{Matrix, select};
use harness::report::CellReport;
use harness::runner::{self, RunConfig, WhileUp};
use suites::Suite;

/// The engine, or `None` to skip. Under `CI=true` a missing engine fails the test instead:
/// CI must never pass by skipping.
pub async fn engine_or_skip(test: &str) -> Option<Engine> {
    match Engine::connect().await {
        Ok(engine) => {
            let image = "dify-conformance/standin-api:local";
            assert!(
                engine.image_exists(image).await,
                "{test}: local image {image} is missing; run ci/setup first"
            );
            Some(engine)
        }
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: CI=true and the Docker engine is unavailable: {e}")
        }
        Err(e) => {
            eprintln!("{test}: skipped, the Docker engine is unavailable: {e}");
            None
        }
    }
}

/// Runs cell `id` of `matrix` on the bundled stand-in through the runner, with `suites`, and
/// `while_up` called while its stack is up; asserts the teardown left nothing labelled with
/// the run.
#[allow(dead_code)] // not every test binary runs cells
pub async fn run_cell(
    engine: &Engine,
    matrix: &std::path::Path,
    id: &str,
    suites: Vec<Suite>,
    while_up: Option<WhileUp>,
) -> CellReport {
    let matrix = Matrix::load(matrix).unwrap();
    let catalog = Catalog::load(Deployment::open(&bundled::deployment()).unwrap())
        .await
        .unwrap();
    let all = matrix
        .expand(Some(&catalog.sets), &catalog.recipes)
        .unwrap();
    let cells = select(&all, &[id.to_string()]).unwrap();
    let images = ImageMap::load(&bundled::image_map())
        .unwrap()
        .present_on(engine)
        .await;
    let config = RunConfig {
        catalog,
        matrix,
        cells: cells.clone(),
        images: images.clone(),
        suites,
        jobs: 1,
        pull: false,
        shard: None,
        artifacts_dir: Some(
            std::env::temp_dir().join(format!("dc-artifacts-{}", std::process::id())),
        ),
        while_up,
        logs_dir: None,
        keep_on_failure: false,
    };
    let run_id = runner::new_run_id();
    let report = runner::run_cell(&config, &images, &cells[0], engine, &run_id, &|l: &str| {
        eprintln!("{l}")
    })
    .await;
    let left = engine.managed_runs().await.unwrap();
    assert!(
        !left.contains_key(&run_id),
        "teardown left objects labelled {}={run_id}",
        labels::RUN
    );
    report
}
