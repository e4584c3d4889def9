//! Runs cells: prepare -> up -> ready -> check -> collect -> down, one report per cell.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use suites::{Admin, Outcome, Suite, Target, TlsEndpoint};
use tokio::time::Instant;

use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::images::ImageMap;
use crate::inspect::StackInspector;
use crate::matrix::{Cell, Matrix, StageTimeouts};
use crate::plan::Shard;
use crate::progress::{Ending, Phase, Progress};
use crate::recipe::{Axis, RecipeProbe};
use crate::redact::Redactor;
use crate::report::{
    CellReport, CellStatus, Environment, MatrixInfo, Meta, NotRunKind, Report, RunInfo,
    ServiceReport,
};
use crate::stack::{Stack, StackFailure};
use crate::workspace::{ENTRY_SERVICE, Workspace, render_env};

/// Everything a run needs besides the engine.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub catalog: Catalog,
    pub matrix: Matrix,
    pub cells: Vec<Cell>,
    pub images: ImageMap,
    pub suites: Vec<Suite>,
    /// Cells run at once (each is a whole stack: mind memory).
    pub jobs: usize,
    /// Let compose pull images that are not on the engine; otherwise such cells are not run.
    pub pull: bool,
    /// The shard `cells` were taken from, for the report.
    pub shard: Option<Shard>,
    /// Where checks keep files next to the report (`<dir>/<cell>/web-browser.png`).
    pub artifacts_dir: Option<std::path::PathBuf>,
    /// Called once per cell after the suites, while its stack is still up.
    pub while_up: Option<WhileUp>,
    /// Where the whole logs of a cell that did not pass are written (`<dir>/<cell>/<service>.log`);
    /// the report names them as `logs/<cell>/<service>.log`, relative to itself.
    pub logs_dir: Option<std::path::PathBuf>,
    /// Leave the stack and workspace of a cell that did not pass up, for debugging.
    pub keep_on_failure: bool,
}

/// Bytes of each service's log kept on disk for a cell that did not pass (its end).
pub const LOG_FILE_CAP: usize = 2 * 1024 * 1024;
/// The report's name for a saved log, relative to the report.
pub fn log_file_path(cell: &str, file: &str) -> String {
    format!("logs/{cell}/{file}")
}

/// A cell whose stack is up, as a tool outside the suites reaches it (a TLS scanner run next
/// to the ssl suite, say), with the suites' verdicts on it.
#[derive(Clone, Debug)]
pub struct LiveCell {
    pub cell: String,
    /// nginx's plain HTTP entry, e.g. `http://127.0.0.1:49153`.
    pub base_url: String,
    /// nginx's HTTPS endpoint, when the cell serves it, with the CA that signed it.
    pub tls: Option<TlsEndpoint>,
    pub outcomes: Vec<Outcome>,
}

/// A look at each live cell before it is torn down (see [`RunConfig::while_up`]).
#[derive(Clone)]
pub struct WhileUp(
    pub std::sync::Arc<dyn Fn(LiveCell) -> suites::BoxFuture<'static, ()> + Send + Sync>,
);

impl std::fmt::Debug for WhileUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WhileUp(..)")
    }
}

