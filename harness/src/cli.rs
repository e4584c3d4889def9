//! The command line: a thin layer over the library. Errors are rendered here, in one line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use suites::Suite;

use crate::catalog::Catalog;
use crate::deployment::{Deployment, bundled};
use crate::engine::Engine;
use crate::error::{Error, Result, exit};
use crate::images::ImageMap;
use crate::matrix::{Cell, Matrix, select};
use crate::plan::{Plan, parse_shard};
use crate::policy::Policy;
use crate::report::Report;
use crate::runner::{self, RunConfig};

#[derive(Debug, Parser)]
#[command(
    name = "dify-conformance",
    version,
    about = "Conformance runs of Dify's Docker Compose deployment, per VECTOR_STORE x STORAGE_TYPE cell"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the cells a matrix expands to on a deployment.
    Plan {
        #[command(flatten)]
        input: Input,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Only the I-th of N stable parts of the matrix, e.g. 2/4.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Show what one cell sets and runs: the .env diff, the override, the services.
        #[arg(long, value_name = "CELL")]
        explain: Option<String>,
        /// Image map (as `run --images`); its entries apply where the local image exists.
        #[arg(long, value_name = "FILE")]
        images: Option<PathBuf>,
        /// Plan for `run --pull`: images the engine lacks will be pulled, not missed.
        #[arg(long)]
        pull: bool,
    },
    /// Bring up each cell's stack, run the suites, write the report, tear down.
    Run {
        #[command(flatten)]
        input: Input,
        /// Run only these cells (repeatable); ids as `plan` prints them.
        #[arg(long = "cell", value_name = "ID")]
        cells: Vec<String>,
        /// Run only these suites (repeatable).
        #[arg(long = "suite", value_name = "SUITE")]
        suites: Vec<Suite>,
        /// Directory for report.json and report.md.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Image map (upstream image = local image); entries whose local image is absent are ignored.
        #[arg(long, value_name = "FILE")]
        images: Option<PathBuf>,
        /// Cells to run at once; each is a whole Dify stack. Default: half the CPUs, at most
        /// one per 3 GiB of available memory, at least 1.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=16))]
        jobs: Option<u16>,
        /// Only the I-th of N stable parts of the matrix (as `plan --shard`).
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Let compose pull images the engine lacks (without it, such cells are "not run").
        #[arg(long)]
        pull: bool,
        /// The release policy that decides the exit code (default: the one the matrix names,
        /// else the built-in default).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Leave the stack and workspace of a cell that did not pass running, and print how to
        /// enter and remove it (`reap --run ID`).
        #[arg(long)]
        keep_on_failure: bool,
    },
    /// Render report.json files (shards are merged) as Markdown, HTML, JUnit XML or JSON.
    Report {
        /// report.json files; several are merged (shards of one matrix on one deployment).
        #[arg(long = "in", value_name = "FILE", required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
        #[arg(long, value_enum)]
        format: crate::report::Format,
        /// Write here (atomically) instead of to stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Show which failures this policy accepts (Markdown and HTML mark them in the grid).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Decide a release from a report: exit 0 when the policy passes, 1 when it fails.
    Gate {
        /// A report.json (merge shards with `report --format json` first).
        #[arg(long, value_name = "FILE")]
        report: PathBuf,
        /// The policy (default: the built-in default: the matrix's required cells, every
        /// severity but info fails, not-run cells fail unless excluded).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Earlier reports (oldest first) to list new, fixed and flaky failures against.
        #[arg(long, value_name = "FILE")]
        baseline: Vec<PathBuf>,
    },
    /// Run the suites against a deployment that is already running (read-only by default).
    Check {
        /// Where the deployment's nginx answers, e.g. http://127.0.0.1 or https://dify.example.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Run only these suites (repeatable).
        #[arg(long = "suite", value_name = "SUITE")]
        suites: Vec<Suite>,
        /// The deployment's .env: the settings the checks judge against (CORS lists, console
        /// URLs, VECTOR_STORE, cookie domain, broker).
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
        /// The Celery broker as reachable from here, e.g. redis://:PASSWORD@127.0.0.1:6379/1.
        #[arg(long, value_name = "URL")]
        broker_url: Option<String>,
        /// The origin the console web runs at (default: CONSOLE_WEB_URL's, else a test origin).
        #[arg(long, value_name = "ORIGIN")]
        console_origin: Option<String>,
        /// Directory for report.json and report.md.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Let checks that write (setup, uploads, datasets, keys) run; they clean up after.
        #[arg(long)]
        allow_writes: bool,
        /// The console administrator to log in as; the password is read from DIFY_ADMIN_PASSWORD.
        #[arg(long, value_name = "EMAIL")]
        admin_email: Option<String>,
        /// PEM with the CA certificate(s) to trust for an https:// base URL (default: the system's).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// TLS server name (SNI, certificate name) when it differs from the URL's host.
        #[arg(long, value_name = "NAME")]
        server_name: Option<String>,
        /// Seconds a document may take to be indexed.
        #[arg(long, value_name = "SECS", default_value_t = 120)]
        index_timeout: u64,
        /// The policy that decides the exit code (default: every failure but `info` fails;
        /// `matrices/release-policy.toml` accepts Dify's known defaults with a reason).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Remove containers, networks, volumes and workspaces left by killed runs (and stacks
    /// kept by --keep-on-failure).
    Reap {
        /// Only this run (its id as `run` printed it), whether its owner lives or not.
        #[arg(long = "run", value_name = "ID")]
        run: Option<String>,
    },
    /// Check this machine for a run: engine, compose, disk and memory, images, leftovers.
    /// Exit 0 all good, 1 something to fix (each with its fix), 3 no engine.
    Doctor {
        #[command(flatten)]
        input: Input,
        /// Image map (as `run --images`).
        #[arg(long, value_name = "FILE")]
        images: Option<PathBuf>,
        /// Cells to run at once (as `run --jobs`), for the memory and disk estimate.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
        jobs: u16,
    },
}

#[derive(Debug, clap::Args)]
pub struct Input {
    /// A Dify docker/ directory (default: the bundled stand-in deployment).
    #[arg(long, value_name = "DIR")]
    pub deployment: Option<PathBuf>,
    /// A matrix file (default: matrices/smoke.toml).
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<PathBuf>,
    /// Try values the deployment's value sets do not know (as a matrix's `allow_unknown = true`).
    #[arg(long)]
    pub allow_unknown_values: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// `{"include": [...]}` for a GitHub Actions `strategy.matrix`.
    GithubMatrix,
}

impl Input {
    /// The deployment's catalog, the matrix, and its cells on that deployment.
    async fn load(&self) -> Result<(Catalog, Matrix, Vec<Cell>)> {
        let deployment =
            Deployment::open(&self.deployment.clone().unwrap_or_else(bundled::deployment))?;
        let mut matrix = Matrix::load(&self.matrix.clone().unwrap_or_else(bundled::smoke_matrix))?;
        matrix.allow_unknown |= self.allow_unknown_values;
        let catalog = Catalog::load(deployment).await?;
        let cells = catalog.expand(&matrix)?;
        // Known before anything runs, so no error or progress line can show them.
        for cell in &cells {
            crate::redact::remember(&catalog.redactor(cell));
        }
        Ok((catalog, matrix, cells))
    }
}

/// Runs a parsed command; returns the process exit code.
pub async fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Plan {
            input,
            format,
            shard,
            explain,
            images,
            pull,
        } => {
            let shard = shard.as_deref().map(parse_shard).transpose()?;
            let (catalog, matrix, cells) = input.load().await?;
            let map = ImageMap::load(&images.unwrap_or_else(bundled::image_map))?;
            let listed: Vec<Cell> = match &explain {
                Some(id) => select(&cells, std::slice::from_ref(id))?,
                None => cells
                    .iter()
                    .filter(|c| shard.is_none_or(|s| s.contains(&c.id)))
                    .cloned()
                    .collect(),
            };
            catalog.check_entrypoints(&listed)?;
            let here = ImagesHere::look(&catalog, &listed, &map, pull).await;
            if explain.is_some() {
                print!("{}", explain_cell(&catalog, &listed[0], &here).await?);
                return Ok(exit::OK);
            }
            let plan = Plan::new(&catalog, &matrix, &cells, shard)
                .with_images(here.checked.clone(), &here.missing);
            print!(
                "{}",
                match format {
                    Format::Table => plan.to_table(),
                    Format::Json => plan.to_json(),
                    Format::GithubMatrix => plan.to_github_matrix(),
                }
            );
            Ok(exit::OK)
        }
        Command::Run {
            input,
            cells,
            suites,
            out,
            images,
            jobs,
            shard,
            pull,
            policy,
            keep_on_failure,
        } => {
            // Before anything slow: from here on SIGINT and SIGTERM tear down instead of killing.
            let mut signals = Signals::listen()?;
            let shard = shard.as_deref().map(parse_shard).transpose()?;
            crate::endpoint::Endpoint::from_env()?;
            // `--jobs`, or what this machine holds (said in the run's first line).
            let here = crate::runner::Resources::here();
            let (jobs, jobs_why) = match jobs {
                Some(n) => (usize::from(n), String::new()),
                None => (crate::runner::default_jobs(&here), format!(" ({here})")),
            };
            // Before anything is copied or started: an hour of stacks must not end in
            // "cannot write", and a full disk is an error now.
            check_writable(&out)?;
            check_room(
                &out,
                &input.deployment.clone().unwrap_or_else(bundled::deployment),
                jobs as u64,
            )?;
            let (catalog, matrix, all) = input.load().await?;
            // Read the policy before anything starts: a bad one is an input error, not a
            // surprise after an hour of stacks.
            let policy = Policy::for_run(policy.as_deref(), matrix.policy())?;
            let cells: Vec<Cell> = select(&all, &cells)?
                .into_iter()
                .filter(|c| shard.is_none_or(|s| s.contains(&c.id)))
                .collect();
            catalog.check_entrypoints(&cells)?;
            let images = ImageMap::load(&images.unwrap_or_else(bundled::image_map))?;
            let engine = Engine::connect().await?;
            crate::compose::version().await?;
            let reaped = crate::reaper::reap(&engine, &crate::reaper::Scope::DeadNotKept).await?;
            if !reaped.runs.is_empty() || reaped.directories > 0 {
                eprintln!(
                    "reaped leftovers of killed run(s) {}: {}",
                    reaped.runs.join(", "),
                    reaped_line(&reaped)
                );
            }
            print_failures(&reaped.swept);
            let run_id = runner::new_run_id();
            // Saved logs are staged and moved next to the report when it is written, so an
            // interrupted run leaves no logs that no report names.
            let staging = out.join(format!(".dify-conformance-{run_id}"));
            let config = RunConfig {
                catalog,
                matrix,
                cells,
                images,
                suites: if suites.is_empty() {
                    Suite::ALL.to_vec()
                } else {
                    suites
                },
                jobs,
                pull,
                shard,
                artifacts_dir: Some(out.join("artifacts")),
                while_up: None,
                logs_dir: Some(staging.join("logs")),
                keep_on_failure,
            };
            eprintln!(
                "run {run_id}: {} cell(s), {} at a time{jobs_why}",
                config.cells.len(),
                config.jobs,
            );
            let progress = crate::progress::stderr();
            // The run's future is dropped before a branch's handler runs, which kills any
            // `compose up` child it had; teardown then waits for those to be gone.
            let outcome = tokio::select! {
                report = runner::run(&config, &engine, &run_id, progress.as_ref()) => report,
                signal = signals.next() => {
                    drop(progress);
                    eprintln!("interrupted by {}: tearing down run {run_id}", signal.name());
                    let swept = crate::stack::teardown_active(&engine, &run_id).await;
                    let _ = std::fs::remove_dir_all(&staging);
                    eprintln!(
                        "removed {} container(s), {} network(s), {} volume(s); no report written",
                        swept.containers, swept.networks, swept.volumes
                    );
                    print_failures(&swept);
                    return Ok(signal.exit_code());
                }
            };
            drop(progress);
            let report = match outcome {
                Ok(report) => report,
                Err(e) => {
                    // The engine went away: try to clean up (it may be back), then say so.
                    let swept = crate::stack::teardown_active(&engine, &run_id).await;
                    let _ = std::fs::remove_dir_all(&staging);
                    print_failures(&swept);
                    return Err(e);
                }
            };
            // A new report: logs of an earlier one in `out` would be named by nothing.
            let logs = out.join("logs");
            let _ = std::fs::remove_dir_all(&logs);
            if staging.join("logs").is_dir() {
                std::fs::rename(staging.join("logs"), &logs)
                    .map_err(|e| Error::io("move the logs to", &logs, e))?;
            }
            let _ = std::fs::remove_dir_all(&staging);
            let headline = format!(
                "{} cell(s): {}",
                report.summary.cells,
                report.summary.cells_line()
            );
            finish(&report, &out, &policy, &headline)
        }
        Command::Report {
            inputs,
            format,
            out,
            policy,
        } => {
            let policy = policy.as_deref().map(Policy::load).transpose()?;
            let parts = inputs
                .iter()
                .map(|p| Report::load(p).map(|r| (p.clone(), r)))
                .collect::<Result<Vec<_>>>()?;
            let report = crate::report::merge::merge(parts)?;
            let view = policy.map(|p| {
                policy_view(
                    &crate::gate::evaluate(&report, &p, crate::gate::today()),
                    &p,
                )
            });
            let text = report.render_judged(format, view.as_ref());
            match out {
                Some(path) => crate::report::write_atomic(&path, text.as_bytes())?,
                None => print!("{text}"),
            }
            Ok(exit::OK)
        }
        Command::Gate {
            report,
            policy,
            baseline,
        } => {
            let policy = match policy {
                Some(p) => Policy::load(&p)?,
                None => Policy::default(),
            };
            let report = Report::load(&report)?;
            let baselines = baseline
                .iter()
                .map(|p| Report::load(p))
                .collect::<Result<Vec<_>>>()?;
            let mut verdict = crate::gate::evaluate(&report, &policy, crate::gate::today());
            if !baselines.is_empty() {
                verdict.baseline = Some(crate::gate::compare(&report, &baselines));
            }
            print!("{}", verdict.render(&policy));
            Ok(if verdict.passed() {
                exit::OK
            } else {
                exit::CHECKS_FAILED
            })
        }
        Command::Check {
            base_url,
            suites,
            env_file,
            broker_url,
            console_origin,
            out,
            allow_writes,
            admin_email,
            ca_file,
            server_name,
            index_timeout,
            policy,
        } => {
            // Read the policy before anything is contacted: a bad one is an input error.
            let policy = Policy::for_run(policy.as_deref(), None)?;
            if out.exists() && !out.is_dir() {
                return Err(Error::BadInput(format!(
                    "--out {} exists and is not a directory",
                    out.display()
                )));
            }
            let request = crate::check::CheckRequest {
                base_url,
                suites,
                env_file,
                broker_url,
                console_origin,
                allow_writes,
                admin_email,
                admin_password: std::env::var(crate::check::PASSWORD_ENV)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(suites::Secret::new),
                ca_file,
                server_name,
                index_timeout: std::time::Duration::from_secs(index_timeout.max(1)),
                artifacts_dir: Some(out.join("artifacts")),
            };
            let report = crate::check::run(&request).await?;
            for o in report.cells.iter().flat_map(|c| &c.checks) {
                eprintln!("{} {} ({}): {}", o.id, o.status, o.severity, o.got);
            }
            let headline = format!(
                "{} check(s) against {}: {}",
                report.cells.iter().map(|c| c.checks.len()).sum::<usize>(),
                report.deployment,
                report.summary.cells_line()
            );
            finish(&report, &out, &policy, &headline)
        }
        Command::Doctor {
            input,
            images,
            jobs,
        } => {
            let images = ImageMap::load(&images.unwrap_or_else(bundled::image_map))?;
            let engine = crate::doctor::connect_soon().await;
            let compose = crate::compose::version().await;
            // The deployment is read through compose; without it, say so and check the rest.
            let catalog = match &compose {
                Ok(_) => {
                    let (catalog, _, cells) = input.load().await?;
                    Some((catalog, cells))
                }
                Err(_) => None,
            };
            let request = crate::doctor::DoctorRequest {
                catalog,
                images,
                jobs,
            };
            let doctor = crate::doctor::examine(engine, &compose, &request).await;
            print!("{}", doctor.render());
            Ok(doctor.exit_code())
        }
        Command::Reap { run } => {
            let engine = Engine::connect().await?;
            let scope = match run {
                Some(id) => crate::reaper::Scope::Run(id),
                None => crate::reaper::Scope::Dead,
            };
            let reaped = crate::reaper::reap(&engine, &scope).await?;
            println!(
                "reaped {} run(s): {}",
                reaped.runs.len(),
                reaped_line(&reaped)
            );
            print_failures(&reaped.swept);
            Ok(if reaped.swept.failures.is_empty() {
                exit::OK
            } else {
                exit::INFRASTRUCTURE
            })
        }
    }
}

