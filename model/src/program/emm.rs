//! The EMM notifier of 2008 (Christoph Lameter, linux-mm), and ours built on its seed.
//!
//! ```text
//!  emm_notifier_register(e, mm):          caller holds mmap_sem for write
//!    [seed]  emm_notify(mm, emm_stop)
//!            e->next = mm->emm_notifier
//!            rcu_assign_pointer(mm->emm_notifier, e)
//!    [seed]  emm_notify(mm, emm_start)
//!  __emm_notify(mm, op):                  no lock, no rcu_read_lock
//!    e = rcu_dereference(mm->emm_notifier)
//!    while (e) { x = e->callback(e, mm, op)
//!                [V2] if (x) return x;    [fixup] accumulate and go on
//!                e = rcu_dereference(e->next) }
//!  emm_notifier_unregister(e, mm):        [seed only]
//!    emm_notify(stop); unlink e with plain stores; e->next = mm->emm_notifier;
//!    emm_notify(start); e->callback(e, mm, emm_release)
//!  exit_mmap:  emm_notify(mm, emm_release, 0, TASK_SIZE): a broadcast that unlinks nothing
//! ```
//!
//! The VM's hooks (RFC, V1, V2): `try_to_unmap_one()` calls `emm_invalidate_start` before it
//! looks up the PTE (the rmap lock held) and `emm_invalidate_end` after it drops the PTE lock;
//! `page_referenced_one()` calls `emm_referenced`.

use super::{Builder, LockKind, Op, Program, Programs, ReaderAdmission, Traits};
use crate::config::{Config, Variant};
use emm_proofs::{Barrier, Callback};

const V1: &str = "<Pine.LNX.4.64.0803051600470.7481@schroedinger.engr.sgi.com>";
const V2: &str = "<20080401205635.793766935@sgi.com>";
const V2_EXIT: &str = "<20080401205636.524832964@sgi.com>";
const FIXUP: &str = "<Pine.LNX.4.64.0804021202450.28436@schroedinger.engr.sgi.com>";
const SEED: &str = "<Pine.LNX.4.64.0804021821230.639@schroedinger.engr.sgi.com>";
const OURS: &str = "proofs/proofs/emm-stop-drain-start.md";
const KVM: &str = "e930bffe95e1";

const RMAP: &str = "mm/rmap.c: try_to_unmap_anon: spin_lock(&anon_vma->lock)";
const UNMAP: &str = "mm/rmap.c: try_to_unmap_one";
const REFERENCED: &str = "mm/rmap.c: page_referenced_one: emm_notify(emm_referenced)";
const REGISTER: &str = "mm/rmap.c: emm_notifier_register";
const UNREGISTER: &str = "mm/rmap.c: emm_notifier_unregister";
const EXIT: &str = "mm/mmap.c: exit_mmap: emm_notify(mm, emm_release, 0, TASK_SIZE)";
const DRAIN: &str = "ours: emm_drain";

pub(super) fn traits(variant: Variant) -> Traits {
    Traits {
        family: variant.family(),
        // 2008's anon_vma lock is a spinlock.
        rmap: LockKind::Exclusive,
        readers: ReaderAdmission::BehindWriters,
        read_side: None,
        vma_locks: false,
        nonblock: false,
        unregister: variant != Variant::EmmV2,
        invalidate_page: false,
        hlist: false,
    }
}

/// The walker of `variant`: V2 returns at the first nonzero callback, the 12:03 fixup (the
/// seed's base) accumulates and walks on.
fn walk(variant: Variant, callback: Callback) -> (Op, &'static str, &'static str) {
    let early = variant == Variant::EmmV2;
    let op = Op::Walk {
        callback,
        resume: false,
        early_return: early,
        nonblock: false,
        snapshot: false,
    };
    if early {
        (op, "mm/rmap.c: __emm_notify (if (x) return x)", V2)
    } else {
        (op, "mm/rmap.c: __emm_notify (accumulating)", FIXUP)
    }
}

