//! The protocol's home: each actor's program, one per variant (a version of a family's code),
//! transcribed statement by statement, every step citing the kernel function and the commit
//! or mail it comes from.
//!
//! # States
//!
//! An address space has one page whose PTE maps a frame, and a chain of notifiers: `head` and
//! each node's `next`, and for the hlist versions each node's `pprev` (LINKED, UNHASHED =
//! `NULL`, or POISONED = `LIST_POISON2`). Its locks: `mmap_sem` (an rwsem), the page's
//! `anon_vma` lock (a spinlock in v2.6.27, a mutex in v3.0-v3.7, an rwsem from v3.8), the
//! VMA's lock (v6.4), the notifier list's spinlock `L`, and one read-side domain (RCU before
//! v3.7, SRCU from v3.7). Interval notifiers add `invalidate_seq`, the count of active
//! invalidations and the deferred list. Each notifier has a driver, a secondary MMU that keeps
//! KVM's contract: `in_progress` and `seq` under its lock, and a mirror of the page.
//!
//! # Operations
//!
//! ```text
//!  vmN (reclaim: try_to_unmap_one)       before v4.13: rmap lock; clear PTE;
//!                                          invalidate_page walk; rmap unlock; free
//!                                        v4.13 on: rmap lock; start walk; clear PTE;
//!                                          end walk; rmap unlock; free
//!  pfN (COW fault: wp_page_copy)         VMA read lock (v6.4), else mmap_sem read;
//!                                          start walk; replace PTE; end walk; free; unlock
//!  oom (__oom_reap_task_mm)              mmap_read_trylock; non-blocking start walk;
//!                                          on -EAGAIN skip (v4.19) or unwind (v5.12)
//!  regN (register), then drvN faults     mmap_sem write; mm_take_all_locks; L;
//!                                          hlist_add_head; unlock all
//!  unregN (unregister), then the owner   ->release and unlink in each version's order,
//!    frees the notifier                    then synchronize_(s)rcu
//!  teardown (exit_mmap)                  ->release for each notifier and unlink all, in
//!                                          each version's order; then free the frames
//!  aging (page_referenced_one)           rmap lock; clear_young walk; unlock
//! ```
//!
//! A walk is one step per pointer load and one per callback. A step that must block (a lock
//! held, a grace period, a stopped notifier, a drain) is not enabled.
//!
//! # The race, and the steps that close it
//!
//! ```text
//!  vm0 (invalidation)                     reg0 (register)
//!  start walk: load head -> n0
//!                                         publish n1 at the head    <- no exclusion (EMM)
//!  invalidate_start(n0); next -> NULL
//!                                         drv1: s = seq; read PTE -> f0; install f0
//!  zap PTE: f0 -> f1
//!  end walk: invalidate_end(n1)           <- n1 never got invalidate_start
//!  free f0                                   drv1 still maps f0: no_stale_secondary
//! ```
//!
//! `mm_take_all_locks()` closes it in mmu-notifier: the invalidation holds its rmap lock from
//! before its start walk to after its end walk, and register takes every rmap lock for write
//! before it publishes. Interval notifiers close it with the odd `invalidate_seq` that
//! `read_begin()` waits on. The same race comes back wherever an invalidation holds no lock
//! that register takes: a per-VMA-lock fault against `mm_take_all_locks()` without
//! `vma_start_write()` (race C); and the release path has its own: unlinking a notifier before
//! its `->release` lets a reclaim walk miss it while its driver still maps the page (race A).
//!
//! # Barriers
//!
//! A version's barriers are steps of its program, where its code has them (`Op::Barrier`:
//! KVM's `smp_rmb()` in the fault, the drain's three pairs). Under `--memory sc` they order
//! nothing that is not ordered already and [`Programs::new`] drops them; under `--memory lkmm`
//! each one follows the memory model's rule ([`crate::lkmm`]).
//!
//! # Merged statements
//!
//! Where one step does several kernel statements, the op says why no other thread can tell
//! them apart: what it touches is private (a node not yet published), or is only read under a
//! lock the thread holds, and nothing reads it without that lock.