fn reaped_line(r: &crate::reaper::Reaped) -> String {
    format!(
        "{} container(s), {} network(s), {} volume(s), {} workspace(s)",
        r.swept.containers, r.swept.networks, r.swept.volumes, r.directories
    )
}

/// What a sweep could not remove, each with the engine's reason.
fn print_failures(swept: &crate::engine::Swept) {
    for f in &swept.failures {
        eprintln!("could not remove {f}");
    }
}

/// `--out` must be a directory we can write, checked before any stack starts.
fn check_writable(out: &std::path::Path) -> Result<()> {
    let bad = |why: String| {
        Error::BadInput(format!(
            "--out {}: {why}; choose a directory you can write",
            out.display()
        ))
    };
    if out.exists() && !out.is_dir() {
        return Err(bad("exists and is not a directory".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| bad(format!("cannot create it ({e})")))?;
    let probe = out.join(format!(".dify-conformance-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| bad(format!("cannot write in it ({e})")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Room the report files and saved logs need under `--out` (logs are capped per service).
const OUT_ROOM_MIB: u64 = 32;
/// Room a cell's volumes need beyond the deployment's copy before its services write data.
const CELL_ROOM_MIB: u64 = 64;

/// Before any stack starts: a full disk must be an error now, not a cell failing to copy its
/// deployment or a report half written an hour later. `doctor` gives the generous estimate;
/// this refuses only what cannot work.
fn check_room(out: &std::path::Path, deployment: &std::path::Path, jobs: u64) -> Result<()> {
    let need = |path: &std::path::Path, need_mib: u64, what: String, hint: &'static str| {
        match crate::host::free_mib(path) {
            Some(free_mib) if free_mib < need_mib => Err(Error::NoSpace {
                path: path.to_path_buf(),
                free_mib,
                need_mib,
                what,
                hint,
            }),
            _ => Ok(()),
        }
    };
    need(
        out,
        OUT_ROOM_MIB,
        "the report files and saved logs".into(),
        ", or choose another --out",
    )?;
    let root = crate::workspace::root();
    let mut probe = root.as_path();
    while !probe.exists() {
        probe = probe.parent().unwrap_or(std::path::Path::new("/"));
    }
    let copy = crate::host::dir_size_mib(deployment, true);
    need(
        probe,
        (copy + CELL_ROOM_MIB) * jobs,
        format!(
            "the workspaces ({jobs} at once, each a {copy} MiB copy of the deployment plus {CELL_ROOM_MIB} MiB of volumes)"
        ),
        ", or point TMPDIR elsewhere",
    )
}

/// SIGINT and SIGTERM, caught from the moment they are listened for.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[derive(Clone, Copy, Debug)]
enum Caught {
    Interrupt,
    Terminate,
}

impl Caught {
    fn name(self) -> &'static str {
        match self {
            Caught::Interrupt => "SIGINT",
            Caught::Terminate => "SIGTERM",
        }
    }

    fn exit_code(self) -> i32 {
        match self {
            Caught::Interrupt => exit::INTERRUPTED,
            Caught::Terminate => exit::TERMINATED,
        }
    }
}

impl Signals {
    fn listen() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let fail = |e: std::io::Error| Error::io("listen for", "SIGINT and SIGTERM", e);
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).map_err(fail)?,
            terminate: signal(SignalKind::terminate()).map_err(fail)?,
        })
    }

    async fn next(&mut self) -> Caught {
        tokio::select! {
            _ = self.interrupt.recv() => Caught::Interrupt,
            _ = self.terminate.recv() => Caught::Terminate,
        }
    }
}

