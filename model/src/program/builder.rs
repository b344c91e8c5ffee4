//! Programs as lists of steps, each with where it comes from and, for the steps that branch,
//! where they go: built with labels, so that no position is ever typed as a number.

use emm_proofs::Op;

/// Where a step comes from: the kernel function (or mail hunk) it transcribes, and the commit
/// id or Message-ID of the version that has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// The file and function (`mm/mmu_notifier.c: mmu_notifier_unregister`).
    pub function: &'static str,
    /// The commit id or mail Message-ID.
    pub at: &'static str,
}

/// A position no program has.
pub(crate) const NOWHERE: u8 = u8::MAX;

/// One actor's program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    /// The steps, in order.
    pub ops: Vec<Op>,
    /// For a step that branches or loops, the position it goes to (when its test says so);
    /// [`NOWHERE`] for the others.
    pub jumps: Vec<u8>,
    /// Where each step comes from.
    pub sources: Vec<Source>,
}

impl Program {
    /// The number of steps.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the program has no steps (the actor does nothing).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Where the step at `pc` goes when it branches.
    pub fn jump(&self, pc: usize) -> u8 {
        self.jumps[pc]
    }
}

/// Builds a [`Program`] step by step; branch targets are labels, resolved by
/// [`finish`](Builder::finish).
#[derive(Debug, Default)]
pub(crate) struct Builder {
    program: Program,
    labels: Vec<(&'static str, usize)>,
    pending: Vec<(usize, &'static str)>,
}

impl Builder {
    /// A new, empty program.
    pub(crate) fn new() -> Builder {
        Builder::default()
    }

    /// Appends `op`, transcribed from `function` at `at`.
    pub(crate) fn op(&mut self, op: Op, function: &'static str, at: &'static str) -> &mut Self {
        self.program.ops.push(op);
        self.program.jumps.push(NOWHERE);
        self.program.sources.push(Source { function, at });
        self
    }

    /// Appends `op`, which branches to `label`.
    pub(crate) fn branch(
        &mut self,
        op: Op,
        label: &'static str,
        function: &'static str,
        at: &'static str,
    ) -> &mut Self {
        self.pending.push((self.program.ops.len(), label));
        self.op(op, function, at)
    }

    /// Marks the position of the next step as `label`.
    pub(crate) fn label(&mut self, label: &'static str) -> &mut Self {
        debug_assert!(
            self.labels.iter().all(|(l, _)| *l != label),
            "label {label} twice"
        );
        self.labels.push((label, self.program.ops.len()));
        self
    }

    /// Appends every step of `other`, whose labels are its own (renamed apart by `prefix`
    /// only in its jumps, which it has already resolved).
    pub(crate) fn append(&mut self, other: &Program) -> &mut Self {
        let base = self.program.ops.len() as u8;
        for pc in 0..other.len() {
            self.program.ops.push(other.ops[pc]);
            self.program.sources.push(other.sources[pc]);
            let j = other.jumps[pc];
            self.program
                .jumps
                .push(if j == NOWHERE { NOWHERE } else { base + j });
        }
        self
    }

    /// The program, with every branch pointing at its label.
    ///
    /// # Panics
    /// If a branch names a label that was never placed: a transcription error.
    pub(crate) fn finish(&mut self) -> Program {
        for &(pc, label) in &self.pending {
            let target = self
                .labels
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, p)| *p)
                .unwrap_or_else(|| panic!("no label {label}"));
            self.program.jumps[pc] = target as u8;
        }
        self.pending.clear();
        self.labels.clear();
        std::mem::take(&mut self.program)
    }
}
