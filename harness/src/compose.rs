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
    #[serde(default)]
    pub entrypoint: Option<Argv>,
    #[serde(default)]
    pub command: Option<Argv>,
}

/// An entrypoint or command: compose resolves both to a list; a string is taken as one word.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Argv {
    List(Vec<String>),
    Line(String),
}

impl Argv {
    pub fn program(&self) -> Option<&str> {
        match self {
            Argv::List(l) => l.first().map(String::as_str),
            Argv::Line(s) => s.split_whitespace().next(),
        }
    }
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
    /// Durations as compose prints them (`5s`, `1m30s`); absent means the engine's default.
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub start_period: Option<String>,
    #[serde(default)]
    pub retries: Option<u64>,
}

impl Healthcheck {
    /// The command the engine runs for this healthcheck, as an exec's argv (`CMD` as is,
    /// `CMD-SHELL` through `/bin/sh -c`); `None` when there is nothing to run.
    pub fn argv(&self) -> Option<Vec<String>> {
        if self.disable {
            return None;
        }
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
            }
            _ => None,
        }
    }

    /// How long one probe may take (the engine's default: 30 s).
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(std::time::Duration::from_secs(30))
    }

    /// The longest the engine can take to call a service unhealthy that never passes: the
    /// start period, then `retries` probes each waiting `interval` and running up to `timeout`
    /// (the engine's defaults: 30 s, 30 s, 3 retries, no start period).
    pub fn time_limit(&self) -> std::time::Duration {
        let d = |v: &Option<String>, default: u64| {
            v.as_deref()
                .and_then(parse_duration)
                .unwrap_or(std::time::Duration::from_secs(default))
        };
        let per_probe = d(&self.interval, 30) + d(&self.timeout, 30);
        d(&self.start_period, 0)
            + per_probe * u32::try_from(self.retries.unwrap_or(3)).unwrap_or(u32::MAX)
    }
}

/// A Go duration as compose writes it: `1h2m3s`, `500ms`, `1.5s`.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Some(std::time::Duration::from_secs_f64(total))
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

/// A script on the host that a service runs as its program through a bind mount, but that
/// lost its exec bit (a zip download, some Windows checkouts: research §13). Compose would fail
/// with `exec: "...": permission denied` in a line that does not name the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotExecutable {
    pub service: String,
    /// The file in the deployment directory.
    pub path: PathBuf,
}

/// The bind-mounted programs of `model` that are files without any exec bit. Mount sources
/// under `workdir` (where `model` was resolved) are looked up in `deployment_dir`, the copy
/// the user owns and must fix. Only the program itself counts: Dify's nginx and ssrf_proxy run
/// `sh -c "cp ... && chmod +x ..."`, which needs no exec bit on the host.
pub fn scripts_without_exec_bit(
    model: &ComposeModel,
    workdir: &Path,
    deployment_dir: &Path,
) -> Vec<NotExecutable> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for (name, service) in &model.services {
        let program = match (&service.entrypoint, &service.command) {
            (Some(e), _) => e.program(),
            // Without an entrypoint of its own, the image's usually execs the command.
            (None, Some(c)) => c.program(),
            (None, None) => None,
        };
        let Some(program) = program.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let host = service.volumes.iter().find_map(|m| {
            let source = m.source.as_deref().filter(|_| m.kind == "bind")?;
            let target = m.target.trim_end_matches('/');
            let rest = program.strip_prefix(target)?;
            (rest.is_empty() || rest.starts_with('/'))
                .then(|| PathBuf::from(format!("{source}{rest}")))
        });
        let Some(host) = host else { continue };
        let path = match host.strip_prefix(workdir) {
            Ok(rel) => deployment_dir.join(rel),
            Err(_) => host,
        };
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 == 0
        {
            out.push(NotExecutable {
                service: name.clone(),
                path,
            });
        }
    }
    out
}

