//! `ours@rcu-window`: a walk that never waits. Each invalidation window is one SRCU read-side
//! section, from before its start walk to after its end walk, and both walks start from the
//! one `rcu_dereference()` of the head the window made first (its snapshot). Walkers take no
//! lock and write nothing another walker writes. Register and unregister change the list
//! under the notifier lock, as `mmu_notifier` does, and then wait for a grace period; they
//! never block a walker.
//!
//! ```text
//!  vmN (reclaim)                  srcu_read_lock
//!                                 invalidate_start walk: snap = rcu_dereference(head)
//!                                 zap PTE
//!                                 invalidate_end walk from snap
//!                                 srcu_read_unlock; free the old frame
//!  regN (register)                spin_lock(L); hlist_add_head_rcu(n); spin_unlock(L)
//!                                 synchronize_srcu()        <- every window that began
//!                                 return; drvN faults          before the publish has ended
//!  unregN (unregister)            if hashed: srcu_read_lock; ->release; srcu_read_unlock;
//!                                 spin_lock(L); hlist_del_init_rcu(n); spin_unlock(L)
//!                                 synchronize_srcu(); return; the owner frees n
//!  teardown (exit_mmap)           srcu_read_lock; release walk; spin_lock(L); unlink every
//!                                 node; spin_unlock(L); srcu_read_unlock; synchronize_srcu();
//!                                 free the frames
//!  aging                          srcu_read_lock; clear_young walk; srcu_read_unlock
//! ```
//!
//! The registration race cannot happen: a window that loaded its snapshot before `n` was
//! published is a section that began before `synchronize_srcu()` marked its readers, so it
//! has zapped, walked its ends and freed its frame before register returns and `n`'s driver
//! may fault; a window that loads its snapshot after the publish calls `n`'s
//! `invalidate_start`. Both walks of a window call the same notifiers, less any unlinked in
//! between (each released first: a missing end is then harmless).

use super::{Builder, LockKind, Op, Program, Programs, ReaderAdmission, Traits};
use crate::config::{Config, Variant};
use emm_proofs::{Callback, Family};

/// Every step of this variant is ours: its argument is its proof document.
const OURS: &str = "proofs/proofs/rcu-window.md";

const WINDOW: &str = "ours: invalidate_range_start .. _end, one SRCU section";
const READ_SIDE: &str = "ours: srcu_read_lock / srcu_read_unlock";
const REGISTER: &str = "ours: register";
const UNREGISTER: &str = "ours: unregister";
const RELEASE: &str = "ours: exit_mmap release";
const SYNC: &str = "ours: synchronize_srcu";

pub(super) fn traits(variant: Variant) -> Traits {
    debug_assert_eq!(variant, Variant::OursRcuWindow);
    Traits {
        family: Family::Ours,
        // No reverse-map lock is ever taken; the kinds are the v5.12 kernel's.
        rmap: LockKind::Rwsem,
        readers: ReaderAdmission::StealWhenFree,
        read_side: Some("srcu"),
        vma_locks: false,
        nonblock: false,
        unregister: true,
        invalidate_page: false,
        hlist: true,
    }
}

/// The walks of one window at `level` around `inner` and its zap, both from the snapshot of
/// the section they run in.
fn walks(b: &mut Builder, level: u8, inner: Option<&Program>) {
    b.op(Op::snapshot_walk(Callback::InvalidateStart), WINDOW, OURS);
    if let Some(inner) = inner {
        b.append(inner);
    }
    b.op(
        Op::Zap(level),
        "mm/rmap.c: try_to_unmap_one: clear the PTE",
        OURS,
    )
    .op(Op::snapshot_walk(Callback::InvalidateEnd), WINDOW, OURS);
}

/// Reclaim: one window, one section. A nested invalidation (`Invalidation::nest`) runs
/// inside the outer window's section and walks the outer window's snapshot: it takes no
/// section or snapshot of its own.
fn reclaim(config: &Config) -> Program {
    let nested = config.nested.then(|| {
        let mut b = Builder::new();
        walks(&mut b, 1, None);
        b.op(
            Op::Free(1),
            "the nested invalidation's caller frees its page",
            OURS,
        );
        b.finish()
    });
    let mut b = Builder::new();
    b.op(Op::ReadSideLock, READ_SIDE, OURS);
    walks(&mut b, 0, nested.as_ref());
    b.op(Op::ReadSideUnlock, READ_SIDE, OURS).op(
        Op::Free(0),
        "mm/vmscan.c: the caller frees the page",
        OURS,
    );
    b.finish()
}

fn register() -> Program {
    let mut b = Builder::new();
    b.op(Op::SpinLock, REGISTER, OURS)
        .op(
            Op::HlistAddInit,
            "include/linux/rculist.h: hlist_add_head_rcu",
            OURS,
        )
        .op(
            Op::HlistAddPublish { rcu: true },
            "include/linux/rculist.h: hlist_add_head_rcu",
            OURS,
        )
        .op(Op::SpinUnlock, REGISTER, OURS)
        .op(Op::SynchronizeStart, SYNC, OURS)
        .op(Op::SynchronizeWait, SYNC, OURS);
    b.finish()
}

fn unregister() -> Program {
    let mut b = Builder::new();
    b.branch(Op::CheckHashed, "sync", UNREGISTER, OURS)
        .op(Op::ReadSideLock, READ_SIDE, OURS)
        .op(Op::CallOwn(Callback::Release), UNREGISTER, OURS)
        .op(Op::ReadSideUnlock, READ_SIDE, OURS)
        .op(Op::SpinLock, UNREGISTER, OURS)
        .op(Op::HlistDelInitRcu, UNREGISTER, OURS)
        .op(Op::SpinUnlock, UNREGISTER, OURS)
        .label("sync")
        .op(Op::SynchronizeStart, SYNC, OURS)
        .op(Op::SynchronizeWait, SYNC, OURS)
        .op(
            Op::OwnerFree,
            "the caller of unregister: drop the notifier",
            OURS,
        );
    b.finish()
}

fn teardown() -> Program {
    let mut b = Builder::new();
    b.op(Op::ReadSideLock, READ_SIDE, OURS)
        .op(Op::walk(Callback::Release), RELEASE, OURS)
        .op(Op::SpinLock, RELEASE, OURS)
        .op(Op::UnlinkAll, RELEASE, OURS)
        .op(Op::SpinUnlock, RELEASE, OURS)
        .op(Op::ReadSideUnlock, READ_SIDE, OURS)
        .op(Op::SynchronizeStart, SYNC, OURS)
        .op(Op::SynchronizeWait, SYNC, OURS)
        .op(
            Op::FreeFrames,
            "mm/mmap.c: exit_mmap: unmap_vmas, free_pgtables",
            OURS,
        );
    b.finish()
}

fn aging() -> Program {
    let mut b = Builder::new();
    b.op(Op::ReadSideLock, READ_SIDE, OURS)
        .op(Op::walk(Callback::ClearYoung), "ours: clear_young", OURS)
        .op(Op::ReadSideUnlock, READ_SIDE, OURS);
    b.finish()
}

pub(super) fn programs(variant: Variant, config: &Config) -> Programs {
    Programs {
        vm: reclaim(config),
        reg: register(),
        unreg: unregister(),
        drv: super::emm::kvm_fault(OURS, super::emm::Gup::Fast),
        teardown: teardown(),
        aging: aging(),
        fault: Program::default(),
        oom: Program::default(),
        traits: traits(variant),
    }
}
