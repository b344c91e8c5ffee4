//! `mmu_notifier` (Andrea Arcangeli), as merged in v2.6.27 (cddb8a5c14aa) and changed since.
//!
//! ```text
//!  register:    down_write(mmap_sem); mm_take_all_locks [v6.4: vma_start_write];
//!               spin_lock(L); hlist_add_head[_rcu](mn); spin_unlock(L);
//!               mm_drop_all_locks [v6.4: vma_end_write_all]; up_write(mmap_sem)
//!  walks:       rcu_read_lock / srcu_read_lock; hlist_for_each_entry_rcu; unlock
//!  reclaim:     rmap lock; [< v4.13] clear PTE; invalidate_page
//!                         [v4.13 on] start; clear PTE; end
//!  release:     v2.6.27  L; while (first) { del_init(first); RL; U; ->release; RU; L }; sync
//!               v3.6     RL; ->release each; RU; L; del_init each; U; sync
//!               v3.9     SL; L; while (first) { del_init(first); U; ->release; L }; U; SU; sync
//!               v3.10    SL; ->release each; SU; L; del_init each; U; sync
//!               v3.17    SL; ->release each; L; del_init each; U; SU; sync
//!  unregister:  v2.6.27  L; if (hashed) { del_rcu; RL; U; ->release; RU } else U; sync
//!               v3.6     if (hashed) { RL; ->release; RU; L; del_rcu; U }; sync
//!               v3.9     L; if (hashed) { SL; del_rcu; U; ->release; SU } else U; sync
//!               v3.10    if (hashed) { SL; ->release; SU; L; del_init; U }; sync
//! ```
//!
//! Where a step is the same in a later version, it cites the commit that made it so; where a
//! statement was read in a version's tree and no single commit is known for it (the lock a
//! function takes), it cites the commit of that version.

use super::emm::{kvm_fault, Gup};
use super::{Builder, LockKind, Op, Program, Programs, ReaderAdmission, Traits};
use crate::config::{Config, Variant};
use emm_proofs::Callback;

use Variant::{
    MmuNotifierV2_6_27 as V2627, MmuNotifierV3_10 as V310, MmuNotifierV3_6 as V36,
    MmuNotifierV3_9 as V39, MmuNotifierV4_19 as V419, MmuNotifierV5_12 as V512,
    MmuNotifierV6_4 as V64, MmuNotifierV6_4WithoutEeff9a5d47f8 as V64W,
};

const MERGE: &str = "cddb8a5c14aa";
const TAKE_ALL: &str = "7906d00cd1f6";
const RELEASE_FIRST: &str = "3ad3d901bbcf";
const SRCU: &str = "21a92735f660";
const OUTSIDE_PTL: &str = "2ec74c3ef2d8";
const HOLT: &str = "751efd8610d3";
const XIAO: &str = "d34883d4e35c";
const CALL_SRCU: &str = "b972216e27d1";
const START_END: &str = "369ea8242c0f";
const NONBLOCK: &str = "93065ac753e4";
const ADD_RCU: &str = "543bdb2d825f";
const UNWIND: &str = "c2655835fd8c";
const VMA_LOCK: &str = "50ee32537206";
const VMA_WRITE: &str = "eeff9a5d47f8";
const KVM: &str = "e930bffe95e1";

const REGISTER: &str = "mm/mmu_notifier.c: do_mmu_notifier_register";
const UNREGISTER: &str = "mm/mmu_notifier.c: mmu_notifier_unregister";
const RELEASE: &str = "mm/mmu_notifier.c: __mmu_notifier_release";
const TAKE: &str = "mm/mmap.c: mm_take_all_locks";
const DROP: &str = "mm/mmap.c: mm_drop_all_locks";
const TRY_TO_UNMAP: &str = "mm/rmap.c: try_to_unmap_one";
const RMAP_WALK: &str = "mm/rmap.c: try_to_unmap_anon: anon_vma lock";
const START: &str = "mm/mmu_notifier.c: __mmu_notifier_invalidate_range_start";
const END: &str = "mm/mmu_notifier.c: __mmu_notifier_invalidate_range_end";
const OOM: &str = "mm/oom_kill.c: __oom_reap_task_mm";
const FAULT: &str = "mm/memory.c: wp_page_copy";