mod builder;
mod emm;
mod interval;
mod mmu_notifier;
mod rcu_window;

pub use builder::{Builder, Program, Source, NOWHERE};
pub use emm_proofs::Op;
use emm_proofs::{Callback, Family};

use crate::config::{Config, Memory, Variant};

/// How a version's `anon_vma` lock behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// An exclusive lock: a spinlock (v2.6.27) or a mutex (v3.0-v3.7). Reclaim and aging
    /// exclude each other.
    Exclusive,
    /// An rwsem (v3.8 on): reclaim and aging share it, `mm_take_all_locks()` takes it for
    /// write.
    Rwsem,
}

/// How a version's rwsems admit a new reader while a writer waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderAdmission {
    /// Up to v5.10: a new reader queues behind a waiting writer.
    BehindWriters,
    /// From v5.11 (the rwsem rework): a new reader may take the lock past a waiting writer
    /// when no reader holds it (optimistic lock stealing); it queues if readers hold it.
    StealWhenFree,
}

/// What the checker needs to know of a version besides its programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traits {
    /// The family.
    pub family: Family,
    /// The `anon_vma` lock.
    pub rmap: LockKind,
    /// The rwsems' reader admission.
    pub readers: ReaderAdmission,
    /// The read-side domain's name (`rcu`, `srcu`), or `None` where walks take none.
    pub read_side: Option<&'static str>,
    /// Page faults under the per-VMA lock (v6.4): `--vma-faults` runs them.
    pub vma_locks: bool,
    /// Non-blocking invalidations (v4.19 on): `--oom-reaper` runs one.
    pub nonblock: bool,
    /// The version has an unregister.
    pub unregister: bool,
    /// Reclaim sends one `invalidate_page` after the PTE is cleared (before v4.13), so there
    /// is no start..end window to nest an invalidation in.
    pub invalidate_page: bool,
    /// The chain is a kernel `hlist` whose nodes keep `pprev` (`mmu_notifier`, and
    /// `ours@rcu-window`, which uses the same list); EMM's list and the interval tree have none.
    pub hlist: bool,
}

impl Traits {
    /// The traits of `variant`'s transcription.
    pub fn of(variant: Variant) -> Traits {
        match variant.family() {
            Family::Ours if variant == Variant::OursRcuWindow => rcu_window::traits(variant),
            Family::Emm | Family::Ours => emm::traits(variant),
            Family::MmuNotifier => mmu_notifier::traits(variant),
            Family::Interval => interval::traits(variant),
        }
    }
}

/// The programs of every role for one variant and configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programs {
    /// A VM thread's invalidation (with the nested one inside, if configured).
    pub vm: Program,
    /// A registrar's `register`.
    pub reg: Program,
    /// An unregistrar's `unregister`, then its owner's free.
    pub unreg: Program,
    /// A newly registered notifier's driver: one fault of the page.
    pub drv: Program,
    /// `exit_mmap`.
    pub teardown: Program,
    /// The aging walk.
    pub aging: Program,
    /// A copy-on-write page fault's invalidation.
    pub fault: Program,
    /// The OOM reaper.
    pub oom: Program,
    /// What else the checker needs to know of the version.
    pub traits: Traits,
}