/// A fresh run id: short, unique enough to tell concurrent runs apart in names and labels.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// Runs every cell of `config` and assembles the report. `progress` hears of every phase.
///
/// Fails (and runs no further cell) when the engine stops answering during the run, e.g.
/// because it was restarted: no verdict is honest then.
pub async fn run(
    config: &RunConfig,
    engine: &Engine,
    run_id: &str,
    progress: &dyn Progress,
) -> crate::error::Result<Report> {
    let started = SystemTime::now();
    let clock = Instant::now();
    // Only entries whose local image exists apply: the same map serves users with real images.
    let images = config.images.present_on(engine).await;
    let lost: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

    let mut cells: Vec<(usize, CellReport)> =
        futures_util::stream::iter(config.cells.iter().enumerate())
            .map(|(i, cell)| {
                let images = &images;
                let lost = &lost;
                async move {
                    let is_lost = || lost.lock().unwrap_or_else(|p| p.into_inner()).is_some();
                    if is_lost() {
                        return (i, CellReport::new(&cell.id, "", "", false));
                    }
                    let report = run_cell(config, images, cell, engine, run_id, progress).await;
                    if report.status == CellStatus::Error
                        && let Err(e) = engine.ping().await
                    {
                        let mut lost = lost.lock().unwrap_or_else(|p| p.into_inner());
                        lost.get_or_insert_with(|| {
                            format!(
                                "during cell {}: {}",
                                cell.id,
                                report.reason.clone().unwrap_or_else(|| e.to_string())
                            )
                        });
                    }
                    (i, report)
                }
            })
            .buffer_unordered(config.jobs.max(1))
            .collect()
            .await;
    if let Some(during) = lost.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(crate::error::Error::EngineLost { during });
    }
    cells.sort_by_key(|(i, _)| *i);
    let cells: Vec<CellReport> = cells.into_iter().map(|(_, c)| c).collect();

    let compose = crate::compose::version()
        .await
        .unwrap_or_else(|_| "unknown".into());
    // The matrix's whole list (not just this shard's), so merges can restore its order.
    let matrix_cells = config
        .matrix
        .expand(Some(&config.catalog.sets), &config.catalog.recipes)
        .map(|all| all.into_iter().map(|c| c.id).collect())
        .unwrap_or_else(|_| cells.iter().map(|c| c.id.clone()).collect());
    let meta = Meta {
        run: RunInfo {
            id: run_id.into(),
            started_at: rfc3339(started),
            finished_at: rfc3339(SystemTime::now()),
            duration_ms: ms(clock.elapsed()),
            shard: config.shard.map(|s| format!("{}/{}", s.index, s.count)),
            merged_from: Vec::new(),
        },
        environment: Environment {
            engine: engine.version().await,
            compose,
        },
        deployment: config.catalog.deployment.dir.display().to_string(),
        matrix: MatrixInfo {
            name: config.matrix.name.clone(),
            path: config.matrix.path.display().to_string(),
            cells: matrix_cells,
        },
    };
    Ok(Report::new(meta, cells))
}