/// The commit of `variant`'s own change: the tree its unchanged statements were read in.
fn own(variant: Variant) -> &'static str {
    variant.info().source
}

pub(super) fn traits(variant: Variant) -> Traits {
    Traits {
        family: variant.family(),
        // spin_lock (v2.6.27) and mutex_lock (v3.0-v3.7) of anon_vma->lock; down_write of
        // anon_vma->rwsem from v3.8.
        rmap: if variant <= V36 {
            LockKind::Exclusive
        } else {
            LockKind::Rwsem
        },
        // The v5.11 rwsem rework lets a reader steal the lock past a waiting writer.
        readers: if variant >= V512 {
            ReaderAdmission::StealWhenFree
        } else {
            ReaderAdmission::BehindWriters
        },
        read_side: Some(if variant <= V36 { "rcu" } else { "srcu" }),
        vma_locks: variant >= V64W,
        nonblock: variant >= V419,
        unregister: true,
        invalidate_page: variant < V419,
        hlist: true,
    }
}

/// The read-side lock and unlock around one walker, as the version has them.
fn read_side(variant: Variant) -> (&'static str, &'static str) {
    if variant <= V36 {
        ("mm/mmu_notifier.c: rcu_read_lock", MERGE)
    } else {
        ("mm/mmu_notifier.c: srcu_read_lock(&srcu)", SRCU)
    }
}

/// `callback` walked over the chain inside its own read-side section, as every
/// `__mmu_notifier_X` does.
fn walker(b: &mut Builder, variant: Variant, walk: Op, function: &'static str, at: &'static str) {
    let (rs, rs_at) = read_side(variant);
    b.op(Op::ReadSideLock, rs, rs_at)
        .op(walk, function, at)
        .op(Op::ReadSideUnlock, rs, rs_at);
}

/// One range invalidation at `level`: start walk, `inner`, zap, end walk. The nested one runs
/// under the locks of the outer (its walks take their own read sides, as every walker does).
fn range_invalidation(variant: Variant, level: u8, inner: Option<&Program>) -> Program {
    let mut b = Builder::new();
    walker(
        &mut b,
        variant,
        Op::walk(Callback::InvalidateStart),
        START,
        MERGE,
    );
    if let Some(inner) = inner {
        b.append(inner);
    }
    b.op(Op::Zap(level), TRY_TO_UNMAP, START_END);
    walker(
        &mut b,
        variant,
        Op::walk(Callback::InvalidateEnd),
        END,
        MERGE,
    );
    b.finish()
}

/// `synchronize_rcu()` before v3.7, `synchronize_srcu()` from it: the function and commit.
fn synchronize(variant: Variant) -> (&'static str, &'static str) {
    if variant <= V36 {
        ("mm/mmu_notifier.c: synchronize_rcu", MERGE)
    } else {
        ("mm/mmu_notifier.c: synchronize_srcu", SRCU)
    }
}

/// `mmu_notifier_unregister()` from v3.6 on: if the node is still hashed (read without the
/// lock), `->release` inside the read side `rs`, then `del` under the lock; else straight to
/// the grace period (label `sync`).
fn release_then_unlink(
    b: &mut Builder,
    rs: (&'static str, &'static str),
    at: &'static str,
    del: Op,
) {
    b.branch(Op::CheckHashed, "sync", UNREGISTER, at)
        .op(Op::ReadSideLock, rs.0, rs.1)
        .op(Op::CallOwn(Callback::Release), UNREGISTER, at)
        .op(Op::ReadSideUnlock, rs.0, rs.1)
        .op(Op::SpinLock, UNREGISTER, at)
        .op(del, UNREGISTER, at)
        .op(Op::SpinUnlock, UNREGISTER, at);
}

