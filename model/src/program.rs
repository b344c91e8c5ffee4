//! Each actor's program: the kernel steps it takes, in order, for each variant.
//!
//! A thread's program counter indexes its program. A [`Op::Walk`] is several steps (load the
//! head, call one notifier, load its `next`, ...), tracked by the thread's walk position. Every
//! other op is one step. Where two kernel statements are merged into one op, the op says why
//! that is sound: the merged part only touches memory that no other thread can write at that
//! moment (a lock the thread holds protects it, or it is not yet published).

use crate::config::{Config, Variant};
use emm_proofs::Callback;
pub use emm_proofs::Op;

/// The programs of every role for one variant and configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programs {
    /// A VM thread's invalidation (with the nested one inside, if configured).
    pub vm: Vec<Op>,
    /// A registrar's `register`.
    pub reg: Vec<Op>,
    /// An unregistrar's `unregister`.
    pub unreg: Vec<Op>,
    /// A newly registered notifier's driver: one fault of the page.
    pub drv: Vec<Op>,
    /// `exit_mmap`.
    pub teardown: Vec<Op>,
    /// The aging walk.
    pub aging: Vec<Op>,
}

/// The drain's entry to a walk window: count in, check `emm_stopping`, and if set back off and
/// wait, then try again from `GateEnter`. The interpreter's jumps (past the back-off, back to
/// the count) are found by [`position_from`] and [`position_before`], not by offsets.
const GATE_ENTRY: [Op; 4] = [Op::GateEnter, Op::GateCheck, Op::GateBackoff, Op::GateWait];

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

fn walk(callback: Callback) -> Op {
    Op::Walk {
        callback,
        resume: false,
    }
}

/// One invalidation at `level`, with `inner` nested between its start walk and its zap.
fn invalidation(variant: Variant, level: u8, inner: &[Op]) -> Vec<Op> {
    use Callback::{Invalidate, InvalidateEnd, InvalidateStart};
    let mut p = Vec::new();
    match variant {
        Variant::RcuPublish | Variant::EmmStopStart | Variant::EmmStopDrainStart => {
            // rcu_read_lock() around the walks is not modelled: nothing in these variants
            // waits for a grace period, so it constrains no interleaving.
            p.push(walk(InvalidateStart));
            p.extend_from_slice(inner);
            p.push(Op::Zap(level));
            p.push(walk(InvalidateEnd));
        }
        Variant::TakeAllLocks => {
            p.extend([
                Op::RmapReadLock,
                Op::SrcuReadLock,
                walk(InvalidateStart),
                Op::SrcuReadUnlock,
            ]);
            p.extend_from_slice(inner);
            p.extend([
                Op::Zap(level),
                Op::SrcuReadLock,
                walk(InvalidateEnd),
                Op::SrcuReadUnlock,
                Op::RmapReadUnlock,
            ]);
        }
        Variant::IntervalSeq => {
            p.extend([
                Op::SpinLock,
                Op::ItreeStartBody,
                Op::SpinUnlock,
                Op::Walk {
                    callback: Invalidate,
                    resume: true,
                },
            ]);
            p.extend_from_slice(inner);
            p.extend([
                Op::Zap(level),
                Op::SpinLock,
                Op::ItreeEndBody,
                Op::SpinUnlock,
            ]);
        }
    }
    p
}

