//! One cell's running compose stack: up through testcontainers, readiness observed on the
//! engine and through nginx, logs for the report, and teardown that leaves nothing behind.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use testcontainers::compose::DockerCompose;
use tokio::time::Instant;

use crate::compose::{ComposeCli, ComposeModel};
use crate::engine::{ContainerState, Engine, Swept};
use crate::labels;
use crate::workspace::{ENTRY_SERVICE, Workspace};

/// How often readiness is re-observed.
const POLL: Duration = Duration::from_millis(500);
/// Log lines kept per service for the report.
pub const LOG_TAIL: usize = 60;

/// Where a stack failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Up,
    Ready,
}

/// Why a stack could not be brought up; the services named are those whose logs explain it.
#[derive(Clone, Debug, PartialEq)]
pub struct StackFailure {
    pub stage: Stage,
    pub message: String,
    pub services: Vec<String>,
}

/// What the engine says of a stack as a whole at one moment.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every service runs (healthy where it has a healthcheck); one-shot jobs completed.
    Running,
    /// Still coming up; what is missing.
    Pending(Vec<String>),
    /// Will not come up: a service exited, crash-loops or is unhealthy.
    Fatal { service: String, reason: String },
}

/// Judges container states against the model. Pure, so its rules are unit-tested.
pub fn judge(model: &ComposeModel, states: &[ContainerState]) -> Verdict {
    let one_shots = model.one_shot_services();
    let mut pending = Vec::new();
    for (name, service) in &model.services {
        let Some(s) = states.iter().find(|s| &s.service == name) else {
            pending.push(format!("{name} (not created yet)"));
            continue;
        };
        let fatal = |reason: String| Verdict::Fatal {
            service: name.clone(),
            reason,
        };
        if one_shots.contains(&name.as_str()) {
            match (s.state.as_str(), s.exit_code) {
                ("exited", Some(0)) => continue,
                ("exited" | "dead", code) => {
                    return fatal(format!(
                        "one-shot job exited with code {}",
                        code.unwrap_or(-1)
                    ));
                }
                _ => {
                    pending.push(format!("{name} ({})", s.state));
                    continue;
                }
            }
        }
        match s.state.as_str() {
            "exited" | "dead" => {
                return fatal(format!("exited with code {}", s.exit_code.unwrap_or(-1)));
            }
            "restarting" => return fatal("is restarting (crash loop)".into()),
            _ if s.restart_count > 0 => {
                return fatal(format!(
                    "restarted {} time(s) (crash loop)",
                    s.restart_count
                ));
            }
            "running" => match s.health.as_deref() {
                Some("unhealthy") => return fatal("is unhealthy".into()),
                Some("healthy") => {}
                Some(h) => pending.push(format!("{name} ({h})")),
                None if service.has_healthcheck() => {
                    pending.push(format!("{name} (no health state yet)"))
                }
                None => {}
            },
            other => pending.push(format!("{name} ({other})")),
        }
    }
    if pending.is_empty() {
        Verdict::Running
    } else {
        Verdict::Pending(pending)
    }
}

/// Projects with a live stack in this process, so Ctrl-C can tear them all down.
static ACTIVE: Mutex<BTreeMap<String, ComposeCli>> = Mutex::new(BTreeMap::new());

pub struct Stack {
    compose: Option<DockerCompose>,
    cli: ComposeCli,
    engine: Engine,
    model: ComposeModel,
    pub project: String,
}

/// How teardown went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Teardown {
    /// What had to be swept after `compose down` (non-zero means down left something).
    pub swept: Swept,
    pub errors: Vec<String>,
}