/// The drain's entry to a walk window (ours): count in, check `emm_stopping`, and if set back
/// off, wait, and count in again.
fn gate_entry(b: &mut Builder) {
    b.label("gate")
        .op(Op::GateEnter, DRAIN, OURS)
        // atomic_inc() orders nothing: without the barrier the load of emm_stopping below may
        // be satisfied before the increment reaches the registrar (store buffering).
        .op(Op::Barrier(Barrier::MbAfterAtomic), DRAIN, OURS)
        .branch(Op::GateCheck, "inside", DRAIN, OURS)
        .op(Op::GateBackoff, DRAIN, OURS)
        .branch(Op::GateWait, "gate", DRAIN, OURS)
        .label("inside")
        // Pairs with the smp_wmb() before emm_stopping = 0: a window that reads the
        // resume's 0 reads the chain that register or unregister left.
        .op(Op::Barrier(Barrier::Rmb), DRAIN, OURS);
}

/// The drain's resume (ours): `emm_stopping = 0`, ordered after the chain's stores.
fn gate_resume(b: &mut Builder) {
    b.op(Op::Barrier(Barrier::Wmb), DRAIN, OURS)
        .op(Op::GateResume, DRAIN, OURS);
}

/// The drain's exit from a walk window (ours): count out, ordered after the window's accesses.
fn gate_exit(b: &mut Builder) {
    // atomic_dec() orders nothing either: the barrier makes the window's stores (the zap)
    // visible to a drain that reads the decrement.
    b.op(Op::Barrier(Barrier::MbBeforeAtomic), DRAIN, OURS)
        .op(Op::GateExit, DRAIN, OURS);
}

/// One invalidation of try_to_unmap_one's bracket at `level`, with `inner` inside it.
fn invalidation(variant: Variant, level: u8, inner: Option<&Program>) -> Program {
    let mut b = Builder::new();
    let (start, f, at) = walk(variant, Callback::InvalidateStart);
    b.op(start, f, at);
    if let Some(inner) = inner {
        b.append(inner);
    }
    b.op(Op::Zap(level), UNMAP, V1);
    let (end, f, at) = walk(variant, Callback::InvalidateEnd);
    b.op(end, f, at);
    b.finish()
}

pub(super) fn programs(variant: Variant, config: &Config) -> Programs {
    use Callback::{ClearYoung, Release, Start, Stop};
    let drain = variant == Variant::OursEmmStopDrainStart;
    let seed = variant != Variant::EmmV2;
    let at = if seed { SEED } else { V2 };

    // vmN: reclaim's try_to_unmap_one, its rmap lock held by the rmap walk.
    let inner = config.nested.then(|| {
        let mut b = Builder::new();
        b.append(&invalidation(variant, 1, None)).op(
            Op::Free(1),
            "mm/vmscan.c: the caller frees the page",
            V1,
        );
        b.finish()
    });
    let mut b = Builder::new();
    if drain {
        gate_entry(&mut b);
    }
    b.op(Op::RmapReadLock, RMAP, V1)
        .append(&invalidation(variant, 0, inner.as_ref()))
        .op(Op::RmapReadUnlock, RMAP, V1);
    if drain {
        gate_exit(&mut b);
    }
    b.op(Op::Free(0), "mm/vmscan.c: the caller frees the page", V1);
    let vm = b.finish();

    // regN.
    let mut b = Builder::new();
    b.op(
        Op::MmapSemLock,
        "caller of emm_notifier_register: mmap_sem for write",
        at,
    );
    if drain {
        b.op(Op::GateStop, DRAIN, OURS)
            // Pairs with the walker's smp_mb__after_atomic(): either the walker sees
            // emm_stopping or this drain sees its emm_active.
            .op(Op::Barrier(Barrier::Mb), DRAIN, OURS)
            .op(Op::GateDrain, DRAIN, OURS)
            // Pairs with the walkers' smp_mb__before_atomic(): what the drained windows did
            // (their zaps) is seen by this thread and by those it hands off to.
            .op(Op::Barrier(Barrier::Mb), DRAIN, OURS);
    }
    if seed {
        let (w, f, a) = walk(variant, Stop);
        b.op(w, f, a);
    }
    if drain {
        // The added line: the new notifier is stopped like the others, so the emm_start walk
        // below restarts exactly the notifiers it stopped.
        b.op(Op::CallOwn(Stop), DRAIN, OURS);
    }
    b.op(Op::LinkNext, REGISTER, at)
        .op(Op::Publish, REGISTER, at);
    if seed {
        let (w, f, a) = walk(variant, Start);
        b.op(w, f, a);
    }
    if drain {
        gate_resume(&mut b);
    }
    b.op(Op::MmapSemUnlock, "caller of emm_notifier_register", at);
    let reg = b.finish();

    // unregN (the seed's unregister; V2 has none).
    let mut b = Builder::new();
    if seed {
        b.op(
            Op::MmapSemLock,
            "caller of emm_notifier_unregister: mmap_sem for write",
            SEED,
        );
        if drain {
            b.op(Op::GateStop, DRAIN, OURS)
                .op(Op::Barrier(Barrier::Mb), DRAIN, OURS)
                .op(Op::GateDrain, DRAIN, OURS)
                .op(Op::Barrier(Barrier::Mb), DRAIN, OURS);
        }
        let (w, f, a) = walk(variant, Stop);
        b.op(w, f, a)
            .op(Op::Unlink, UNREGISTER, SEED)
            // Kept from the seed in ours: harmless once drained, no walk can stand on e.
            .op(Op::NextToHead, UNREGISTER, SEED);
        let (w, f, a) = walk(variant, Start);
        b.op(w, f, a).op(Op::CallOwn(Release), UNREGISTER, SEED);
        if drain {
            gate_resume(&mut b);
        }
        b.op(Op::MmapSemUnlock, "caller of emm_notifier_unregister", SEED)
            .op(
                Op::OwnerFree,
                "caller of emm_notifier_unregister: kfree(e)",
                SEED,
            );
    }
    let unreg = b.finish();

    // teardown: exit_mmap's broadcast (the V2 exit path; the seed's base keeps it).
    let mut b = Builder::new();
    if drain {
        gate_entry(&mut b);
    }
    let (w, _, _) = walk(variant, Release);
    b.op(w, EXIT, V2_EXIT);
    if drain {
        gate_exit(&mut b);
    }
    b.op(
        Op::FreeFrames,
        "mm/mmap.c: exit_mmap: unmap_vmas, free_pgtables",
        V2_EXIT,
    );
    let teardown = b.finish();

    // aging: page_referenced_one, under the rmap lock.
    let mut b = Builder::new();
    if drain {
        gate_entry(&mut b);
    }
    let (w, _, _) = walk(variant, ClearYoung);
    b.op(Op::RmapReadLock, "mm/rmap.c: page_referenced_anon", V1)
        .op(w, REFERENCED, V1)
        .op(Op::RmapReadUnlock, "mm/rmap.c: page_referenced_anon", V1);
    if drain {
        gate_exit(&mut b);
    }
    let aging = b.finish();

    Programs {
        vm,
        reg,
        unreg,
        drv: kvm_fault(KVM, Gup::Fast),
        teardown,
        aging,
        fault: Program::default(),
        oom: Program::default(),
        traits: traits(variant),
    }
}