/// The end of `run` and `check`: the report written, what was written said, and the policy's
/// verdict as the exit code.
fn finish(report: &Report, out: &std::path::Path, policy: &Policy, headline: &str) -> Result<i32> {
    let verdict = crate::gate::evaluate(report, policy, crate::gate::today());
    let written = report.write(out, Some(&policy_view(&verdict, policy)))?;
    eprintln!("{headline}");
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    eprint!("{}", verdict.render(policy));
    Ok(if verdict.passed() {
        exit::OK
    } else {
        exit::CHECKS_FAILED
    })
}

/// The policy's verdict as the human report formats show it, the policy named by its file.
fn policy_view(verdict: &crate::gate::Verdict, policy: &Policy) -> crate::report::PolicyView {
    let name = std::path::Path::new(&policy.source)
        .file_name()
        .map_or_else(
            || policy.source.clone(),
            |n| n.to_string_lossy().into_owned(),
        );
    crate::report::PolicyView::of(verdict, &name)
}

/// What `plan` knows of this machine's images, judged as `run` judges them.
struct ImagesHere {
    /// The image map entries that apply here (all of them when no engine could be asked).
    map: ImageMap,
    checked: crate::plan::ImagesChecked,
    /// Cell id -> the `service (image)` entries the engine lacks.
    missing: std::collections::BTreeMap<String, Vec<String>>,
}