impl Programs {
    /// Builds the programs of `variant` for `config`.
    pub fn new(variant: Variant, config: &Config) -> Programs {
        use Callback::{ClearYoung, Release, Start, Stop};
        let vm = {
            let inner = if config.nested {
                let mut inner = invalidation(variant, 1, &[]);
                inner.push(Op::Free(1));
                inner
            } else {
                Vec::new()
            };
            let mut p = Vec::new();
            if variant == Variant::EmmStopDrainStart {
                p.extend(GATE_ENTRY);
            }
            p.extend(invalidation(variant, 0, &inner));
            if variant == Variant::EmmStopDrainStart {
                p.push(Op::GateExit);
            }
            p.push(Op::Free(0));
            p
        };
        let kvm_fault = vec![Op::Snapshot, Op::ReadPte, Op::CheckInstall];
        match variant {
            Variant::RcuPublish => Programs {
                vm,
                reg: vec![
                    Op::MmapSemLock,
                    Op::LinkNext,
                    Op::Publish,
                    Op::MmapSemUnlock,
                ],
                unreg: vec![
                    Op::DropMirror,
                    Op::MmapSemLock,
                    Op::Unlink,
                    Op::MmapSemUnlock,
                ],
                drv: kvm_fault,
                teardown: vec![walk(Release), Op::FreeFrames],
                aging: vec![walk(ClearYoung)],
            },
            Variant::EmmStopStart => Programs {
                vm,
                reg: vec![
                    Op::MmapSemLock,
                    walk(Stop),
                    Op::LinkNext,
                    Op::Publish,
                    walk(Start),
                    Op::MmapSemUnlock,
                ],
                unreg: vec![
                    Op::MmapSemLock,
                    walk(Stop),
                    Op::Unlink,
                    Op::NextToHead,
                    walk(Start),
                    Op::CallOwn(Release),
                    Op::MmapSemUnlock,
                ],
                drv: kvm_fault,
                teardown: vec![walk(Release), Op::FreeFrames],
                aging: vec![walk(ClearYoung)],
            },
            Variant::EmmStopDrainStart => Programs {
                vm,
                reg: vec![
                    Op::MmapSemLock,
                    Op::GateStop,
                    Op::GateDrain,
                    walk(Stop),
                    // The added line: the new notifier is stopped like the others, so the
                    // emm_start walk below restarts exactly the notifiers it stopped.
                    Op::CallOwn(Stop),
                    Op::LinkNext,
                    Op::Publish,
                    walk(Start),
                    Op::GateResume,
                    Op::MmapSemUnlock,
                ],
                unreg: vec![
                    Op::MmapSemLock,
                    Op::GateStop,
                    Op::GateDrain,
                    walk(Stop),
                    Op::Unlink,
                    // Kept from the seed. Harmless once drained: no walk can stand on `e`.
                    Op::NextToHead,
                    walk(Start),
                    Op::CallOwn(Release),
                    Op::GateResume,
                    Op::MmapSemUnlock,
                ],
                drv: kvm_fault,
                teardown: [
                    &GATE_ENTRY[..],
                    &[walk(Release), Op::GateExit, Op::FreeFrames],
                ]
                .concat(),
                aging: [&GATE_ENTRY[..], &[walk(ClearYoung), Op::GateExit]].concat(),
            },
            Variant::TakeAllLocks => Programs {
                vm,
                reg: vec![
                    Op::MmapSemLock,
                    Op::TakeAllLocks,
                    Op::SpinLock,
                    Op::HlistAddHeadRcu,
                    Op::SpinUnlock,
                    Op::DropAllLocks,
                    Op::MmapSemUnlock,
                ],
                unreg: vec![
                    Op::CheckHashed,
                    Op::SrcuReadLock,
                    Op::CallOwn(Release),
                    Op::SrcuReadUnlock,
                    Op::SpinLock,
                    Op::HlistDelInitRcu,
                    Op::SpinUnlock,
                    Op::SynchronizeSrcuFlip,
                    Op::SynchronizeSrcuWait,
                ],
                drv: kvm_fault,
                teardown: vec![
                    Op::SrcuReadLock,
                    walk(Release),
                    Op::SpinLock,
                    Op::UnlinkAll,
                    Op::SpinUnlock,
                    Op::SrcuReadUnlock,
                    Op::SynchronizeSrcuFlip,
                    Op::SynchronizeSrcuWait,
                    Op::FreeFrames,
                ],
                aging: vec![Op::SrcuReadLock, walk(ClearYoung), Op::SrcuReadUnlock],
            },
            Variant::IntervalSeq => Programs {
                vm,
                reg: vec![Op::SpinLock, Op::ItreeInsertBody, Op::SpinUnlock],
                unreg: vec![
                    Op::DropMirror,
                    Op::SpinLock,
                    Op::ItreeRemoveBody,
                    Op::SpinUnlock,
                    Op::ItreeRemoveWait,
                ],
                drv: vec![
                    Op::ReadBegin,
                    Op::ReadBeginWait,
                    Op::ReadPte,
                    Op::ReadRetryInstall,
                ],
                // exit_mmap(): mn_itree_release() is an invalidation with MMU_NOTIFY_RELEASE
                // over everything; then unmap_vmas() clears the PTEs inside an ordinary
                // invalidation, and the pages are freed after it ends.
                teardown: vec![
                    Op::SpinLock,
                    Op::ItreeStartBody,
                    Op::SpinUnlock,
                    Op::Walk {
                        callback: Release,
                        resume: true,
                    },
                    Op::SpinLock,
                    Op::ItreeEndBody,
                    Op::SpinUnlock,
                    Op::SpinLock,
                    Op::ItreeStartBody,
                    Op::SpinUnlock,
                    Op::Walk {
                        callback: Callback::Invalidate,
                        resume: true,
                    },
                    Op::UnmapPte,
                    Op::SpinLock,
                    Op::ItreeEndBody,
                    Op::SpinUnlock,
                    Op::Free(0),
                ],
                aging: Vec::new(),
            },
        }
    }
}