/// One cell, start to teardown. Never returns early with its stack up.
pub async fn run_cell(
    config: &RunConfig,
    images: &ImageMap,
    cell: &Cell,
    engine: &Engine,
    run_id: &str,
    progress: &dyn Progress,
) -> CellReport {
    let started = Instant::now();
    let mut report = CellReport::new(
        &cell.id,
        &cell.vector_store,
        &cell.storage_type,
        cell.required,
    );
    // What the cell sets beyond the example, secret values masked; known before anything runs.
    let rendered = render_env(
        &config.catalog.deployment.env_example,
        cell,
        &config.catalog.recipes,
    )
    .values();
    let example = config.catalog.deployment.env_example.values();
    let env_redactor = Redactor::from_env(&rendered);
    crate::redact::remember(&env_redactor);
    report.env = rendered
        .iter()
        .filter(|(k, v)| example.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), env_redactor.redact(v)))
        .collect();

    let runnability = config.catalog.runnability(cell);
    if let (Some(kind), Some(reason)) = (NotRunKind::of(&runnability), runnability.reason()) {
        progress.done(&cell.id, Ending::NotRun, &format!("not run: {reason}"));
        report.mark_not_run(kind, reason);
        return report;
    }

    // Judged as `plan` judges it (same images, same words), before anything is copied.
    if !config.pull {
        let wanted = config.catalog.cell_images(cell, images);
        let missing = crate::images::missing_on(engine, &wanted, &mut BTreeMap::new()).await;
        if !missing.is_empty() {
            let why = crate::images::not_runnable_here(&missing);
            progress.done(
                &cell.id,
                Ending::NotRun,
                &format!("not run: not runnable here: {why}"),
            );
            report.mark_not_run(
                NotRunKind::NotRunnableHere,
                format!("not runnable here: {why}"),
            );
            report.duration_ms = ms(started.elapsed());
            return report;
        }
    }

    progress.phase(&cell.id, Phase::Preparing);
    let t = Instant::now();
    let prepared = tokio::time::timeout(
        cell.stages.prepare(),
        Workspace::prepare(
            &config.catalog.deployment,
            cell,
            run_id,
            images,
            &config.catalog.recipes,
        ),
    )
    .await
    .unwrap_or_else(|_| {
        let _ = std::fs::remove_dir_all(
            crate::workspace::root().join(crate::workspace::project_name(run_id, &cell.id)),
        );
        Err(crate::error::Error::BadInput(format!(
            "not done within its time-out ({} s)",
            cell.stages.prepare().as_secs()
        )))
    });
    let ws = match prepared {
        Ok(ws) => ws,
        Err(e) => {
            report.reason = Some(env_redactor.redact(&format!("cannot prepare the cell: {e}")));
            report.timings.prepare_ms = ms(t.elapsed());
            report.duration_ms = ms(started.elapsed());
            progress.done(
                &cell.id,
                Ending::Error,
                &format!("error: {}", report.reason.as_deref().unwrap_or_default()),
            );
            return report;
        }
    };
    report.timings.prepare_ms = ms(t.elapsed());
    let substituted: BTreeMap<String, String> = ws
        .substitutions
        .iter()
        .map(|s| (s.service.clone(), s.upstream.clone()))
        .collect();
    if !config.pull {
        let mut missing = Vec::new();
        for (name, service) in &ws.model.services {
            if let Some(image) = &service.image
                && !engine.image_exists(image).await
            {
                missing.push(format!("{name} ({image})"));
            }
        }
        if !missing.is_empty() {
            let _ = ws.remove();
            report.mark_not_run(
                NotRunKind::NotRunnableHere,
                format!(
                    "not runnable here: {}",
                    crate::images::not_runnable_here(&missing)
                ),
            );
            report.duration_ms = ms(started.elapsed());
            progress.done(
                &cell.id,
                Ending::NotRun,
                &format!("not run: {}", report.reason.as_deref().unwrap_or_default()),
            );
            return report;
        }
    }
    let mut secrets = ws.env.values();
    for s in ws.model.services.values() {
        for (k, v) in &s.environment {
            if let Some(v) = v {
                secrets.insert(k.clone(), v.clone());
            }
        }
    }
    let admin = generated_admin();
    let generated = std::iter::once(admin.password.expose().to_string())
        .chain(ws.pki.iter().flat_map(|p| p.secrets()));
    let redactor = Redactor::from_env(&secrets).merged(&Redactor::with_secrets(generated));
    crate::redact::remember(&redactor);

    let deadline = Instant::now() + cell.timeout;
    let mut stack = Stack::new(&ws, engine, config.pull);
    let result = bring_up_and_check(
        &mut stack,
        &ws,
        config,
        cell,
        admin,
        deadline,
        &mut report,
        progress,
    )
    .await;
    match result {
        Ok(outcomes) => {
            report.record_outcomes(outcomes);
            if report.status != CellStatus::Passed {
                report.logs = stack.logs(&[]).await;
            }
        }
        Err(failure) => {
            report.status = CellStatus::Error;
            let stage = match failure.stage {
                crate::stack::Stage::Up => "compose up",
                crate::stack::Stage::Ready => "readiness",
                crate::stack::Stage::Checks => "checks",
            };
            report.reason = Some(format!("{stage}: {}", failure.message));
            // Said the moment it is known: saving logs and tearing down take longer.
            progress.note(
                &cell.id,
                &redactor.redact(&format!(
                    "verdict: error: {}",
                    report.reason.as_deref().unwrap_or_default()
                )),
            );
            report.logs = stack.logs(&failure.services).await;
            if report.logs.is_empty() {
                report.logs = stack.logs(&[]).await;
            }
        }
    }
    report.services = services(engine, &stack.project, &substituted).await;
    let passed = report.status == CellStatus::Passed;
    if !passed && let Some(dir) = &config.logs_dir {
        match stack
            .save_logs(&dir.join(&report.id), LOG_FILE_CAP, &redactor)
            .await
        {
            Ok(files) => {
                report.log_files = files
                    .into_iter()
                    .map(|(service, file)| (service, log_file_path(&report.id, &file)))
                    .collect();
            }
            Err(e) => report
                .teardown_errors
                .push(format!("cannot save the logs: {e}")),
        }
    }

    if !passed && config.keep_on_failure {
        if let Err(e) = ws.keep() {
            report.teardown_errors.push(e.to_string());
        }
        progress.note(&cell.id, &kept_how_to(&ws, run_id));
        stack.keep();
    } else {
        progress.phase(&cell.id, Phase::TearingDown);
        let t = Instant::now();
        let teardown = stack.down(cell.stages.down()).await;
        if let Err(e) = ws.remove() {
            report.teardown_errors.push(e.to_string());
        }
        report.teardown_errors.extend(teardown.errors);
        report.timings.down_ms = ms(t.elapsed());
    }
    report.duration_ms = ms(started.elapsed());

    redact_report(&mut report, &redactor);
    let ending = match report.status {
        CellStatus::Passed => Ending::Passed,
        CellStatus::Failed => Ending::Failed,
        CellStatus::Error => Ending::Error,
        CellStatus::NotRun => Ending::NotRun,
    };
    progress.done(
        &cell.id,
        ending,
        &format!(
            "{} in {:.1} s{}",
            report.status.label(),
            report.duration_ms as f64 / 1000.0,
            report
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    );
    report
}