/// A failed `compose up` told in a line: the service it is about (when compose's output says,
/// by container name, image or its progress lines) and the line with the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpFailure {
    pub services: Vec<String>,
    pub cause: String,
}

impl std::fmt::Display for UpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.services.as_slice() {
            [] => write!(f, "docker compose up failed: {}", self.cause),
            [one] => write!(
                f,
                "docker compose up failed for service {one}: {}",
                self.cause
            ),
            many => write!(
                f,
                "docker compose up failed for services {}: {}",
                many.join(", "),
                self.cause
            ),
        }
    }
}

/// Reads compose's stderr of a failed `up` of `project`.
pub fn up_failure(stderr: &str, project: &str, model: &ComposeModel) -> UpFailure {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let is_error = |l: &str| {
        l.starts_with("Error")
            || l.starts_with("error")
            || l.contains("Error response from daemon")
            || l.starts_with("dependency failed")
    };
    let cause_at = lines
        .iter()
        .position(|l| is_error(l))
        .unwrap_or(lines.len().saturating_sub(1));
    // From where the error starts (testcontainers puts its own words before compose's).
    let cause = lines
        .get(cause_at)
        .map(|l| {
            [
                "Error response from daemon",
                "dependency failed",
                "Error",
                "error",
            ]
            .iter()
            .find_map(|m| l.find(m))
            .map_or(*l, |at| &l[at..])
        })
        .unwrap_or("no output")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // Longest first, so `worker_beat` wins over `worker`.
    let mut names: Vec<&String> = model.services.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let of_container = |word: &str| -> Option<String> {
        let rest = word.trim_matches(|c: char| "\"',:()".contains(c));
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let rest = rest.strip_prefix(project)?.strip_prefix(['-', '_'])?;
        names
            .iter()
            .find(|n| {
                rest.strip_prefix(n.as_str())
                    .and_then(|r| r.strip_prefix(['-', '_']))
                    .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit()))
            })
            .map(|n| n.to_string())
    };
    let mut services: Vec<String> = Vec::new();
    fn add(s: String, services: &mut Vec<String>) {
        if !services.contains(&s) {
            services.push(s);
        }
    }
    // The error line itself: a container name, a quoted service, or an image only it runs.
    for word in cause.split_whitespace() {
        if let Some(s) = of_container(word) {
            add(s, &mut services);
        }
    }
    for name in &names {
        if cause.contains(&format!("service \"{name}\"")) {
            add(name.to_string(), &mut services);
        }
    }
    if services.is_empty() {
        // Compose names an image with its tag ("no such image: a:1") or without ("pull access
        // denied for a, repository does not exist").
        let words: Vec<&str> = cause
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| "\"',:".contains(c)))
            .collect();
        for (name, s) in &model.services {
            let Some(image) = s.image.as_deref() else {
                continue;
            };
            let repo = image
                .rsplit_once(':')
                .map_or(image, |(r, tag)| if tag.contains('/') { image } else { r });
            if words.iter().any(|w| *w == image || *w == repo) {
                add(name.clone(), &mut services);
            }
        }
    }
    if services.is_empty() {
        // Compose's progress lines before the error: `Container <name>  Starting` or
        // `<service> Error`; what started and never finished is what failed.
        let mut last: Vec<(String, String)> = Vec::new();
        for line in &lines[..cause_at] {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (who, status) = match words.as_slice() {
                ["Container", container, status, ..] => match of_container(container) {
                    Some(s) => (s, *status),
                    None => continue,
                },
                [service, status, ..] if model.services.contains_key(*service) => {
                    (service.to_string(), *status)
                }
                _ => continue,
            };
            last.retain(|(s, _)| *s != who);
            last.push((who, status.to_string()));
        }
        for wanted in [
            &["Error"][..],
            &["Starting", "Creating", "Pulling", "Waiting"][..],
        ] {
            for (s, status) in &last {
                if wanted.contains(&status.as_str()) {
                    add(s.clone(), &mut services);
                }
            }
            if !services.is_empty() {
                break;
            }
        }
    }
    UpFailure { services, cause }
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

    /// `up -d` without building; `pull` lets compose pull images the engine lacks. Returns
    /// compose's stderr when it fails.
    ///
    /// Compose runs in its own process group (`docker` runs the compose plugin as a child of
    /// its own, which outlives a killed `docker`). When this future is dropped (Ctrl-C,
    /// SIGTERM, a time-out) the whole group is killed, and it stays in [`UP_GROUPS`] until
    /// no process of it is left, so teardown can wait for that before sweeping: a compose that
    /// still ran would create containers after the sweep.
    pub async fn up(&self, pull: bool) -> Result<(), String> {
        let mut cmd = self.command();
        cmd.args(["up", "--detach", "--no-build", "--pull"])
            .arg(if pull { "missing" } else { "never" })
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run docker compose: {e}"))?;
        let mut guard = child.id().map(UpGroup::new);
        let out = child.wait_with_output().await;
        if let Some(g) = guard.as_mut() {
            g.ended();
        }
        let out = out.map_err(|e| format!("docker compose up: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
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

/// Process groups of `compose up` runs that were abandoned and may still have processes.
static UP_GROUPS: std::sync::Mutex<std::collections::BTreeSet<u32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Kills a `compose up` process group unless it ended by itself.
struct UpGroup {
    pgid: u32,
    ended: bool,
}

impl UpGroup {
    fn new(pgid: u32) -> Self {
        Self { pgid, ended: false }
    }

    fn ended(&mut self) {
        self.ended = true;
    }
}

impl Drop for UpGroup {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        lock(&UP_GROUPS).insert(self.pgid);
        // Synchronous on purpose: Drop cannot wait, and `kill` returns at once.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pgid)])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Waits until no process of an abandoned `compose up` is left (they were sent SIGKILL).
/// Gives up after `limit`.
pub async fn wait_for_up_children(limit: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        lock(&UP_GROUPS).retain(|pgid| group_lives(*pgid));
        if lock(&UP_GROUPS).is_empty() || tokio::time::Instant::now() >= deadline {
            return;
        }
        // Observation of processes that are already dying, not a wait for readiness.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Whether any live process (not a zombie, which makes no engine calls) is in group `pgid`.
fn group_lives(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name().to_string_lossy().parse::<u32>().is_ok()
            && std::fs::read_to_string(e.path().join("stat")).is_ok_and(|stat| {
                // Fields after the command name: state, ppid, pgrp.
                let rest = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or("");
                let mut f = rest.split_whitespace();
                let state = f.next().unwrap_or("Z");
                let pgrp = f.nth(1).and_then(|p| p.parse::<u32>().ok());
                pgrp == Some(pgid) && state != "Z" && state != "X"
            })
    })
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
    fn a_healthcheck_runs_as_the_engine_runs_it() {
        let hc = |test: &[&str]| Healthcheck {
            disable: false,
            test: test.iter().map(|t| t.to_string()).collect(),
            interval: None,
            timeout: Some("3s".into()),
            start_period: None,
            retries: None,
        };
        assert_eq!(
            hc(&["CMD", "curl", "-f", "http://localhost:8194/health"]).argv(),
            Some(vec![
                "curl".into(),
                "-f".into(),
                "http://localhost:8194/health".into()
            ])
        );
        assert_eq!(
            hc(&["CMD-SHELL", "pg_isready -h db || exit 1"]).argv(),
            Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "pg_isready -h db || exit 1".into()
            ])
        );
        assert_eq!(hc(&["NONE"]).argv(), None);
        assert_eq!(hc(&[]).argv(), None);
        assert_eq!(hc(&["CMD"]).timeout(), std::time::Duration::from_secs(3));
    }

    fn probe_model() -> ComposeModel {
        ComposeModel::parse_json(
            r#"{"services": {
              "good": {"image": "dify-conformance/busybox:local", "command": ["sleep", "5"]},
              "pgvector": {"image": "dify-conformance/busybox:local", "entrypoint": ["/docker-entrypoint.sh"],
                "volumes": [{"type": "bind", "source": "/w/pgvector/docker-entrypoint.sh", "target": "/docker-entrypoint.sh"}]},
              "missing": {"image": "dify-conformance/does-not-exist:local"},
              "worker": {"image": "w"},
              "worker_beat": {"image": "w"}
            }}"#,
        )
        .unwrap()
    }

    /// Compose 2.26's stderr, as run on the engine here with a script that lost its exec bit.
    #[test]
    fn a_failed_up_names_the_service_that_never_started() {
        let stderr = " Network p_default  Creating\n Network p_default  Created\n \
            Container p-good-1  Creating\n Container p-pgvector-1  Creating\n \
            Container p-pgvector-1  Created\n Container p-good-1  Created\n \
            Container p-good-1  Starting\n Container p-pgvector-1  Starting\n \
            Container p-good-1  Started\n\
            Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/docker-entrypoint.sh\": permission denied: unknown\n";
        let f = up_failure(stderr, "p", &probe_model());
        assert_eq!(f.services, ["pgvector"]);
        assert!(
            f.cause.ends_with("permission denied: unknown"),
            "{}",
            f.cause
        );
        assert!(
            f.to_string().starts_with(
                "docker compose up failed for service pgvector: Error response from daemon"
            ),
            "{f}"
        );
    }

    #[rstest::rstest]
    #[case::no_such_image(
        " Container p-missing-1  Creating\n Container p-good-1  Creating\nError response from daemon: no such image: dify-conformance/does-not-exist:local: No such image: dify-conformance/does-not-exist:local",
        &["missing"]
    )]
    #[case::pull_denied(
        " missing Pulling\n missing Error\nError response from daemon: pull access denied for dify-conformance/does-not-exist, repository does not exist or may require 'docker login'",
        &["missing"]
    )]
    #[case::unhealthy_dependency(
        " Container p-worker_beat-1  Waiting\ndependency failed to start: container p-worker_beat-1 is unhealthy",
        &["worker_beat"]
    )]
    #[case::port_taken(
        " Container p-good-1  Starting\nError response from daemon: driver failed programming external connectivity on endpoint p-good-1 (abc): Bind for 127.0.0.1:80 failed: port is already allocated",
        &["good"]
    )]
    #[case::nothing_to_go_on("something odd happened", &[])]
    fn a_failed_up_names_its_service(#[case] stderr: &str, #[case] want: &[&str]) {
        assert_eq!(up_failure(stderr, "p", &probe_model()).services, want);
    }

    #[test]
    fn finds_bind_mounted_programs_without_the_exec_bit() {
        use std::os::unix::fs::PermissionsExt;
        let deployment = tempfile::tempdir().unwrap();
        let dir = deployment.path().join("pgvector");
        std::fs::create_dir(&dir).unwrap();
        let script = dir.join("docker-entrypoint.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = scripts_without_exec_bit(&probe_model(), Path::new("/w"), deployment.path());
        assert_eq!(
            found,
            [NotExecutable {
                service: "pgvector".into(),
                path: script.clone()
            }]
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            scripts_without_exec_bit(&probe_model(), Path::new("/w"), deployment.path()).is_empty()
        );
    }

    #[test]
    fn health_time_limits_follow_the_engine() {
        assert_eq!(
            parse_duration("1m30s"),
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration("500ms"),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(parse_duration("5x"), None);
        let stand_in_api = Healthcheck {
            interval: Some("5s".into()),
            timeout: Some("5s".into()),
            retries: Some(36),
            start_period: Some("30s".into()),
            ..Default::default()
        };
        assert_eq!(
            stand_in_api.time_limit(),
            std::time::Duration::from_secs(30 + 36 * 10)
        );
        assert_eq!(
            Healthcheck::default().time_limit(),
            std::time::Duration::from_secs(3 * 60)
        );
    }

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