impl Stack {
    /// A stack for a prepared workspace; nothing runs until [`Stack::up`].
    pub fn new(ws: &Workspace, engine: &Engine) -> Self {
        let env: HashMap<String, String> = ws.cli.env.clone().into_iter().collect();
        let mut compose = DockerCompose::with_local_client(ws.cli.files.as_slice())
            .with_project_name(ws.project.clone())
            .with_env_vars(env)
            .with_build(false)
            .with_pull(false)
            // testcontainers' wait is a fixed 60 s `--wait`; readiness is observed here instead.
            .with_wait(false);
        compose.with_remove_volumes(true);
        ACTIVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ws.project.clone(), ws.cli.clone());
        Self {
            compose: Some(compose),
            cli: ws.cli.clone(),
            engine: engine.clone(),
            model: ws.model.clone(),
            project: ws.project.clone(),
        }
    }

    /// `compose up`, ended early when a service is already seen failing.
    pub async fn up(&mut self, deadline: Instant) -> Result<(), StackFailure> {
        let compose = self.compose.as_mut().expect("up before down");
        let engine = &self.engine;
        let model = &self.model;
        let project = &self.project;
        let watch = async {
            loop {
                tokio::time::sleep(POLL).await;
                if let Ok(states) = engine.containers(labels::COMPOSE_PROJECT, project).await
                    && let Verdict::Fatal { service, reason } = judge(model, &states)
                {
                    return (service, reason);
                }
            }
        };
        tokio::select! {
            res = tokio::time::timeout_at(deadline, compose.up()) => match res {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    let failure = crate::compose::up_failure(&e.to_string(), project, model);
                    Err(StackFailure {
                        stage: Stage::Up,
                        message: failure.to_string(),
                        services: failure.services,
                    })
                }
                Err(_) => Err(StackFailure {
                    stage: Stage::Up,
                    message: "docker compose up did not finish within the cell's timeout".into(),
                    services: Vec::new(),
                }),
            },
            (service, reason) = watch => Err(StackFailure {
                stage: Stage::Up,
                message: format!("service {service} {reason}"),
                services: vec![service],
            }),
        }
    }

    /// Waits until the engine reports every service up and nginx answers for the api and web.
    pub async fn wait_ready(&self, base_url: &str, deadline: Instant) -> Result<(), StackFailure> {
        suites::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StackFailure {
                stage: Stage::Ready,
                message: format!("cannot build an HTTP client: {e}"),
                services: Vec::new(),
            })?;
        let mut waiting_for: Vec<String>;
        loop {
            let states = self
                .engine
                .containers(labels::COMPOSE_PROJECT, &self.project)
                .await
                .map_err(|e| StackFailure {
                    stage: Stage::Ready,
                    message: e.to_string(),
                    services: Vec::new(),
                })?;
            waiting_for = match judge(&self.model, &states) {
                Verdict::Fatal { service, reason } => {
                    return Err(StackFailure {
                        stage: Stage::Ready,
                        message: format!("service {service} {reason}"),
                        services: vec![service],
                    });
                }
                Verdict::Pending(p) => p,
                Verdict::Running => probe_entry(&http, base_url).await,
            };
            if waiting_for.is_empty() {
                return Ok(());
            }
            if Instant::now() + POLL >= deadline {
                let services = waiting_for
                    .iter()
                    .map(|w| w.split(' ').next().unwrap_or(w).to_string())
                    .collect();
                return Err(StackFailure {
                    stage: Stage::Ready,
                    message: format!(
                        "not ready within the cell's timeout; waiting for: {}",
                        waiting_for.join(", ")
                    ),
                    services,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until a Celery worker answers a ping on the broker. Soft: it returns `false` at
    /// the deadline or when a service fails, and the celery suite then reports with evidence.
    /// A worker takes seconds to consume after its container runs, so without this wait the
    /// celery check would race the worker's boot.
    pub async fn wait_for_workers(&self, broker: &suites::BrokerUrl, deadline: Instant) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let attempt = left.min(Duration::from_secs(1));
            if let Ok(replies) = suites::clients::celery_control::ping(broker, attempt).await
                && !replies.is_empty()
            {
                return true;
            }
            if let Ok(states) = self
                .engine
                .containers(labels::COMPOSE_PROJECT, &self.project)
                .await
                && matches!(judge(&self.model, &states), Verdict::Fatal { .. })
            {
                return false;
            }
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The host port on 127.0.0.1 where `service` publishes `container_port`.
    pub async fn host_port(&self, service: &str, container_port: u16) -> Option<u16> {
        let states = self
            .engine
            .containers(labels::COMPOSE_PROJECT, &self.project)
            .await
            .ok()?;
        states
            .iter()
            .find(|s| s.service == service)?
            .ports
            .get(&format!("{container_port}/tcp"))
            .copied()
    }

    /// The images each service actually runs, for the report.
    pub async fn images(&self) -> BTreeMap<String, String> {
        self.engine
            .containers(labels::COMPOSE_PROJECT, &self.project)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.service, s.image))
            .collect()
    }

    /// The last lines of the named services' logs (all services when `services` is empty).
    pub async fn logs(&self, services: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let states = self
            .engine
            .containers(labels::COMPOSE_PROJECT, &self.project)
            .await
            .unwrap_or_default();
        for s in states {
            if services.is_empty() || services.contains(&s.service) {
                out.insert(s.service.clone(), self.engine.logs(&s.id, LOG_TAIL).await);
            }
        }
        out
    }

    /// `compose down -v` with the cell's files and a short stop timeout, then testcontainers'
    /// own teardown (which then finds nothing), then a sweep by project label for anything
    /// both missed.
    ///
    /// Why not only testcontainers' `down`: it waits compose's default 10 s per container, and
    /// Dify's nginx runs under `sh -c` as PID 1, which ignores the stop signal, so every
    /// teardown would cost 10 s for nothing. The stack is disposable; a quick kill is fine.
    pub async fn down(mut self) -> Teardown {
        let mut errors = Vec::new();
        let ours = self.cli.down().await;
        if let Some(compose) = self.compose.take()
            && let Err(e) = compose.down().await
            && ours.is_err()
        {
            errors.push(one_line(&e.to_string()));
        }
        if let Err(e) = ours {
            errors.push(one_line(&e));
        }
        let swept = self
            .engine
            .sweep(labels::COMPOSE_PROJECT, &self.project)
            .await;
        ACTIVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.project);
        Teardown { swept, errors }
    }
}

