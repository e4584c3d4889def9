//! One cell's running compose stack: up through the compose CLI, readiness observed on the
//! engine and through nginx, logs for the report, and teardown that leaves nothing behind.
//!
//! `compose up` runs as our own child (not through testcontainers, whose child outlives a
//! dropped future): Ctrl-C, SIGTERM or a time-out kills it, so nothing is created after the
//! teardown's sweep.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

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
    /// A service failed, or the checks ran out of time, while the suites ran.
    Checks,
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
    /// Every service runs and one-shot jobs completed, but these services' healthchecks have
    /// not passed yet. Checks may start (readiness is judged by what they talk to); the cell
    /// still fails if one of them does not turn healthy within its own time-out.
    Settling(Vec<String>),
    /// Still coming up; what is missing.
    Pending(Vec<String>),
    /// Will not come up: a service exited, crash-loops or is unhealthy.
    Fatal { service: String, reason: String },
}

/// Judges container states against the model. `running_for` says how long each container
/// (by id) has been seen running, for healthchecks that never pass. Pure, so its rules are
/// unit-tested.
pub fn judge(
    model: &ComposeModel,
    states: &[ContainerState],
    running_for: &HashMap<String, Duration>,
) -> Verdict {
    let one_shots = model.one_shot_services();
    let mut pending = Vec::new();
    let mut settling = Vec::new();
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
        // A container running again after a restart reports 0: only a real code is named.
        let last_exit = s
            .exit_code
            .filter(|c| *c != 0)
            .map(|c| format!(", last exit code {c}"))
            .unwrap_or_default();
        match s.state.as_str() {
            "exited" | "dead" => {
                return fatal(format!("exited with code {}", s.exit_code.unwrap_or(-1)));
            }
            "restarting" => return fatal(format!("is restarting (crash loop{last_exit})")),
            _ if s.restart_count > 0 => {
                return fatal(format!(
                    "restarted {} time(s) (crash loop{last_exit})",
                    s.restart_count
                ));
            }
            "running" => match s.health.as_deref() {
                Some("unhealthy") => {
                    return fatal(format!(
                        "is unhealthy{}",
                        s.health_output
                            .as_deref()
                            .map(|o| format!(" (last probe: {o})"))
                            .unwrap_or_default()
                    ));
                }
                Some("healthy") => {}
                // The engine's own verdict normally comes first; this bounds a probe that
                // neither passes nor fails (e.g. an engine that stopped probing).
                Some(h)
                    if service.healthcheck.as_ref().is_some_and(|hc| {
                        running_for
                            .get(&s.id)
                            .is_some_and(|t| *t > hc.time_limit() + POLL)
                    }) =>
                {
                    let limit = service
                        .healthcheck
                        .as_ref()
                        .map(|hc| hc.time_limit())
                        .unwrap_or_default();
                    return fatal(format!(
                        "not healthy within its healthcheck's time-out ({} s; still {h})",
                        limit.as_secs()
                    ));
                }
                Some(h) => settling.push(format!("{name} ({h})")),
                None if service.has_healthcheck() => {
                    settling.push(format!("{name} (no health state yet)"))
                }
                None => {}
            },
            other => pending.push(format!("{name} ({other})")),
        }
    }
    if !pending.is_empty() {
        pending.extend(settling);
        Verdict::Pending(pending)
    } else if !settling.is_empty() {
        Verdict::Settling(settling)
    } else {
        Verdict::Running
    }
}

/// Projects with a live stack in this process, so Ctrl-C can tear them all down.
static ACTIVE: Mutex<BTreeMap<String, ComposeCli>> = Mutex::new(BTreeMap::new());

pub struct Stack {
    cli: ComposeCli,
    engine: Engine,
    model: ComposeModel,
    pull: bool,
    pub project: String,
    /// When each container (by id) was first seen running.
    running_since: Mutex<HashMap<String, Instant>>,
    /// Containers (by id) whose own healthcheck command, run by the harness, passed while the
    /// engine still said "starting" (see [`Stack::settled`]).
    passed_own_check: Mutex<std::collections::HashSet<String>>,
    /// When the harness last ran each container's healthcheck command.
    probed_at: Mutex<HashMap<String, Instant>>,
}

/// How teardown went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Teardown {
    /// What had to be swept after `compose down` (non-zero means down left something).
    pub swept: Swept,
    pub errors: Vec<String>,
}

