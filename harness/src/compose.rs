//! The compose model of a deployment, as `docker compose config --format json` resolves it
//! (profiles, interpolation, merge keys, `!reset`): the source of truth for what will run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The resolved project.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ComposeModel {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub networks: BTreeMap<String, Option<Network>>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<serde_json::Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Service {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub container_name: Option<String>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub volumes: Vec<Mount>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(default)]
    pub restart: Option<String>,
    #[serde(default)]
    pub networks: BTreeMap<String, Option<serde_json::Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Port {
    pub target: u16,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub host_ip: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub source: Option<String>,
    pub target: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Healthcheck {
    #[serde(default)]
    pub disable: bool,
    #[serde(default)]
    pub test: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct DependsOn {
    #[serde(default)]
    pub condition: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Network {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub external: Option<bool>,
}

impl Service {
    /// The value of an environment variable as the container will see it.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.environment.get(key).and_then(|v| v.as_deref())
    }

    /// Whether the engine reports a health state for it (a healthcheck that is not disabled).
    pub fn has_healthcheck(&self) -> bool {
        self.healthcheck
            .as_ref()
            .is_some_and(|h| !h.disable && h.test.first().map(String::as_str) != Some("NONE"))
    }
}

impl ComposeModel {
    pub fn parse_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Services another service waits for with `service_completed_successfully`: one-shot jobs
    /// such as Dify's `init_permissions`, whose exit 0 is success, not a crash.
    pub fn one_shot_services(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .services
            .values()
            .flat_map(|s| s.depends_on.iter())
            .filter(|(_, d)| d.condition == "service_completed_successfully")
            .map(|(name, _)| name.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// `docker compose` run on a project directory with explicit files and environment.
#[derive(Clone, Debug)]
pub struct ComposeCli {
    pub workdir: PathBuf,
    pub files: Vec<PathBuf>,
    pub project: String,
    pub env: BTreeMap<String, String>,
    /// An env file instead of the project directory's `.env`.
    pub env_file: Option<PathBuf>,
}

impl ComposeCli {
    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("docker");
        cmd.current_dir(&self.workdir)
            .arg("compose")
            .arg("--project-name")
            .arg(&self.project);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        if let Some(env_file) = &self.env_file {
            cmd.arg("--env-file").arg(env_file);
        }
        cmd.envs(&self.env);
        cmd.kill_on_drop(true);
        cmd
    }

    /// The resolved model; rejects a project compose cannot load.
    pub async fn config(&self) -> Result<ComposeModel> {
        let out = self
            .command()
            .args(["config", "--format", "json"])
            .output()
            .await
            .map_err(|e| Error::ComposeUnavailable {
                reason: e.to_string(),
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if stderr.contains("is not a docker command") || stderr.contains("unknown command") {
                return Err(Error::ComposeUnavailable { reason: stderr });
            }
            return Err(Error::ComposeConfig {
                dir: self.workdir.clone(),
                stderr,
            });
        }
        ComposeModel::parse_json(&String::from_utf8_lossy(&out.stdout)).map_err(|e| {
            Error::ComposeConfig {
                dir: self.workdir.clone(),
                stderr: format!("unreadable `config --format json` output: {e}"),
            }
        })
    }

    /// `down --volumes --remove-orphans`, with the files so profile-gated services go too.
    pub async fn down(&self) -> Result<(), String> {
        let out = self
            .command()
            .args(["down", "--volumes", "--remove-orphans", "--timeout", "2"])
            .output()
            .await
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

/// `docker compose version`, or why compose v2 is unusable.
pub async fn version() -> Result<String> {
    let out = tokio::process::Command::new("docker")
        .args(["compose", "version", "--short"])
        .output()
        .await
        .map_err(|e| Error::ComposeUnavailable {
            reason: format!("cannot run docker: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::ComposeUnavailable {
            reason: String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("docker compose version failed")
                .to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The compose file of a deployment directory, by compose's own precedence.
pub fn find_compose_file(dir: &Path) -> Option<PathBuf> {
    [
        "compose.yaml",
        "compose.yml",
        "docker-compose.yaml",
        "docker-compose.yml",
    ]
    .iter()
    .map(|name| dir.join(name))
    .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parts_the_harness_uses() {
        let json = r#"{
          "name": "p",
          "services": {
            "init_permissions": {"image": "busybox:latest", "restart": "no"},
            "api": {
              "image": "langgenius/dify-api:1.13.3",
              "environment": {"CELERY_BROKER_URL": "redis://:pw@redis:6379/1", "EMPTY": null},
              "depends_on": {"init_permissions": {"condition": "service_completed_successfully", "required": true}},
              "healthcheck": {"test": ["CMD", "curl", "-f", "http://localhost:5001/health"]}
            },
            "nginx": {
              "image": "nginx:latest",
              "ports": [{"mode": "ingress", "target": 80, "published": "80", "protocol": "tcp"}],
              "volumes": [{"type": "bind", "source": "/d/nginx/ssl", "target": "/etc/ssl", "bind": {}}]
            }
          },
          "networks": {"default": {"name": "p_default"}, "ssrf": null},
          "volumes": {"oradata": {"name": "p_oradata"}}
        }"#;
        let m = ComposeModel::parse_json(json).unwrap();
        assert_eq!(m.one_shot_services(), ["init_permissions"]);
        assert_eq!(
            m.services["api"].env("CELERY_BROKER_URL"),
            Some("redis://:pw@redis:6379/1")
        );
        assert_eq!(m.services["api"].env("EMPTY"), None);
        assert!(m.services["api"].has_healthcheck());
        assert!(!m.services["nginx"].has_healthcheck());
        assert_eq!(m.services["nginx"].ports[0].target, 80);
        assert_eq!(m.services["nginx"].volumes[0].target, "/etc/ssl");
        assert_eq!(m.networks.len(), 2);
    }
}