/// After the engine says all runs: nginx must answer for the api (with X-Version) and the web.
async fn probe_entry(http: &reqwest::Client, base_url: &str) -> Vec<String> {
    let mut waiting = Vec::new();
    match http
        .get(format!("{base_url}/console/api/setup"))
        .send()
        .await
    {
        // A 500 with X-Version is the api up while migrations still run (research §1.2).
        Ok(r) if r.status() == 200 && r.headers().contains_key("x-version") => {}
        Ok(r) => waiting.push(format!(
            "{ENTRY_SERVICE} -> api (HTTP {})",
            r.status().as_u16()
        )),
        Err(_) => waiting.push(format!("{ENTRY_SERVICE} -> api (no answer)")),
    }
    match http.get(format!("{base_url}/")).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => waiting.push(format!(
            "{ENTRY_SERVICE} -> web (HTTP {})",
            r.status().as_u16()
        )),
        Err(_) => waiting.push(format!("{ENTRY_SERVICE} -> web (no answer)")),
    }
    waiting
}

/// Tears down every stack this process still has up (Ctrl-C), then sweeps by run label.
pub async fn teardown_active(engine: &Engine, run_id: &str) -> Swept {
    let active: Vec<ComposeCli> = ACTIVE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    for cli in &active {
        let _ = cli.down().await;
    }
    let swept = engine.sweep(labels::RUN, run_id).await;
    for cli in &active {
        let _ = std::fs::remove_dir_all(&cli.workdir);
    }
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clear();
    swept
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ComposeModel {
        ComposeModel::parse_json(
            r#"{"services": {
              "init_permissions": {"image": "busybox"},
              "api": {"image": "a", "healthcheck": {"test": ["CMD", "true"]},
                      "depends_on": {"init_permissions": {"condition": "service_completed_successfully"}}},
              "nginx": {"image": "n"}
            }}"#,
        )
        .unwrap()
    }

    fn state(
        service: &str,
        state: &str,
        exit: Option<i64>,
        health: Option<&str>,
    ) -> ContainerState {
        ContainerState {
            id: service.into(),
            service: service.into(),
            state: state.into(),
            exit_code: exit,
            health: health.map(str::to_owned),
            restart_count: 0,
            ports: BTreeMap::new(),
            image: String::new(),
        }
    }

    #[test]
    fn running_when_all_up_healthy_and_jobs_done() {
        let states = [
            state("init_permissions", "exited", Some(0), None),
            state("api", "running", None, Some("healthy")),
            state("nginx", "running", None, None),
        ];
        assert_eq!(judge(&model(), &states), Verdict::Running);
    }

    #[test]
    fn pending_while_health_starts() {
        let states = [
            state("init_permissions", "exited", Some(0), None),
            state("api", "running", None, Some("starting")),
        ];
        assert_eq!(
            judge(&model(), &states),
            Verdict::Pending(vec![
                "api (starting)".into(),
                "nginx (not created yet)".into()
            ])
        );
    }

    #[test]
    fn fatal_on_exit_crash_loop_unhealthy_or_failed_job() {
        let m = model();
        let mut api = state("api", "exited", Some(1), None);
        let job = state("init_permissions", "exited", Some(0), None);
        assert!(
            matches!(judge(&m, &[job.clone(), api.clone()]), Verdict::Fatal { ref service, .. } if service == "api")
        );
        api.state = "running".into();
        api.restart_count = 2;
        assert!(
            matches!(judge(&m, &[job.clone(), api.clone()]), Verdict::Fatal { ref reason, .. } if reason.contains("crash loop"))
        );
        api.restart_count = 0;
        api.health = Some("unhealthy".into());
        assert!(
            matches!(judge(&m, &[job, api]), Verdict::Fatal { ref reason, .. } if reason == "is unhealthy")
        );
        let failed_job = state("init_permissions", "exited", Some(2), None);
        assert!(
            matches!(judge(&m, &[failed_job]), Verdict::Fatal { ref service, .. } if service == "init_permissions")
        );
    }
}
