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
pub const NOWHERE: u8 = u8::MAX;

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

    /// The positions a thread at `pc` may stand at after the step: the next one unless the
    /// step always branches (`Goto`, `LoopBack`, `GateWait`), and the branch target if it has
    /// one. A walk's repeats at its own position (one node a step) are not listed.
    pub fn successors(&self, pc: usize) -> impl Iterator<Item = usize> {
        let always = matches!(self.ops[pc], Op::Goto | Op::LoopBack | Op::GateWait);
        let jump = self.jumps[pc];
        let next = (!always).then_some(pc + 1);
        next.into_iter()
            .chain((jump != NOWHERE).then_some(jump as usize))
    }

    /// The program without the steps in `drop`: a branch that went to a dropped step goes to
    /// the next step kept. For experiments that take one mechanism out of a version.
    ///
    /// # Panics
    /// If the program has none of `drop`: the experiment would test nothing.
    pub fn without(&self, drop: &[Op]) -> Program {
        let positions: Vec<usize> = (0..self.len())
            .filter(|&pc| drop.contains(&self.ops[pc]))
            .collect();
        assert!(!positions.is_empty(), "the program has none of {drop:?}");
        self.without_steps(&positions)
    }

    /// The program without the steps at `positions`, branches remapped as by
    /// [`without`](Self::without).
    pub fn without_steps(&self, positions: &[usize]) -> Program {
        let kept: Vec<usize> = (0..self.len())
            .filter(|pc| !positions.contains(pc))
            .collect();
        // Old position -> new: a dropped step maps to the next kept one.
        let mut at = vec![kept.len() as u8; self.len() + 1];
        for pc in (0..self.len()).rev() {
            at[pc] = match kept.iter().position(|&k| k == pc) {
                Some(i) => i as u8,
                None => at[pc + 1],
            };
        }
        Program {
            ops: kept.iter().map(|&pc| self.ops[pc]).collect(),
            jumps: kept
                .iter()
                .map(|&pc| match self.jumps[pc] {
                    NOWHERE => NOWHERE,
                    j => at[j as usize],
                })
                .collect(),
            sources: kept.iter().map(|&pc| self.sources[pc]).collect(),
        }
    }

    /// The program with every `from` step replaced by `to` (same place, same branch).
    ///
    /// # Panics
    /// If the program has no `from` step.
    pub fn replaced(&self, from: Op, to: Op) -> Program {
        assert!(self.ops.contains(&from), "the program has no {from:?}");
        let mut p = self.clone();
        for op in p.ops.iter_mut().filter(|op| **op == from) {
            *op = to;
        }
        p
    }
}

/// Builds a [`Program`] step by step; branch targets are labels, resolved by
/// [`finish`](Builder::finish).
#[derive(Debug, Default)]
pub struct Builder {
    program: Program,
    labels: Vec<(&'static str, usize)>,
    pending: Vec<(usize, &'static str)>,
}

impl Builder {
    /// A new, empty program.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Appends `op`, transcribed from `function` at `at`.
    pub fn op(&mut self, op: Op, function: &'static str, at: &'static str) -> &mut Self {
        self.program.ops.push(op);
        self.program.jumps.push(NOWHERE);
        self.program.sources.push(Source { function, at });
        self
    }

    /// Appends `op`, which branches to `label`.
    pub fn branch(
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
    pub fn label(&mut self, label: &'static str) -> &mut Self {
        debug_assert!(
            self.labels.iter().all(|(l, _)| *l != label),
            "label {label} twice"
        );
        self.labels.push((label, self.program.ops.len()));
        self
    }

    /// Appends every step of `other`, whose branches it has already resolved (its labels are
    /// its own).
    pub fn append(&mut self, other: &Program) -> &mut Self {
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
    pub fn finish(&mut self) -> Program {
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