impl ImagesHere {
    async fn look(catalog: &Catalog, cells: &[Cell], map: &ImageMap, pull: bool) -> Self {
        use crate::plan::ImagesChecked;
        // `plan` works without an engine.
        let engine = match crate::doctor::connect_soon().await {
            Ok(engine) => engine,
            Err(reason) => return Self::unchecked(map, reason),
        };
        let present = map.present_on(&engine).await;
        if pull {
            return Self {
                map: present,
                checked: ImagesChecked::Pull("compose pulls what the engine lacks (--pull)".into()),
                missing: Default::default(),
            };
        }
        let mut known = std::collections::BTreeMap::new();
        let mut missing = std::collections::BTreeMap::new();
        for cell in cells.iter().filter(|c| catalog.runnability(c).runs()) {
            let wanted = catalog.cell_images(cell, &present);
            let m = crate::images::missing_on(&engine, &wanted, &mut known).await;
            missing.insert(cell.id.clone(), m);
        }
        Self {
            map: present,
            checked: ImagesChecked::Engine(
                "checked on this machine's Docker engine; the image map applies where its local image exists".into(),
            ),
            missing,
        }
    }

    fn unchecked(map: &ImageMap, reason: String) -> Self {
        Self {
            map: map.clone(),
            checked: crate::plan::ImagesChecked::Unchecked(format!(
                "no Docker engine: {reason}; every image map entry is shown applied"
            )),
            missing: Default::default(),
        }
    }
}

