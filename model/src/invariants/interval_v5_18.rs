//! The inductive invariant of `interval@v5.18`: the conjuncts of
//! `proofs/proofs/interval-v5.18.md`, in its order.

use super::context::Ctx;
use super::layout::{phase, Phase};
use super::{bit, ensure, Check};
use crate::model::EmmModel;
use crate::program::Op;
use crate::state::{State, WalkPc, NIL};
use emm_proofs::Role;

/// The inductive invariant of `interval@v5.18` (`proofs/proofs/interval-v5.18.md`).
pub fn interval_v5_18(m: &EmmModel, s: &State) -> Check {
    let c = Ctx::new(m, s)?;
    c.common()?;
    let l = c.linked;
    let (di, dr) = (s.deferred_insert, s.deferred_remove);
    let odd = s.itree_seq & 1 == 1;

    let (mut spin, mut active, mut rmap) = (0u8, 0u8, 0u8);
    // The L holder inside mn_itree_inv_end's release: about to bump the seq, or applying the
    // deferred list after it.
    let (mut releasing, mut applying) = (false, false);
    for t in c.threads() {
        let at = c.at(t);
        spin += at.spin;
        active += at.itree;
        rmap += at.rmap_read;
        match m.program(t).get(s.threads[t].pc as usize) {
            Some(Op::ItreeSeqRelease) => releasing = true,
            Some(Op::ItreeDeferred) => applying = true,
            _ => {}
        }
    }
    ensure!(spin <= 1 && s.spin == (spin == 1), "spin");
    ensure!(
        s.rmap_readers == rmap && !s.rmap_writer && !s.mmap_sem,
        "rmap"
    );
    // itree: active counts the open windows; seq is odd only while one is open or the last
    // one is about to release it; deferred work waits only while seq is odd or the releaser
    // applies it (both under the lock).
    ensure!(
        s.itree_active == active
            // seq starts at 2 and only grows: an insert outside a round takes seq - 1.
            && s.itree_seq >= crate::interp::ITREE_INITIAL_SEQ
            && (!odd || active > 0 || releasing)
            && (!(releasing || applying) || (s.spin && active == 0))
            && (!releasing || odd)
            && (!applying || !odd)
            && ((di | dr) == 0 || odd || applying)
            && di & l == 0
            && dr & !l == 0
            && (di | dr) & !c.all == 0,
        "itree"
    );
    ensure!(s.registered == (l & !dr) | di, "registered");
    for n in 0..c.nc as u8 {
        let d = &s.drivers[n as usize];
        ensure!(d.seq <= s.itree_seq, "itree");
        ensure!((l | di) & bit(n) == 0 || d.seq & 1 == 1, "itree");
        // A deferred insert took the seq of the round it waits for (which the releaser may
        // just have ended).
        ensure!(
            di & bit(n) == 0
                || d.seq == s.itree_seq
                || (applying && d.seq.wrapping_add(1) == s.itree_seq),
            "itree"
        );
        ensure!(d.in_progress == 0, "drivers");
    }
    // A notifier is blocked while the current invalidation round has reached it (or it was
    // inserted during it): read_begin() waits, read_retry() fails.
    let blocked = |n: u8| odd && s.drivers[n as usize].seq == s.itree_seq;

    for t in c.threads() {
        let th = &s.threads[t];
        let lay = c.layout(t);
        // walks: a walk runs inside its window while seq is odd (its round), with the chain
        // frozen; the one exception is a walk that ItreeStartBody found empty, under the lock.
        let found_empty = th.wpc == WalkPc::Done && c.at(t).busy;
        ensure!(
            th.wpc == WalkPc::Idle || found_empty || (odd && th.slot == s.itree_seq),
            "walks"
        );
        ensure!(th.wpc == WalkPc::Idle || th.must == l, "walks");
        if matches!(th.wpc, WalkPc::Call | WalkPc::LoadNext) {
            ensure!(l & bit(th.cursor) != 0, "walks");
            ensure!(
                (0..c.nc as u8).all(|n| th.called & bit(n) == 0 || blocked(n)),
                "walks"
            );
        }
        // collision: once a window's walk is done, every notifier that can map is blocked
        // until the window closes.
        for w in &lay.windows {
            let open = th.pc > w.open && th.pc <= w.close;
            if open && phase(th, w.walk, w.resume.then_some(w.open)) == Phase::Complete {
                ensure!(
                    (0..c.nc as u8).all(|n| (l | di) & bit(n) == 0 || blocked(n)),
                    "collision"
                );
            }
        }
        match c.role(t) {
            Role::Reg => {
                let e = m.actors()[t].notifier;
                let insert = lay.marks.link;
                let placed = (l | di | s.registered) & bit(e) != 0;
                ensure!(placed == (th.pc > insert), "register");
            }
            Role::Unreg => {
                let e = m.own(s, t);
                let remove = lay.marks.unlink;
                // The owner dropped its mirror first; nothing maps it again.
                ensure!(
                    th.pc == 0 || s.drivers[e as usize].mirror == NIL,
                    "unregister"
                );
                if th.pc <= remove {
                    ensure!(
                        l & s.registered & bit(e) != 0 && dr & bit(e) == 0 && th.slot == 0,
                        "unregister"
                    );
                } else {
                    ensure!(s.registered & bit(e) == 0, "unregister");
                    let gone = (l | dr) & bit(e) == 0;
                    // Once the wait returned, the remove has been applied.
                    ensure!(th.pc <= lay.marks.remove_wait || th.slot == 0, "unregister");
                    if th.slot == 0 {
                        ensure!(gone, "unregister");
                    } else {
                        // A deferred remove: applied when the round it saw ends.
                        ensure!(th.slot & 1 == 1 && th.slot <= s.itree_seq, "unregister");
                        ensure!(
                            if s.itree_seq == th.slot {
                                dr & bit(e) != 0
                            } else {
                                // The round has ended: applied, or being applied under the
                                // lock that this remove's wait reads the seq under.
                                gone || (applying && s.itree_seq == th.slot.wrapping_add(1))
                            },
                            "unregister"
                        );
                    }
                }
            }
            Role::Drv => {
                let n = m.actors()[t].notifier;
                let d = &s.drivers[n as usize];
                // faults: read_begin() returns a seq of a round that has ended, or waits.
                let marks = lay.marks;
                if th.pc == marks.read_begin {
                    ensure!(th.slot == 0 && th.pte_read == NIL, "faults");
                } else if th.pc == marks.read_begin_wait {
                    ensure!(
                        th.slot & 1 == 1
                            && th.slot <= d.seq
                            && th.slot <= s.itree_seq
                            && th.pte_read == NIL,
                        "faults"
                    );
                } else if th.pc == marks.read_pte || th.pc == marks.read_retry {
                    ensure!(
                        th.slot & 1 == 1 && th.slot <= d.seq && th.slot < s.itree_seq,
                        "faults"
                    );
                    ensure!(th.pc == marks.read_retry || th.pte_read == NIL, "faults");
                    let passes = !d.released && d.seq == th.slot;
                    ensure!(
                        th.pc == marks.read_pte || !passes || th.pte_read == s.pte,
                        "faults"
                    );
                }
            }
            Role::Vm | Role::Teardown | Role::Aging | Role::Fault | Role::Oom => {}
        }
    }
    for n in 0..c.nc as u8 {
        let d = &s.drivers[n as usize];
        ensure!(!blocked(n) || d.mirror == NIL, "mirrors");
        if d.mirror != NIL {
            ensure!(
                d.mirror == s.pte && (l | di) & bit(n) != 0 && !d.released,
                "mirrors"
            );
        }
    }
    Ok(())
}