/// How to enter a stack kept by `--keep-on-failure`, and how to remove it. Only the compose
/// profiles are named of the environment: the rest is in the workspace's `.env` (with secrets).
fn kept_how_to(ws: &Workspace, run_id: &str) -> String {
    let files: Vec<String> = ws
        .cli
        .files
        .iter()
        .map(|f| format!("-f {}", f.display()))
        .collect();
    let profiles = ws
        .cli
        .env
        .get("COMPOSE_PROFILES")
        .map(|p| format!("COMPOSE_PROFILES={p} "))
        .unwrap_or_default();
    format!(
        "kept for debugging: stack {project}, workspace {dir}\n  \
         enter:  cd {dir} && {profiles}docker compose -p {project} {files} ps\n  \
         \x20       docker exec -it $(docker ps -q --filter label=com.docker.compose.project={project} --filter label=com.docker.compose.service=api) sh\n  \
         remove: dify-conformance reap --run {run_id}",
        project = ws.project,
        dir = ws.dir.display(),
        files = files.join(" "),
    )
}

/// Each service of the stack as the engine sees it just before teardown.
async fn services(
    engine: &Engine,
    project: &str,
    substituted: &BTreeMap<String, String>,
) -> BTreeMap<String, ServiceReport> {
    engine
        .containers(crate::labels::COMPOSE_PROJECT, project)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            // The engine says 0 for a container still running; only an ended one has a code.
            let ended = matches!(s.state.as_str(), "exited" | "dead");
            let report = ServiceReport {
                replaces: substituted.get(&s.service).cloned(),
                image: s.image,
                state: s.state,
                restarts: s.restart_count,
                exit_code: s.exit_code.filter(|_| ended),
            };
            (s.service, report)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn bring_up_and_check(
    stack: &mut Stack,
    ws: &Workspace,
    config: &RunConfig,
    cell: &Cell,
    admin: Admin,
    deadline: Instant,
    report: &mut CellReport,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>, StackFailure> {
    progress.phase(&cell.id, Phase::Starting);
    let t = Instant::now();
    let up = stack
        .up(StageTimeouts::deadline(cell.stages.up, deadline))
        .await;
    report.timings.up_ms = ms(t.elapsed());
    up?;

    progress.phase(&cell.id, Phase::Ready);
    let t = Instant::now();
    let ready_started = t;
    let http_port = stack
        .host_port(ENTRY_SERVICE, ws.access.http_port)
        .await
        .ok_or_else(|| {
            failure(format!(
                "{ENTRY_SERVICE} publishes no host port for {}",
                ws.access.http_port
            ))
        })?;
    let base_url = format!("http://{}", ws.endpoint.addr(http_port));
    let mut target = Target::new(&base_url).map_err(|e| failure(e.to_string()))?;
    if let Some(dir) = &config.artifacts_dir {
        target = target.with_artifacts_dir(dir.join(&report.id));
    }
    let mut target = target
        .with_console_origin(ws.access.console_origin.clone())
        .with_settings(ws.settings())
        // The stack is ours and started empty: set it up, write, and expect it fresh.
        .with_writes(true)
        .with_fresh_stack(true)
        .with_admin(admin)
        .with_inspector(std::sync::Arc::new(StackInspector {
            engine: stack.engine().clone(),
            project: ws.project.clone(),
            labels: ws.labels.clone(),
            storage_type: cell.storage_type.clone(),
            vector_store: cell.vector_store.clone(),
            storage_probe: recipe_probe(config, Axis::StorageType, &cell.storage_type),
            vector_probe: recipe_probe(config, Axis::VectorStore, &cell.vector_store),
        }));
    if let Some(queues) = &config.catalog.expected_queues {
        target = target.with_expected_queues(queues.clone());
    }
    if let (Some(port), Some(pki)) = (ws.access.https_port, &ws.pki) {
        let host_port = stack
            .host_port(ENTRY_SERVICE, port)
            .await
            .ok_or_else(|| failure(format!("{ENTRY_SERVICE} publishes no host port for {port}")))?;
        target = target.with_tls(TlsEndpoint {
            addr: ws.endpoint.addr(host_port),
            server_name: "localhost".into(),
            roots_pem: pki.ca_pem.clone().into_bytes(),
            expected_leaf_der: Some(pki.served_der().to_vec()),
        });
        if let Some(leaf) = &pki.certbot {
            target = target.with_certbot_leaf(leaf.cert_der.clone());
        }
    }
    if let Some(b) = &ws.access.broker {
        let host_port = stack.host_port(&b.service, b.port).await.ok_or_else(|| {
            failure(format!(
                "{} publishes no host port for {}",
                b.service, b.port
            ))
        })?;
        let url = b
            .url_via(&ws.endpoint.host, host_port)
            .map_err(|e| failure(e.to_string()))?;
        target = target.with_broker(url);
    }

    let ready_deadline = StageTimeouts::deadline(cell.stages.ready, deadline);
    let ready = stack.wait_ready(&base_url, ready_deadline).await;
    report.timings.ready_ms = ms(t.elapsed());
    ready?;
    if let Some(broker) = target.broker()
        && !stack.wait_for_workers(broker, ready_deadline).await
    {
        progress.note(
            &cell.id,
            "no Celery worker answered before the deadline; the celery suite will say more",
        );
    }
    report.timings.ready_ms = ms(t.elapsed());

    progress.phase(&cell.id, Phase::Checking);
    let t = Instant::now();
    let checks_deadline = StageTimeouts::deadline(cell.stages.checks, deadline);
    // Indexing may take what is left of the stage's time, keeping a margin for the rest.
    let left = checks_deadline.saturating_duration_since(Instant::now());
    let target = target.with_index_timeout(
        left.saturating_sub(Duration::from_secs(30))
            .max(Duration::from_secs(30)),
    );
    // The suites run while the engine is watched: a service that dies under them ends the
    // cell at once, naming the service, instead of every later check failing on its own; and
    // healthchecks that had not passed when the suites started are judged meanwhile.
    let suites_run =
        tokio::time::timeout_at(checks_deadline, suites::run_suites(&target, &config.suites));
    tokio::pin!(suites_run);
    let settled = stack.settled(checks_deadline);
    tokio::pin!(settled);
    let mut health_pending = true;
    let run = loop {
        tokio::select! {
            run = &mut suites_run => break run,
            res = &mut settled, if health_pending => {
                health_pending = false;
                match res {
                    Ok(()) => report.timings.health_ms = Some(ms(ready_started.elapsed())),
                    Err(f) => {
                        report.timings.checks_ms = ms(t.elapsed());
                        return Err(StackFailure {
                            stage: crate::stack::Stage::Checks,
                            message: format!("{} while the checks ran", f.message),
                            services: f.services,
                        });
                    }
                }
            }
            (service, reason) = stack.first_failure(), if !health_pending => {
                report.timings.checks_ms = ms(t.elapsed());
                return Err(StackFailure {
                    stage: crate::stack::Stage::Checks,
                    message: format!("service {service} {reason} while the checks ran"),
                    services: vec![service],
                });
            }
        }
    };
    report.timings.checks_ms = ms(t.elapsed());
    // A service whose healthcheck has not passed yet still decides the cell.
    if health_pending {
        settled.await?;
        report.timings.health_ms = Some(ms(ready_started.elapsed()));
    }
    let run = run.map_err(|_| StackFailure {
        stage: crate::stack::Stage::Checks,
        message: "the checks did not finish within their time-out".into(),
        services: Vec::new(),
    })?;
    for o in run
        .outcomes
        .iter()
        .filter(|o| o.status == suites::Status::Failed)
    {
        progress.note(&cell.id, &o.to_string());
    }
    report.teardown_errors.extend(
        run.leftovers
            .iter()
            .map(|l| format!("left by the checks: {l}")),
    );
    if let Some(hook) = &config.while_up {
        (hook.0)(LiveCell {
            cell: cell.id.clone(),
            base_url: base_url.clone(),
            tls: target.tls().cloned(),
            outcomes: run.outcomes.clone(),
        })
        .await;
    }
    Ok(run.outcomes)
}

/// What decides how many stacks run at once by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resources {
    pub cpus: usize,
    /// `MemAvailable` in MiB, when known.
    pub available_mib: Option<u64>,
}

/// What one stack of Dify's needs in memory, for the default `--jobs` (Dify's own guidance is
/// 4 GiB for the whole machine; a stand-in stack peaks near 2 GiB).
const MIB_PER_STACK: u64 = 3 * 1024;

impl Resources {
    /// This machine's.
    pub fn here() -> Self {
        Self {
            cpus: crate::host::cpus(),
            available_mib: crate::host::available_mib(),
        }
    }
}

impl std::fmt::Display for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} CPU(s)", self.cpus)?;
        if let Some(m) = self.available_mib {
            write!(f, ", {:.1} GiB available", m as f64 / 1024.0)?;
        }
        Ok(())
    }
}

