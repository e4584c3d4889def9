//! The command line: a thin layer over the library. Errors are rendered here, in one line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use suites::Suite;

use crate::deployment::{Deployment, bundled};
use crate::engine::Engine;
use crate::error::{Error, Result, exit};
use crate::images::ImageMap;
use crate::matrix::Matrix;
use crate::plan::Plan;
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
        /// Cells to run at once; each is a whole Dify stack.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
        jobs: u16,
    },
    /// Remove containers, networks, volumes and workspaces left by killed runs.
    Reap,
}

#[derive(Debug, clap::Args)]
pub struct Input {
    /// A Dify docker/ directory (default: the bundled stand-in deployment).
    #[arg(long, value_name = "DIR")]
    pub deployment: Option<PathBuf>,
    /// A matrix file (default: matrices/smoke.toml).
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

impl Input {
    fn load(&self) -> Result<(Deployment, Matrix)> {
        let deployment =
            Deployment::open(&self.deployment.clone().unwrap_or_else(bundled::deployment))?;
        let matrix = Matrix::load(&self.matrix.clone().unwrap_or_else(bundled::smoke_matrix))?;
        Ok((deployment, matrix))
    }
}

/// Runs a parsed command; returns the process exit code.
pub async fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Plan { input, format } => {
            let (deployment, matrix) = input.load()?;
            let plan = Plan::new(&deployment, &matrix, matrix.cells());
            print!(
                "{}",
                match format {
                    Format::Table => plan.to_table(),
                    Format::Json => plan.to_json(),
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
        } => {
            let (deployment, matrix) = input.load()?;
            let cells = matrix.select(&cells)?;
            let images = ImageMap::load(&images.unwrap_or_else(bundled::image_map))?;
            if out.exists() && !out.is_dir() {
                return Err(Error::BadInput(format!(
                    "--out {} exists and is not a directory",
                    out.display()
                )));
            }
            let engine = Engine::connect().await?;
            crate::compose::version().await?;
            let reaped = crate::reaper::reap(&engine).await?;
            if !reaped.runs.is_empty() || reaped.directories > 0 {
                eprintln!(
                    "reaped leftovers of killed run(s) {}: {} container(s), {} network(s), {} volume(s), {} workspace(s)",
                    reaped.runs.join(", "),
                    reaped.swept.containers,
                    reaped.swept.networks,
                    reaped.swept.volumes,
                    reaped.directories
                );
            }
            let config = RunConfig {
                deployment,
                matrix,
                cells,
                images,
                suites: if suites.is_empty() {
                    Suite::ALL.to_vec()
                } else {
                    suites
                },
                jobs: usize::from(jobs),
            };
            let run_id = runner::new_run_id();
            eprintln!("run {run_id}: {} cell(s)", config.cells.len());
            let progress = |line: &str| eprintln!("{line}");
            let report = tokio::select! {
                report = runner::run(&config, &engine, &run_id, &progress) => report,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted: tearing down run {run_id}");
                    let swept = crate::stack::teardown_active(&engine, &run_id).await;
                    eprintln!(
                        "removed {} container(s), {} network(s), {} volume(s); no report written",
                        swept.containers, swept.networks, swept.volumes
                    );
                    return Ok(exit::INTERRUPTED);
                }
            };
            let written = report.write(&out)?;
            let s = &report.summary;
            eprintln!(
                "{} cell(s): {} passed, {} failed, {} error(s), {} not run",
                s.cells, s.passed, s.failed, s.errors, s.not_run
            );
            for path in written {
                eprintln!("wrote {}", path.display());
            }
            Ok(if report.passed() {
                exit::OK
            } else {
                exit::CHECKS_FAILED
            })
        }
        Command::Reap => {
            let engine = Engine::connect().await?;
            let reaped = crate::reaper::reap(&engine).await?;
            println!(
                "reaped {} run(s): {} container(s), {} network(s), {} volume(s), {} workspace(s)",
                reaped.runs.len(),
                reaped.swept.containers,
                reaped.swept.networks,
                reaped.swept.volumes,
                reaped.directories
            );
            Ok(exit::OK)
        }
    }
}
