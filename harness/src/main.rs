//! `dify-conformance`: see `harness::cli`.

use std::process::ExitCode;

use clap::Parser;
use harness::cli::{Cli, dispatch};
use harness::error::exit;

fn main() -> ExitCode {
    // A panic is a bug of ours: one line, no backtrace, a distinct exit code.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("dify-conformance: internal error: {info}; please report it");
    }));
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dify-conformance: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INFRASTRUCTURE as u8);
        }
    };
    let code = match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            // Errors may quote input that carries a secret (a compose or TOML message).
            eprintln!(
                "dify-conformance: {}",
                harness::redact::redact_known(&e.to_string())
            );
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
