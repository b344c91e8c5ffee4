//! `mmu_interval_notifier` (Jason Gunthorpe), merged in v5.5 (99cb252f5e68), with the
//! collision-retry sequence the driver's fault uses instead of start/end.
//!
//! ```text
//!  invalidate:  spin_lock(L); active++; if (a sub overlaps) seq |= 1; cur = seq; unlock
//!               for each overlapping sub: sub->ops->invalidate(sub, range, cur)
//!               ... zap ...
//!               mn_itree_inv_end: spin_lock(L); active--;
//!                 if (active == 0 && seq odd) { seq++; apply the deferred list }
//!               spin_unlock(L); wake_up_all
//!  insert:      spin_lock(L); if active: defer (seq odd) or insert with seq |= 1;
//!               sub->invalidate_seq = seq (odd, current), else seq - 1; unlock
//!  remove:      spin_lock(L); if seq odd: cancel a deferred insert, or defer the removal
//!               and remember seq; else remove; unlock;
//!               [v5.5]  wait_event(wq, READ_ONCE(seq) != remembered)
//!               [v5.18] wait_event(wq, under L: seq != remembered)
//!               then the owner may free sub
//!  fault:       s = read_begin(sub) (waits while seq == s and odd); read PTE;
//!               user_lock; if (read_retry(sub, s)) retry; install; user_unlock
//! ```

use super::{Builder, LockKind, Op, Program, Programs, ReaderAdmission, Traits};
use crate::config::{Config, Variant};
use emm_proofs::Callback;

const ITREE: &str = "99cb252f5e68";
const LOCKED_WAIT: &str = "319561669a59";
const NONBLOCK: &str = "93065ac753e4";

const START: &str = "mm/mmu_notifier.c: mn_itree_inv_start_range";
const INVALIDATE: &str = "mm/mmu_notifier.c: mn_itree_invalidate";
const END: &str = "mm/mmu_notifier.c: mn_itree_inv_end";
const INSERT: &str = "mm/mmu_notifier.c: __mmu_interval_notifier_insert";
const REMOVE: &str = "mm/mmu_notifier.c: mmu_interval_notifier_remove";
const READ_BEGIN: &str = "mm/mmu_notifier.c: mmu_interval_read_begin";
const RMAP_WALK: &str = "mm/rmap.c: try_to_unmap_anon: anon_vma_lock_read";

pub(super) fn traits(variant: Variant) -> Traits {
    Traits {
        family: variant.family(),
        rmap: LockKind::Rwsem,
        readers: ReaderAdmission::StealWhenFree,
        read_side: None,
        vma_locks: false,
        nonblock: true,
        unregister: true,
        invalidate_page: false,
        hlist: false,
    }
}

/// `mn_itree_inv_start_range()` under the lock; then the walk from the node it found.
fn start(b: &mut Builder, callback: Callback, nonblock: bool) {
    b.op(Op::SpinLock, START, ITREE)
        .op(Op::ItreeStartBody, START, ITREE)
        .op(Op::SpinUnlock, START, ITREE)
        .op(
            Op::Walk {
                callback,
                resume: true,
                // A sub whose non-blocking invalidate cannot take its lock ends the walk.
                early_return: nonblock,
                nonblock,
                snapshot: false,
            },
            INVALIDATE,
            if nonblock { NONBLOCK } else { ITREE },
        );
}

/// `mn_itree_inv_end()`: the decrement, the seq release and the deferred list, each a step.
fn end(b: &mut Builder, label: &'static str) {
    b.op(Op::SpinLock, END, ITREE)
        .branch(Op::ItreeEndBody, label, END, ITREE)
        .op(Op::ItreeSeqRelease, END, ITREE)
        .op(Op::ItreeDeferred, END, ITREE)
        .label(label)
        .op(Op::SpinUnlock, END, ITREE);
}

fn invalidation(level: u8, inner: Option<&Program>) -> Program {
    let mut b = Builder::new();
    start(&mut b, Callback::Invalidate, false);
    if let Some(inner) = inner {
        b.append(inner);
    }
    b.op(Op::Zap(level), "mm/rmap.c: try_to_unmap_one", ITREE);
    end(&mut b, "ended");
    b.finish()
}