/// `mmu_notifier_unregister()` as v2.6.27 and v3.9 write it: under the lock, if the node is
/// still hashed, `hlist_del_rcu()` and entering the read side (v2.6.27 unlinks first, then
/// `rcu_read_lock()`; v3.9 takes `srcu_read_lock()` first, then unlinks), drop the lock,
/// `->release`, leave the read side; else just drop the lock; both then go on to the grace
/// period (label `sync`).
fn unlink_then_release(b: &mut Builder, rs: &'static str, at: &'static str, read_side_first: bool) {
    b.op(Op::SpinLock, UNREGISTER, at)
        .branch(Op::CheckHashed, "else", UNREGISTER, at);
    if read_side_first {
        b.op(Op::ReadSideLock, rs, at)
            .op(Op::HlistDelRcu, UNREGISTER, at);
    } else {
        b.op(Op::HlistDelRcu, UNREGISTER, at)
            .op(Op::ReadSideLock, rs, at);
    }
    b.op(Op::SpinUnlock, UNREGISTER, at)
        .op(Op::CallOwn(Callback::Release), UNREGISTER, at)
        .op(Op::ReadSideUnlock, rs, at)
        .branch(Op::Goto, "sync", UNREGISTER, at)
        .label("else")
        .op(Op::SpinUnlock, UNREGISTER, at);
}

/// vmN: reclaim's `try_to_unmap_one()` under the page's rmap lock.
fn reclaim(variant: Variant, config: &Config) -> Program {
    let mut b = Builder::new();
    let rmap_at = own(variant);
    b.op(Op::RmapReadLock, RMAP_WALK, rmap_at);
    if variant < V419 {
        // Before v4.13: ptep_clear_flush_notify() (v2.6.27-v3.6, under the PTE lock), or
        // ptep_clear_flush() and invalidate_page after the PTE lock (2ec74c3ef2d8, v3.7): one
        // invalidate_page after the PTE is cleared, no start..end bracket.
        let at = if variant <= V36 { MERGE } else { OUTSIDE_PTL };
        b.op(Op::Zap(0), TRY_TO_UNMAP, at);
        walker(
            &mut b,
            variant,
            Op::walk(Callback::InvalidatePage),
            "mm/mmu_notifier.c: __mmu_notifier_invalidate_page",
            at,
        );
    } else {
        let inner = config.nested.then(|| {
            let mut n = Builder::new();
            n.append(&range_invalidation(variant, 1, None)).op(
                Op::Free(1),
                "mm/vmscan.c: the caller frees the page",
                START_END,
            );
            n.finish()
        });
        b.append(&range_invalidation(variant, 0, inner.as_ref()));
    }
    b.op(Op::RmapReadUnlock, RMAP_WALK, rmap_at).op(
        Op::Free(0),
        "mm/vmscan.c: the caller frees the isolated page",
        rmap_at,
    );
    b.finish()
}

fn register(variant: Variant) -> Program {
    let mut b = Builder::new();
    b.op(Op::MmapSemLock, REGISTER, MERGE);
    if variant == V64 {
        b.op(Op::VmaStartWrite, TAKE, VMA_WRITE);
    }
    b.op(Op::TakeAllLocks, TAKE, TAKE_ALL)
        .op(Op::SpinLock, REGISTER, MERGE);
    if variant >= V512 {
        b.op(
            Op::HlistAddInit,
            "include/linux/rculist.h: hlist_add_head_rcu",
            ADD_RCU,
        )
        .op(
            Op::HlistAddPublish { rcu: true },
            "include/linux/rculist.h: hlist_add_head_rcu",
            ADD_RCU,
        );
    } else {
        b.op(
            Op::HlistAddInit,
            "include/linux/list.h: hlist_add_head",
            MERGE,
        )
        .op(
            Op::HlistAddPublish { rcu: false },
            "include/linux/list.h: hlist_add_head",
            MERGE,
        );
    }
    b.op(Op::SpinUnlock, REGISTER, MERGE)
        .op(Op::DropAllLocks, DROP, TAKE_ALL);
    if variant == V64 {
        b.op(Op::VmaEndWriteAll, DROP, VMA_WRITE);
    }
    b.op(Op::MmapSemUnlock, REGISTER, MERGE);
    b.finish()
}

fn unregister(variant: Variant) -> Program {
    let (rs, rs_at) = read_side(variant);
    let (sync, sync_at) = synchronize(variant);
    let mut b = Builder::new();
    match variant {
        // The merged code: unlink under the lock, then ->release inside the read side.
        V2627 => unlink_then_release(&mut b, rs, MERGE, false),
        // 3ad3d901bbcf: ->release first, then hlist_del_rcu (which poisons pprev).
        V36 => release_then_unlink(&mut b, (rs, rs_at), RELEASE_FIRST, Op::HlistDelRcu),
        // 751efd8610d3 restores v2.6.27's shape, on SRCU.
        V39 => unlink_then_release(&mut b, rs, HOLT, true),
        // v3.10 on: ->release first, then the idempotent hlist_del_init_rcu.
        _ => release_then_unlink(&mut b, (rs, XIAO), XIAO, Op::HlistDelInitRcu),
    }
    b.label("sync")
        .op(Op::SynchronizeStart, sync, sync_at)
        .op(Op::SynchronizeWait, sync, sync_at)
        .op(
            Op::OwnerFree,
            "caller of mmu_notifier_unregister: kfree(mn)",
            MERGE,
        );
    b.finish()
}

