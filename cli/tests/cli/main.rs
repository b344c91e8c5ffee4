//! The `emm-check` suites, in one test binary: the commands, the real binary's exit statuses
//! and streams, bad input, limits and the estimate, pictures and the Explorer's view, and
//! proptests of the argument and trace-file parsers.

mod bad_input;
mod binary;
mod commands;
mod common;
mod history;
mod limits;
mod litmus;
mod memory;
mod parsers;
mod pictures;