impl Stack {
    /// A stack for a prepared workspace; nothing runs until [`Stack::up`]. `pull` lets
    /// compose pull images the engine lacks.
    pub fn new(ws: &Workspace, engine: &Engine, pull: bool) -> Self {
        ACTIVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ws.project.clone(), ws.cli.clone());
        Self {
            cli: ws.cli.clone(),
            engine: engine.clone(),
            model: ws.model.clone(),
            pull,
            project: ws.project.clone(),
            running_since: Mutex::new(HashMap::new()),
            passed_own_check: Mutex::new(std::collections::HashSet::new()),
            probed_at: Mutex::new(HashMap::new()),
        }
    }

    /// The stack's containers and the engine's verdict on them.
    async fn observe(&self) -> crate::error::Result<(Vec<ContainerState>, Verdict)> {
        let mut states = self
            .engine
            .containers(labels::COMPOSE_PROJECT, &self.project)
            .await?;
        {
            // Still "starting" for the engine, but its healthcheck passed when we ran it. The
            // engine's own verdict wins as soon as it has one ("unhealthy" stays fatal).
            let passed = self
                .passed_own_check
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for s in &mut states {
                if s.health.as_deref() == Some("starting") && passed.contains(&s.id) {
                    s.health = Some("healthy".into());
                }
            }
        }
        let running_for = {
            let mut since = self.running_since.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            states
                .iter()
                .filter(|s| s.state == "running")
                .map(|s| {
                    (
                        s.id.clone(),
                        now - *since.entry(s.id.clone()).or_insert(now),
                    )
                })
                .collect()
        };
        let mut verdict = judge(&self.model, &states, &running_for);
        // A container running again after a restart says 0; its last death is in the engine's
        // events. Judged again with that code, so the verdict names it.
        if let Verdict::Fatal { service, .. } = &verdict
            && let Some(s) = states.iter_mut().find(|s| &s.service == service)
            && (s.state == "restarting" || s.restart_count > 0)
            && s.exit_code.is_none_or(|c| c == 0)
            && let Some(code) = self.engine.last_exit_code(&s.id).await
            && code != 0
        {
            s.exit_code = Some(code);
            verdict = judge(&self.model, &states, &running_for);
        }
        Ok((states, verdict))
    }

    /// Resolves when a service of the stack is seen failing (exited, crash-looping,
    /// unhealthy), with the service and why. Polling the engine is observation: each round
    /// is one list call.
    pub async fn first_failure(&self) -> (String, String) {
        loop {
            if let Ok((_, Verdict::Fatal { service, reason })) = self.observe().await {
                return (service, reason);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `compose up`, ended early when a service is already seen failing.
    pub async fn up(&mut self, deadline: Instant) -> Result<(), StackFailure> {
        let up = self.cli.up(self.pull);
        tokio::select! {
            res = tokio::time::timeout_at(deadline, up) => match res {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    let failure = crate::compose::up_failure(&e.to_string(), &self.project, &self.model);
                    Err(StackFailure {
                        stage: Stage::Up,
                        message: failure.to_string(),
                        services: failure.services,
                    })
                }
                Err(_) => Err(StackFailure {
                    stage: Stage::Up,
                    message: "docker compose up did not finish within its time-out".into(),
                    services: Vec::new(),
                }),
            },
            (service, reason) = self.first_failure() => Err(StackFailure {
                stage: Stage::Up,
                message: format!("service {service} {reason}"),
                services: vec![service],
            }),
        }
    }

    /// Waits until the engine reports every service running (one-shot jobs done, none failing)
    /// and nginx answers for the api and web: what the suites talk to. Healthchecks still
    /// starting are not waited for here; [`Stack::settled`] judges them alongside the checks.
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
            let (_, verdict) = self.observe().await.map_err(|e| StackFailure {
                stage: Stage::Ready,
                message: e.to_string(),
                services: Vec::new(),
            })?;
            waiting_for = match verdict {
                Verdict::Fatal { service, reason } => {
                    return Err(StackFailure {
                        stage: Stage::Ready,
                        message: format!("service {service} {reason}"),
                        services: vec![service],
                    });
                }
                Verdict::Pending(p) => p,
                Verdict::Running => probe_entry(&http, base_url).await,
                Verdict::Settling(settling) => {
                    let mut waiting = probe_entry(&http, base_url).await;
                    // Named only if readiness times out anyway: they may be why.
                    if !waiting.is_empty() {
                        waiting.extend(settling);
                    }
                    waiting
                }
            };
            if waiting_for.is_empty() {
                return Ok(());
            }
            if Instant::now() + POLL >= deadline {
                return Err(timed_out("not ready within its time-out", &waiting_for));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Resolves once every healthcheck of the stack has passed, or with the failure when a
    /// service fails, is unhealthy, or stays unhealthy past its own healthcheck's time-out (the
    /// engine's verdict, bounded by [`judge`]), or at `deadline`.
    ///
    /// A healthcheck the engine has not run yet (Dify's sandbox: every 30 s, no start
    /// interval) would hold the verdict for its whole interval: the harness runs the same
    /// command in the container itself, at most once a second, and a pass counts as healthy.
    pub async fn settled(&self, deadline: Instant) -> Result<(), StackFailure> {
        let mut waiting_for = Vec::new();
        loop {
            match self.observe().await {
                Ok((_, Verdict::Running)) => return Ok(()),
                Ok((states, Verdict::Settling(w))) => {
                    self.run_own_healthchecks(&states, deadline).await;
                    waiting_for = w;
                }
                Ok((_, Verdict::Fatal { service, reason })) => {
                    return Err(StackFailure {
                        stage: Stage::Ready,
                        message: format!("service {service} {reason}"),
                        services: vec![service],
                    });
                }
                Ok((_, Verdict::Pending(w))) => waiting_for = w,
                // A failed look is not a verdict; the deadline bounds how long we keep looking.
                Err(_) => {}
            }
            if Instant::now() + POLL >= deadline {
                return Err(timed_out(
                    "healthchecks not passed within the cell's time-out",
                    &waiting_for,
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs, in each container still "starting", its own healthcheck command, as the engine
    /// would; records the ones that pass.
    async fn run_own_healthchecks(&self, states: &[ContainerState], deadline: Instant) {
        const EVERY: Duration = Duration::from_secs(1);
        for s in states
            .iter()
            .filter(|s| s.state == "running" && s.health.as_deref() == Some("starting"))
        {
            let Some(hc) = self
                .model
                .services
                .get(&s.service)
                .and_then(|svc| svc.healthcheck.as_ref())
            else {
                continue;
            };
            let Some(argv) = hc.argv() else { continue };
            let now = Instant::now();
            {
                let mut probed = self.probed_at.lock().unwrap_or_else(|p| p.into_inner());
                if probed.get(&s.id).is_some_and(|t| now - *t < EVERY) {
                    continue;
                }
                probed.insert(s.id.clone(), now);
            }
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let limit = hc.timeout().min(deadline.saturating_duration_since(now));
            if let Ok(Ok((0, _))) =
                tokio::time::timeout(limit, self.engine.exec(&s.id, &argv)).await
            {
                self.passed_own_check
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(s.id.clone());
            }
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
            if let Ok((_, Verdict::Fatal { .. })) = self.observe().await {
                return false;
            }
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The host port where `service` publishes `container_port` (reached at the workspace's endpoint).
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

    /// Writes every service's whole log (the last `cap` bytes of each, redacted) to
    /// `<dir>/<service>.log`; returns service -> file name. Errors are returned as text.
    pub async fn save_logs(
        &self,
        dir: &std::path::Path,
        cap: usize,
        redactor: &crate::redact::Redactor,
    ) -> Result<BTreeMap<String, String>, String> {
        let states = self
            .engine
            .containers(labels::COMPOSE_PROJECT, &self.project)
            .await
            .map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut out = BTreeMap::new();
        for s in states {
            let (text, cut) = self.engine.full_logs(&s.id, cap).await;
            let mut body = String::new();
            if cut {
                body.push_str(&format!(
                    "[dify-conformance: the first part of this log was cut; the last {cap} bytes follow]\n"
                ));
            }
            body.push_str(&redactor.redact(&text));
            let name = format!("{}.log", file_safe(&s.service));
            let path = dir.join(&name);
            std::fs::write(&path, body).map_err(|e| format!("write {}: {e}", path.display()))?;
            out.insert(s.service.clone(), name);
        }
        Ok(out)
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

    /// `compose down -v` with the cell's files and a short stop timeout, then a sweep by
    /// project label for anything it missed.
    ///
    /// The stop timeout is short because Dify's nginx runs under `sh -c` as PID 1, which
    /// ignores the stop signal, so compose's default 10 s would be spent for nothing. The
    /// stack is disposable; a quick kill is fine.
    pub async fn down(self, limit: Duration) -> Teardown {
        let mut errors = Vec::new();
        // An `up` abandoned at its time-out must be gone before the sweep.
        crate::compose::wait_for_up_children(Duration::from_secs(10)).await;
        match tokio::time::timeout(limit, self.cli.down()).await {
            Ok(Err(e)) => errors.push(one_line(&e)),
            Err(_) => errors.push(format!(
                "docker compose down did not finish within {} s; swept by label instead",
                limit.as_secs()
            )),
            Ok(Ok(())) => {}
        }
        let swept = self
            .engine
            .sweep(labels::COMPOSE_PROJECT, &self.project)
            .await;
        errors.extend(swept.failures.iter().cloned());
        self.forget();
        Teardown { swept, errors }
    }

    /// Leaves the stack running (`--keep-on-failure`): Ctrl-C no longer tears it down.
    pub fn keep(self) {
        self.forget();
    }

    fn forget(&self) {
        ACTIVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.project);
    }
}

/// A readiness time-out naming what was still awaited (`service (state)` entries) and the
/// services whose logs explain it.
fn timed_out(what: &str, waiting_for: &[String]) -> StackFailure {
    StackFailure {
        stage: Stage::Ready,
        message: format!("{what}; waiting for: {}", waiting_for.join(", ")),
        services: waiting_for
            .iter()
            .map(|w| w.split(' ').next().unwrap_or(w).to_string())
            .collect(),
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

/// Tears down every stack this process still has up (Ctrl-C, SIGTERM), then sweeps by run
/// label and removes the run's workspaces (also those of cells still preparing).
///
/// Call it after the run's future was dropped: that kills any `compose up` child; the sweep
/// waits until those are gone, so none creates a container after it.
pub async fn teardown_active(engine: &Engine, run_id: &str) -> Swept {
    let active: Vec<ComposeCli> = ACTIVE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    crate::compose::wait_for_up_children(Duration::from_secs(10)).await;
    futures_util::future::join_all(active.iter().map(|cli| cli.down())).await;
    let swept = engine.sweep(labels::RUN, run_id).await;
    crate::workspace::remove_run_workspaces(run_id);
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clear();
    swept
}

/// A service name as a file name (compose allows `[a-zA-Z0-9._-]`; anything else is replaced).
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
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
            health_output: None,
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
        assert_eq!(judge(&model(), &states, &HashMap::new()), Verdict::Running);
    }

    #[test]
    fn pending_while_health_starts() {
        let states = [
            state("init_permissions", "exited", Some(0), None),
            state("api", "running", None, Some("starting")),
        ];
        assert_eq!(
            judge(&model(), &states, &HashMap::new()),
            Verdict::Pending(vec![
                "nginx (not created yet)".into(),
                "api (starting)".into()
            ])
        );
    }

    #[test]
    fn settling_when_all_run_but_a_healthcheck_has_not_passed() {
        let states = [
            state("init_permissions", "exited", Some(0), None),
            state("api", "running", None, Some("starting")),
            state("nginx", "running", None, None),
        ];
        assert_eq!(
            judge(&model(), &states, &HashMap::new()),
            Verdict::Settling(vec!["api (starting)".into()])
        );
    }

    #[test]
    fn fatal_on_exit_crash_loop_unhealthy_or_failed_job() {
        let m = model();
        let none = HashMap::new();
        let mut api = state("api", "exited", Some(1), None);
        let job = state("init_permissions", "exited", Some(0), None);
        assert!(
            matches!(judge(&m, &[job.clone(), api.clone()], &none), Verdict::Fatal { ref service, .. } if service == "api")
        );
        api.state = "running".into();
        api.restart_count = 2;
        api.exit_code = Some(3);
        assert!(
            matches!(judge(&m, &[job.clone(), api.clone()], &none), Verdict::Fatal { ref reason, .. } if reason == "restarted 2 time(s) (crash loop, last exit code 3)")
        );
        api.exit_code = None;
        api.restart_count = 0;
        api.health = Some("unhealthy".into());
        api.health_output = Some("curl: (7) Failed to connect".into());
        assert!(
            matches!(judge(&m, &[job.clone(), api.clone()], &none), Verdict::Fatal { ref reason, .. } if reason == "is unhealthy (last probe: curl: (7) Failed to connect)")
        );
        // Still "starting" past its own healthcheck's limit (3 x (30 s + 30 s) by default).
        api.health = Some("starting".into());
        let long = HashMap::from([("api".to_string(), Duration::from_secs(181))]);
        assert!(
            matches!(judge(&m, &[job.clone(), api.clone()], &long), Verdict::Fatal { ref reason, .. } if reason.starts_with("not healthy within its healthcheck's time-out (180 s"))
        );
        let short = HashMap::from([("api".to_string(), Duration::from_secs(100))]);
        assert!(matches!(
            judge(&m, &[job, api], &short),
            Verdict::Pending(_)
        ));
        let failed_job = state("init_permissions", "exited", Some(2), None);
        assert!(
            matches!(judge(&m, &[failed_job], &none), Verdict::Fatal { ref service, .. } if service == "init_permissions")
        );
    }
}