/// `plan --explain`: the cell's workspace prepared (no engine needed) and shown, then removed.
async fn explain_cell(catalog: &Catalog, cell: &Cell, here: &ImagesHere) -> Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cell {} (VECTOR_STORE={}, STORAGE_TYPE={})",
        cell.id, cell.vector_store, cell.storage_type
    );
    let missing = here.missing.get(&cell.id).cloned().unwrap_or_default();
    let runnability = match catalog.runnability(cell) {
        r if r.runs() && !missing.is_empty() => {
            crate::catalog::Runnability::NotRunnableHere(crate::images::not_runnable_here(&missing))
        }
        r => r,
    };
    let status = match runnability.detail() {
        Some(detail) => format!("{}: {detail}", runnability.label()),
        None => runnability.label().to_string(),
    };
    let _ = writeln!(out, "status: {status}");
    let _ = writeln!(out, "values from: {}", catalog.sets.source);
    let _ = writeln!(out, "{}", here.checked.line());
    let ws = crate::workspace::Workspace::prepare(
        &catalog.deployment,
        cell,
        "explain",
        &here.map,
        &catalog.recipes,
    )
    .await;
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            let _ = writeln!(out, "cannot prepare the cell: {e}");
            return Ok(out);
        }
    };
    let example = catalog.deployment.env_example.values();
    let _ = writeln!(
        out,
        "\n.env changes against {}:",
        catalog.deployment.env_example.path().display()
    );
    for (k, v) in ws.env.values() {
        match example.get(&k) {
            Some(old) if *old == v => {}
            Some(old) => {
                let _ = writeln!(out, "  {k}: {old:?} -> {v:?}");
            }
            None => {
                let _ = writeln!(out, "  {k}: (new) {v:?}");
            }
        }
    }
    let _ = writeln!(out, "\nservices that will run, with the image each runs:");
    for (name, s) in &ws.model.services {
        let image = s.image.as_deref().unwrap_or("(built)");
        let upstream = ws
            .substitutions
            .iter()
            .find(|sub| sub.service == *name)
            .map(|sub| format!(" (for {})", sub.upstream))
            .unwrap_or_default();
        let absent = if missing.iter().any(|m| m.starts_with(&format!("{name} ("))) {
            "  [missing here]"
        } else {
            ""
        };
        let _ = writeln!(out, "  {name:<20} {image}{upstream}{absent}");
    }
    let override_path = ws.dir.join(crate::workspace::OVERRIDE_FILE);
    let yaml = std::fs::read_to_string(&override_path).unwrap_or_default();
    let _ = writeln!(
        out,
        "\noverride ({}):\n{yaml}",
        crate::workspace::OVERRIDE_FILE
    );
    let _ = ws.remove();
    // The .env diff and the override show values as the cell sets them: secrets masked.
    let mut redactor = catalog.redactor(cell);
    for s in ws.model.services.values() {
        let env: std::collections::BTreeMap<String, String> = s
            .environment
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        redactor = redactor.merged(&crate::redact::Redactor::from_env(&env));
    }
    Ok(redactor.redact(&out))
}
