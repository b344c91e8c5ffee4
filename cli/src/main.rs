//! `emm-check`: the model checker of the MMU/EMM notifier registration protocols.
//!
//! With no arguments it checks every variant on the built-in default configuration and prints
//! one row per variant. `emm-check --help` lists the subcommands; the code is
//! [`emm_model::cli`], with the implementation linked ([`emm_cli`]) for `replay --on-impl`.

use emm_model::check::Progress;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let progress = if std::io::stderr().is_terminal() {
        Progress::Bar
    } else {
        Progress::Lines
    };
    let code = emm_cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
        progress,
    );
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