fn teardown(variant: Variant) -> Program {
    let (rs, rs_at) = read_side(variant);
    let (sync, sync_at) = synchronize(variant);
    let mut b = Builder::new();
    match variant {
        V2627 => {
            b.op(Op::SpinLock, RELEASE, MERGE)
                .label("loop")
                .branch(Op::TakeFirst, "done", RELEASE, MERGE)
                .op(Op::HlistDelInitRcu, RELEASE, MERGE)
                .op(Op::ReadSideLock, rs, rs_at)
                .op(Op::SpinUnlock, RELEASE, MERGE)
                .op(Op::CallTaken(Callback::Release), RELEASE, MERGE)
                .op(Op::ReadSideUnlock, rs, rs_at)
                .op(Op::SpinLock, RELEASE, MERGE)
                .branch(Op::LoopBack, "loop", RELEASE, MERGE)
                .label("done")
                .op(Op::SpinUnlock, RELEASE, MERGE);
        }
        V36 => {
            walker(
                &mut b,
                variant,
                Op::walk(Callback::Release),
                RELEASE,
                RELEASE_FIRST,
            );
            b.op(Op::SpinLock, RELEASE, RELEASE_FIRST)
                .op(Op::UnlinkAll, RELEASE, RELEASE_FIRST)
                .op(Op::SpinUnlock, RELEASE, RELEASE_FIRST);
        }
        V39 => {
            b.op(Op::ReadSideLock, rs, HOLT)
                .op(Op::SpinLock, RELEASE, HOLT)
                .label("loop")
                .branch(Op::TakeFirst, "done", RELEASE, HOLT)
                .op(Op::HlistDelInitRcu, RELEASE, HOLT)
                .op(Op::SpinUnlock, RELEASE, HOLT)
                .op(Op::CallTaken(Callback::Release), RELEASE, HOLT)
                .op(Op::SpinLock, RELEASE, HOLT)
                .branch(Op::LoopBack, "loop", RELEASE, HOLT)
                .label("done")
                .op(Op::SpinUnlock, RELEASE, HOLT)
                .op(Op::ReadSideUnlock, rs, HOLT);
        }
        V310 => {
            walker(&mut b, variant, Op::walk(Callback::Release), RELEASE, XIAO);
            b.op(Op::SpinLock, RELEASE, XIAO)
                .op(Op::UnlinkAll, RELEASE, XIAO)
                .op(Op::SpinUnlock, RELEASE, XIAO);
        }
        _ => {
            // v3.17 (b972216e27d1) moved srcu_read_unlock after the unlink loop.
            b.op(Op::ReadSideLock, rs, CALL_SRCU)
                .op(Op::walk(Callback::Release), RELEASE, CALL_SRCU)
                .op(Op::SpinLock, RELEASE, CALL_SRCU)
                .op(Op::UnlinkAll, RELEASE, CALL_SRCU)
                .op(Op::SpinUnlock, RELEASE, CALL_SRCU)
                .op(Op::ReadSideUnlock, rs, CALL_SRCU);
        }
    }
    b.op(Op::SynchronizeStart, sync, sync_at)
        .op(Op::SynchronizeWait, sync, sync_at)
        .op(
            Op::FreeFrames,
            "mm/mmap.c: exit_mmap: unmap_vmas (the list is empty), free_pgtables",
            MERGE,
        );
    b.finish()
}

fn aging(variant: Variant) -> Program {
    let mut b = Builder::new();
    b.op(
        Op::RmapReadLock,
        "mm/rmap.c: page_referenced_anon",
        own(variant),
    );
    walker(
        &mut b,
        variant,
        Op::walk(Callback::ClearYoung),
        "mm/mmu_notifier.c: __mmu_notifier_clear_flush_young",
        MERGE,
    );
    b.op(
        Op::RmapReadUnlock,
        "mm/rmap.c: page_referenced_anon",
        own(variant),
    );
    b.finish()
}