pub(super) fn programs(variant: Variant, config: &Config) -> Programs {
    let vm = {
        let inner = config.nested.then(|| {
            let mut n = Builder::new();
            n.append(&invalidation(1, None)).op(
                Op::Free(1),
                "mm/vmscan.c: the caller frees the page",
                ITREE,
            );
            n.finish()
        });
        let mut b = Builder::new();
        b.op(Op::RmapReadLock, RMAP_WALK, ITREE)
            .append(&invalidation(0, inner.as_ref()))
            .op(Op::RmapReadUnlock, RMAP_WALK, ITREE)
            .op(Op::Free(0), "mm/vmscan.c: the caller frees the page", ITREE);
        b.finish()
    };
    let mut b = Builder::new();
    b.op(Op::SpinLock, INSERT, ITREE)
        .op(Op::ItreeInsertBody, INSERT, ITREE)
        .op(Op::SpinUnlock, INSERT, ITREE);
    let reg = b.finish();

    let mut b = Builder::new();
    b.op(
        Op::DropMirror,
        "the caller of mmu_interval_notifier_remove stops using the range",
        ITREE,
    )
    .op(Op::SpinLock, REMOVE, ITREE)
    .op(Op::ItreeRemoveBody, REMOVE, ITREE)
    .op(Op::SpinUnlock, REMOVE, ITREE);
    if variant == Variant::IntervalV5_5 {
        b.op(Op::ItreeRemoveWait, REMOVE, ITREE);
    } else {
        b.op(
            Op::ItreeRemoveWaitLocked,
            "mm/mmu_notifier.c: mmu_interval_seq_released",
            LOCKED_WAIT,
        );
    }
    b.op(
        Op::OwnerFree,
        "the caller of mmu_interval_notifier_remove: kfree(sub)",
        ITREE,
    );
    let unreg = b.finish();

    let mut b = Builder::new();
    b.label("fault")
        .branch(Op::ReadBegin, "read", READ_BEGIN, ITREE)
        .op(Op::ReadBeginWait, READ_BEGIN, ITREE)
        .label("read")
        .op(Op::ReadPte, "the driver's fault: hmm_range_fault", ITREE)
        .branch(
            Op::ReadRetryInstall,
            "fault",
            "the driver's fault: user_lock; mmu_interval_read_retry; install",
            ITREE,
        );
    let drv = b.finish();

    // exit_mmap(): mn_itree_release() is an invalidation with MMU_NOTIFY_RELEASE over
    // everything; then unmap_vmas() clears the PTEs inside an ordinary invalidation, and the
    // pages are freed after it ends.
    let mut b = Builder::new();
    start(&mut b, Callback::Release, false);
    end(&mut b, "released");
    start(&mut b, Callback::Invalidate, false);
    b.op(Op::UnmapPte, "mm/mmap.c: exit_mmap: unmap_vmas", ITREE);
    end(&mut b, "unmapped");
    b.op(Op::Free(0), "mm/mmap.c: exit_mmap: free the pages", ITREE);
    let teardown = b.finish();

    // oom: __oom_reap_task_mm() under mmap_read_trylock(). A failing invalidate ends the
    // interval part at once: mn_itree_inv_end(), -EAGAIN, and the reaper skips this vma.
    let mut b = Builder::new();
    b.branch(
        Op::MmapReadTrylock,
        "out",
        "mm/oom_kill.c: oom_reap_task_mm",
        NONBLOCK,
    );
    start(&mut b, Callback::Invalidate, true);
    b.branch(
        Op::SkipIfStartFailed,
        "failed",
        "mm/oom_kill.c: __oom_reap_task_mm",
        NONBLOCK,
    )
    .op(
        Op::UnmapPte,
        "mm/oom_kill.c: __oom_reap_task_mm: unmap_page_range",
        NONBLOCK,
    );
    end(&mut b, "reaped");
    b.op(
        Op::Free(0),
        "mm/oom_kill.c: __oom_reap_task_mm: tlb_finish_mmu",
        NONBLOCK,
    )
    .branch(
        Op::Goto,
        "unlock",
        "mm/oom_kill.c: __oom_reap_task_mm",
        NONBLOCK,
    )
    .label("failed");
    end(&mut b, "gave-up");
    b.label("unlock")
        .op(
            Op::MmapReadUnlock,
            "mm/oom_kill.c: oom_reap_task_mm",
            NONBLOCK,
        )
        .label("out");
    let oom = b.finish();

    Programs {
        vm,
        reg,
        unreg,
        drv,
        teardown,
        aging: Program::default(),
        fault: Program::default(),
        oom,
        traits: traits(variant),
    }
}
