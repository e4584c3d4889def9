//! A Dify deployment directory (Dify's `docker/`, or the bundled stand-in shaped like it).

use std::path::{Path, PathBuf};

use crate::compose::find_compose_file;
use crate::envfile::EnvDocument;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Deployment {
    pub dir: PathBuf,
    pub compose_file: PathBuf,
    /// `.env.example` (or `.env.default`): what every cell's `.env` starts from.
    pub env_example: EnvDocument,
}

impl Deployment {
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::DeploymentMissing {
                path: dir.to_path_buf(),
            });
        }
        let compose_file = find_compose_file(dir).ok_or_else(|| Error::NoComposeFile {
            dir: dir.to_path_buf(),
            looked_for: "compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml".into(),
        })?;
        // The newer wrapper layout (`dify-compose`) ships `.env.default` instead of an example;
        // a cell's `.env` starts from whichever the release has.
        let example = [".env.example", ".env.default"]
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| Error::NoEnvExample {
                dir: dir.to_path_buf(),
            })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            compose_file,
            env_example: EnvDocument::load(&example)?,
        })
    }
}

/// Files that ship with this repository: the stand-in deployment, matrices, the image map.
pub mod bundled {
    use std::path::{Path, PathBuf};

    /// The repository root (the binary is run from a checkout; `cargo install` users pass paths).
    pub fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    pub fn deployment() -> PathBuf {
        root().join("fixtures/standin/docker")
    }

    pub fn smoke_matrix() -> PathBuf {
        root().join("matrices/smoke.toml")
    }

    pub fn image_map() -> PathBuf {
        root().join("fixtures/images.toml")
    }

    pub fn recipes() -> PathBuf {
        root().join("matrices/recipes")
    }

    pub fn releases() -> PathBuf {
        root().join("matrices/releases")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_directories_are_named() {
        let missing = Deployment::open(Path::new("/nonexistent/docker")).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "deployment directory /nonexistent/docker does not exist"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = Deployment::open(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("has no compose file (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml)"), "{err}");
        std::fs::write(dir.path().join("docker-compose.yaml"), "services: {}\n").unwrap();
        let err = Deployment::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("has no .env.example (nor .env.default)"),
            "{err}"
        );
        std::fs::write(dir.path().join(".env.default"), "VECTOR_STORE=weaviate\n").unwrap();
        let d = Deployment::open(dir.path()).unwrap();
        assert!(d.env_example.path().ends_with(".env.default"));
    }

    #[test]
    fn the_bundled_stand_in_opens() {
        let d = Deployment::open(&bundled::deployment()).unwrap();
        assert!(d.env_example.contains("VECTOR_STORE"));
        assert!(d.env_example.contains("STORAGE_TYPE"));
    }
}