/// Why a configuration cannot run on a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl Programs {
    /// Builds the programs of `variant` for `config` (whose actors the version must have:
    /// [`Programs::supports`]).
    pub fn new(variant: Variant, config: &Config) -> Programs {
        let programs = match variant.family() {
            Family::Ours if variant == Variant::OursRcuWindow => {
                rcu_window::programs(variant, config)
            }
            Family::Emm | Family::Ours => emm::programs(variant, config),
            Family::MmuNotifier => mmu_notifier::programs(variant, config),
            Family::Interval => interval::programs(variant, config),
        };
        match config.memory {
            Memory::Sc => programs.without_barriers(),
            Memory::Lkmm => programs,
        }
    }

    /// The programs without their barriers: under sequential consistency a barrier orders
    /// nothing that is not ordered already, so it is a step no other thread can observe.
    pub fn without_barriers(&self) -> Programs {
        let strip = |p: &Program| {
            let barriers: Vec<usize> = (0..p.len())
                .filter(|&pc| matches!(p.ops[pc], Op::Barrier(_)))
                .collect();
            p.without_steps(&barriers)
        };
        Programs {
            vm: strip(&self.vm),
            reg: strip(&self.reg),
            unreg: strip(&self.unreg),
            drv: strip(&self.drv),
            teardown: strip(&self.teardown),
            aging: strip(&self.aging),
            fault: strip(&self.fault),
            oom: strip(&self.oom),
            traits: self.traits,
        }
    }

    /// Whether `config`'s actors exist in `variant`: an unregistration needs an unregister,
    /// `--vma-faults` per-VMA-lock faults, `--oom-reaper` non-blocking starts, `--nested` a
    /// start..end window.
    pub fn supports(variant: Variant, config: &Config) -> Result<(), Unsupported> {
        let t = Traits::of(variant);
        let no = |m: String| Err(Unsupported(m));
        if config.unregistrations > 0 && !t.unregister {
            return no(format!(
                "{variant} has no unregister (EMM's first emm_notifier_unregister was posted on \
                 2 Apr 2008, 14:05, <Pine.LNX.4.64.0804021402190.30337@schroedinger.engr.sgi.com>): \
                 use --unregistrations 0"
            ));
        }
        if config.vma_faults > 0 && !t.vma_locks {
            return no(format!(
                "--vma-faults: {variant} has no page faults under a per-VMA lock (they arrive \
                 with the v6.4 series)"
            ));
        }
        if config.oom_reaper && !t.nonblock {
            return no(format!(
                "--oom-reaper: {variant} has no non-blocking invalidation (93065ac753e4, v4.19, \
                 added it)"
            ));
        }
        if config.nested && t.invalidate_page {
            return no(format!(
                "--nested: {variant}'s reclaim sends one invalidate_page after clearing the PTE, \
                 with no start..end window to nest in"
            ));
        }
        Ok(())
    }

    /// The program of `role`.
    pub fn of(&self, role: emm_proofs::Role) -> &Program {
        use emm_proofs::Role;
        match role {
            Role::Vm => &self.vm,
            Role::Reg => &self.reg,
            Role::Unreg => &self.unreg,
            Role::Drv => &self.drv,
            Role::Teardown => &self.teardown,
            Role::Aging => &self.aging,
            Role::Fault => &self.fault,
            Role::Oom => &self.oom,
        }
    }

    /// Every program, with its role.
    pub fn all(&self) -> [(emm_proofs::Role, &Program); 8] {
        use emm_proofs::Role;
        [
            (Role::Vm, &self.vm),
            (Role::Reg, &self.reg),
            (Role::Unreg, &self.unreg),
            (Role::Drv, &self.drv),
            (Role::Teardown, &self.teardown),
            (Role::Aging, &self.aging),
            (Role::Fault, &self.fault),
            (Role::Oom, &self.oom),
        ]
    }

    /// Whether some program delivers `callback`.
    pub fn delivers(&self, callback: Callback) -> bool {
        self.all().iter().any(|(_, p)| {
            p.ops.iter().any(|op| match *op {
                Op::Walk { callback: c, .. } | Op::CallOwn(c) | Op::CallTaken(c) => c == callback,
                _ => false,
            })
        })
    }
}

/// The position of the first `op` at or after `from` in `program`; the program's length if
/// there is none.
pub fn position_from(program: &[Op], from: usize, op: Op) -> usize {
    program[from.min(program.len())..]
        .iter()
        .position(|&o| o == op)
        .map_or(program.len(), |i| from + i)
}

/// The position of the last `op` before `before` in `program`, if any.
pub fn position_before(program: &[Op], before: usize, op: Op) -> Option<usize> {
    program[..before.min(program.len())]
        .iter()
        .rposition(|&o| o == op)
}
