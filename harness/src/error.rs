//! Every way the harness itself can fail, each carrying what a user needs to fix it.
//!
//! A failing *check* is not an error: it is an outcome in the report. These are the errors that
//! stop a command: bad input (exit 2) and broken infrastructure (exit 3). They are rendered in
//! one line at the CLI edge.

use std::path::PathBuf;

/// Exit codes of `dify-conformance`.
pub mod exit {
    /// The release policy passed (every required cell and check passed or is accepted).
    pub const OK: i32 = 0;
    /// The run (or `gate`) finished and the release policy failed.
    pub const CHECKS_FAILED: i32 = 1;
    /// Bad input: flags, matrix, policy, reports, deployment directory, `.env`.
    pub const BAD_INPUT: i32 = 2;
    /// Infrastructure: no Docker engine, no compose plugin, no room on disk.
    pub const INFRASTRUCTURE: i32 = 3;
    /// Stopped by Ctrl-C (128 + SIGINT), after teardown.
    pub const INTERRUPTED: i32 = 130;
    /// Stopped by SIGTERM (128 + SIGTERM: CI cancellation, a test runner's time-out), after
    /// teardown.
    pub const TERMINATED: i32 = 143;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("deployment directory {path} does not exist")]
    DeploymentMissing { path: PathBuf },
    #[error("deployment directory {dir} has no compose file (looked for {looked_for})")]
    NoComposeFile { dir: PathBuf, looked_for: String },
    #[error("deployment directory {dir} has no .env.example (nor .env.default)")]
    NoEnvExample { dir: PathBuf },
    #[error("{file}:{line}: {message}")]
    EnvSyntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data file (matrix, recipe, release facts, image map) that says something wrong.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Data {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("unknown cell `{id}`; the matrix has: {}", known.join(", "))]
    UnknownCell { id: String, known: Vec<String> },
    #[error("{0}")]
    BadInput(String),
    #[error("`docker compose config` rejected {dir}: {stderr}")]
    ComposeConfig { dir: PathBuf, stderr: String },
    #[error("{target} does not answer ({reason}); is the deployment running and the URL right?")]
    Unreachable { target: String, reason: String },
    #[error("the Docker engine does not answer ({reason}); start it, or run ci/setup")]
    EngineUnavailable { reason: String },
    #[error(
        "the Docker engine stopped answering {during}; no report written. Once it is back, `dify-conformance reap` removes what the run left"
    )]
    EngineLost { during: String },
    #[error("`docker compose` (v2) is not available ({reason}); run ci/setup to install it")]
    ComposeUnavailable { reason: String },
    #[error(
        "{path}: {free_mib} MiB free, the run needs at least {need_mib} MiB there for {what}; free space there{hint}"
    )]
    NoSpace {
        path: PathBuf,
        free_mib: u64,
        need_mib: u64,
        what: String,
        hint: &'static str,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::DeploymentMissing { .. }
            | Error::NoComposeFile { .. }
            | Error::NoEnvExample { .. }
            | Error::EnvSyntax { .. }
            | Error::Read { .. }
            | Error::Data { .. }
            | Error::UnknownCell { .. }
            | Error::BadInput(_)
            | Error::ComposeConfig { .. } => exit::BAD_INPUT,
            Error::Unreachable { .. }
            | Error::EngineUnavailable { .. }
            | Error::EngineLost { .. }
            | Error::ComposeUnavailable { .. }
            | Error::NoSpace { .. }
            | Error::Io { .. } => exit::INFRASTRUCTURE,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads a TOML data file into `T`; errors name the file and, where TOML says, the line.
/// Returns the text too, for checks that point at lines of their own.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &'static str,
) -> Result<(T, String)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    let value = parse_toml(path, &text)?;
    Ok((value, text))
}

pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    text: &str,
) -> Result<T> {
    toml::from_str(text).map_err(|e| Error::Data {
        file: path.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })
}

/// The `*.toml` files directly in `dir`, sorted; none when `dir` does not exist.
pub(crate) fn toml_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
}

/// The 1-based line of a byte offset in `text`, for errors that point into a file.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