/// pfN: a copy-on-write fault's invalidation (`wp_page_copy()`), under the VMA read lock if
/// `lock_vma_under_rcu()` gets it, else under `mmap_sem` for read.
fn vma_fault(variant: Variant) -> Program {
    let mut b = Builder::new();
    b.branch(
        Op::LockVmaUnderRcu,
        "body",
        "arch/x86/mm/fault.c: do_user_addr_fault: lock_vma_under_rcu",
        VMA_LOCK,
    )
    .op(
        Op::MmapReadLock,
        "arch/x86/mm/fault.c: do_user_addr_fault: mmap_read_lock",
        VMA_LOCK,
    )
    .label("body");
    walker(
        &mut b,
        variant,
        Op::walk(Callback::InvalidateStart),
        FAULT,
        VMA_LOCK,
    );
    b.op(Op::Zap(0), FAULT, VMA_LOCK);
    walker(
        &mut b,
        variant,
        Op::walk(Callback::InvalidateEnd),
        FAULT,
        VMA_LOCK,
    );
    b.op(
        Op::Free(0),
        "mm/memory.c: wp_page_copy: put the old page",
        VMA_LOCK,
    )
    .op(
        Op::FaultUnlock,
        "arch/x86/mm/fault.c: do_user_addr_fault: vma_end_read / mmap_read_unlock",
        VMA_LOCK,
    );
    b.finish()
}

/// oom: `__oom_reap_task_mm()` over the page's VMA under `mmap_read_trylock()`.
fn oom_reaper(variant: Variant) -> Program {
    let (rs, rs_at) = read_side(variant);
    let nonblock = Op::Walk {
        callback: Callback::InvalidateStart,
        resume: false,
        early_return: false,
        nonblock: true,
        snapshot: false,
    };
    let mut b = Builder::new();
    b.branch(
        Op::MmapReadTrylock,
        "out",
        "mm/oom_kill.c: oom_reap_task_mm",
        NONBLOCK,
    )
    .op(Op::ReadSideLock, rs, rs_at)
    .op(
        nonblock,
        "mm/mmu_notifier.c: __mmu_notifier_invalidate_range_start (blockable = false)",
        NONBLOCK,
    );
    if variant >= V512 {
        // c2655835fd8c: if a start failed, a second walk in the same SRCU section calls end
        // on every notifier that has one.
        b.branch(Op::SkipUnwind, "unwound", START, UNWIND)
            .op(Op::walk(Callback::InvalidateEnd), START, UNWIND)
            .label("unwound");
    }
    b.op(Op::ReadSideUnlock, rs, rs_at)
        .branch(Op::SkipIfStartFailed, "unlock", OOM, NONBLOCK)
        .op(
            Op::UnmapPte,
            "mm/oom_kill.c: __oom_reap_task_mm: unmap_page_range",
            NONBLOCK,
        );
    walker(
        &mut b,
        variant,
        Op::walk(Callback::InvalidateEnd),
        END,
        NONBLOCK,
    );
    b.op(
        Op::Free(0),
        "mm/oom_kill.c: __oom_reap_task_mm: tlb_finish_mmu",
        NONBLOCK,
    )
    .label("unlock")
    .op(
        Op::MmapReadUnlock,
        "mm/oom_kill.c: oom_reap_task_mm",
        NONBLOCK,
    )
    .label("out");
    b.finish()
}

pub(super) fn programs(variant: Variant, config: &Config) -> Programs {
    let traits = traits(variant);
    Programs {
        vm: reclaim(variant, config),
        reg: register(variant),
        unreg: unregister(variant),
        // v2.6.27's KVM read the PTE with get_user_pages() under the page table lock; from
        // v2.6.28 with get_user_pages_fast() after smp_rmb() (4c2155ce81c1).
        drv: kvm_fault(
            KVM,
            if variant == V2627 {
                Gup::Slow
            } else {
                Gup::Fast
            },
        ),
        teardown: teardown(variant),
        aging: aging(variant),
        fault: if traits.vma_locks {
            vma_fault(variant)
        } else {
            Program::default()
        },
        oom: if traits.nonblock {
            oom_reaper(variant)
        } else {
            Program::default()
        },
        traits,
    }
}