/// Cells at once when `--jobs` is not given: a stack keeps about one core busy while it starts,
/// so half the CPUs (the engine and the harness need the rest), and no more stacks than memory
/// holds; at least 1, at most 16 (the flag's own limit).
pub fn default_jobs(r: &Resources) -> usize {
    let by_cpu = r.cpus / 2;
    let by_memory = r.available_mib.map_or(usize::MAX, |m| {
        usize::try_from(m / MIB_PER_STACK).unwrap_or(usize::MAX)
    });
    by_cpu.min(by_memory).clamp(1, 16)
}

/// The console administrator a fresh stack is set up with: a new password per cell (it is
/// redacted like any secret).
fn generated_admin() -> Admin {
    let token = uuid::Uuid::new_v4().simple().to_string();
    Admin {
        email: "admin@dify-conformance.test".into(),
        name: "dify-conformance".into(),
        // Dify's password rule: a letter, a digit, at least 8 characters.
        password: suites::Secret::new(format!("Dc{}9", &token[..16])),
    }
}

fn recipe_probe(config: &RunConfig, axis: Axis, value: &str) -> Option<RecipeProbe> {
    config
        .catalog
        .recipes
        .get(axis, value)
        .and_then(|r| r.probe.clone())
}

fn failure(message: String) -> StackFailure {
    StackFailure {
        stage: crate::stack::Stage::Ready,
        message,
        services: Vec::new(),
    }
}

