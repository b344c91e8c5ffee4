//! The model's own suites, in one test binary: verdicts, shortest counterexamples, symmetry,
//! acyclicity, the mechanisms of the correct variants, the spec's property table, and the
//! inductive invariants.

mod acyclic;
mod common;
mod history;
mod inductive;
mod lkmm;
mod mechanisms;
mod memory;
mod shortest;
mod spec;
mod symmetry;
mod verdicts;
