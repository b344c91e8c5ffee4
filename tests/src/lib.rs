//! The tests that cross crates: the model's counterexamples replayed on the implementation's
//! real code (`tests/replay.rs`). Each crate's own suites live beside it (`model/tests`,
//! `cli/tests`, `impl/tests`); this library holds nothing.