pub(crate) fn redact_report(report: &mut CellReport, r: &Redactor) {
    report.reason = report.reason.as_deref().map(|t| r.redact(t));
    r.redact_map(&mut report.logs);
    for v in report.env.values_mut() {
        *v = r.redact(v);
    }
    for e in &mut report.teardown_errors {
        *e = r.redact(e);
    }
    for o in &mut report.checks {
        o.got = r.redact(&o.got);
        o.expected = r.redact(&o.expected);
        o.url = o.url.as_deref().map(|u| r.redact(u));
        for line in &mut o.evidence {
            *line = r.redact(line);
        }
        // Facts quote what the stack said (a worker's queue list), secrets included.
        for v in o.facts.values_mut() {
            *v = r.redact(v);
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    let t: time::OffsetDateTime = t.into();
    t.replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cpus: usize, gib: Option<u64>) -> Resources {
        Resources {
            cpus,
            available_mib: gib.map(|g| g * 1024),
        }
    }

    #[test]
    fn default_jobs_follow_cpus_and_memory() {
        // This machine kind: 2 cores, 24 GiB.
        assert_eq!(default_jobs(&r(2, Some(24))), 1);
        assert_eq!(default_jobs(&r(8, Some(64))), 4);
        // Memory binds before CPUs.
        assert_eq!(default_jobs(&r(16, Some(7))), 2);
        // Never 0, never above the flag's limit; unknown memory leaves it to CPUs.
        assert_eq!(default_jobs(&r(1, Some(1))), 1);
        assert_eq!(default_jobs(&r(64, None)), 16);
    }
}
