//! `emm-check`: the model checker of the MMU/EMM notifier registration protocols.
//!
//! With no arguments it checks every variant on the built-in default configuration and prints
//! one row per variant. `emm-check --help` lists the subcommands; the code is [`emm_cli`].

use emm_cli::progress::Style;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let style = if std::io::stderr().is_terminal() {
        Style::Bar
    } else {
        Style::Lines
    };
    let code = emm_cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
        style,
    );
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
