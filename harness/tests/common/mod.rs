//! Shared by the tests that need the Docker engine and the local images.

use harness::engine::Engine;

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