/// How a KVM fault reads the primary PTE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gup {
    /// `get_user_pages()` under `mmap_sem` for read: `follow_page()` reads the PTE under the
    /// page table lock (v2.6.27's KVM: "implicit mb(), we'll read before PT lock is
    /// unlocked").
    Slow,
    /// `get_user_pages_fast()`, no lock held, after an `smp_rmb()` that orders the seq's
    /// load before the PTE's (4c2155ce81c1, v2.6.28).
    Fast,
}

/// The secondary MMU's fault, KVM's contract (e930bffe95e1; with `gup` as the version reads
/// the PTE): snapshot the seq, read the PTE, check and install under the driver's lock
/// (retrying from the snapshot if an invalidation is open or ended since).
pub(super) fn kvm_fault(at: &'static str, gup: Gup) -> Program {
    let mut b = Builder::new();
    b.label("fault").branch(
        Op::Snapshot,
        "end",
        "arch/x86/kvm/mmu.c: mmu_seq = kvm->mmu_notifier_seq",
        at,
    );
    match gup {
        Gup::Slow => {
            b.op(
                Op::ReadPteLocked,
                "virt/kvm/kvm_main.c: gfn_to_pfn: get_user_pages: follow_page",
                at,
            );
        }
        Gup::Fast => {
            b.op(
                Op::Barrier(Barrier::Rmb),
                "arch/x86/kvm/mmu.c: smp_rmb() (4c2155ce81c1)",
                at,
            )
            .op(
                Op::ReadPte,
                "virt/kvm/kvm_main.c: gfn_to_pfn: get_user_pages_fast",
                at,
            );
        }
    }
    b.branch(
        Op::CheckInstall,
        "fault",
        "arch/x86/kvm/mmu.c: spin_lock(mmu_lock); mmu_notifier_retry; install",
        at,
    )
    .label("end");
    b.finish()
}
