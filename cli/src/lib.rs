//! `emm-check`: the model checker of the MMU/EMM notifier registration protocols, its
//! pictures, its Explorer view and its trace files, with the implementation (`emm`) linked so
//! that the model's traces replay on real code.
//!
//! The binary is a thin wrapper around [`run`], so that tests drive the same code with their
//! own output buffers. [`parse`] checks a command line without running anything: every bad
//! input is refused there or, for what only a file can show, when `replay FILE` reads the file,
//! always as one line on stderr and exit status 2.
//!
//! The manual is `emm-check --help`, `emm-check SUBCOMMAND --help` and `emm-check help TOPIC`
//! ([`help`]); its topics, the files of `cli/help/`, are also this crate's documentation below.
//!
#![doc = include_str!("../help/traces.md")]
#![doc = include_str!("../help/pictures.md")]
#![doc = include_str!("../help/replay.md")]
#![doc = include_str!("../help/explorer.md")]
#![doc = include_str!("../help/json.md")]
#![doc = include_str!("../help/limits.md")]
#![doc = include_str!("../help/input.md")]

// Output errors (a closed pipe) are ignored: the exit status still tells the result.
macro_rules! say {
    ($w:expr) => {{ let _ = writeln!($w); }};
    ($w:expr, $($arg:tt)*) => {{ let _ = writeln!($w, $($arg)*); }};
}

mod args;
mod commands;
pub mod explorer;
pub mod help;
pub mod history;
pub mod on_impl;
mod output;
pub mod picture;
pub mod progress;
pub mod tracefile;

pub use args::{parse, Parsed, Plan};
pub use commands::{execute, run};
pub use on_impl::{replay_on, PROTOCOLS};
pub use output::{config_json, replay_line, report_json};
