//! The inductive invariant of `take-all-locks`: the conjuncts of `proofs/proofs/take-all-locks.md`, in its order.

use super::context::Ctx;
use super::{bit, ensure, Check};
use crate::model::EmmModel;
use crate::state::{State, WalkPc};
use emm_proofs::Role;

/// The inductive invariant of `take-all-locks` (`proofs/proofs/take-all-locks.md`).
pub fn take_all_locks(m: &EmmModel, s: &State) -> Check {
    let c = Ctx::new(m, s)?;
    c.common()?;
    let l = c.linked;

    // Locks: each lock word is what the threads' pcs say they hold.
    let (mut mmap, mut rmap_read, mut rmap_write, mut spin, mut sync) = (0u8, 0u8, 0u8, 0u8, 0u8);
    let mut readers = [0u8; 2];
    for t in c.threads() {
        let th = &s.threads[t];
        let at = c.at(t);
        mmap += at.mmap;
        rmap_read += at.rmap_read;
        rmap_write += at.rmap_write;
        spin += at.spin;
        if at.srcu_read > 0 {
            ensure!(th.slot <= 1, "srcu");
            readers[th.slot as usize] += 1;
        }
        if at.srcu_sync > 0 {
            sync += 1;
            // It flipped the index: it waits for the readers of the other one.
            ensure!(th.slot == s.srcu_idx ^ 1, "srcu");
        }
    }
    ensure!(mmap <= 1 && s.mmap_sem == (mmap == 1), "mmap_sem");
    // mm_take_all_locks() excludes every invalidation: no reader while the writer holds them.
    ensure!(
        s.rmap_readers == rmap_read
            && rmap_write <= 1
            && s.rmap_writer == (rmap_write == 1)
            && !(s.rmap_writer && rmap_read > 0),
        "rmap"
    );
    ensure!(spin <= 1 && s.spin == (spin == 1), "spin");
    ensure!(
        s.srcu_idx <= 1
            && s.srcu_readers == readers
            && sync <= 1
            && s.srcu_sync == (sync == 1)
            // With no synchronize_srcu() under way, every reader has the current index.
            && (s.srcu_sync || readers[(s.srcu_idx ^ 1) as usize] == 0),
        "srcu"
    );

    // registered: linked notifiers are registered; a registered notifier out of the chain was
    // unlinked by teardown, which released it first.
    ensure!(
        l & !s.registered == 0 && s.registered & !c.all == 0 && c.all_released(s.registered & !l),
        "registered"
    );

    for t in c.threads() {
        let th = &s.threads[t];
        let lay = c.layout(t);
        match c.role(t) {
            Role::Reg => {
                // register: e joins the chain (and the registered set) at hlist_add_head_rcu.
                let e = m.actors()[t].notifier;
                let link = lay.marks.link;
                let inside = (bit(e) & l != 0, bit(e) & s.registered != 0);
                if th.pc <= link {
                    ensure!(inside == (false, false), "register");
                    // Never linked: nothing points to e, no walk stands on it, and no
                    // invalidate_start reached it, so linking it changes no walk's path.
                    ensure!(
                        s.next[..c.nc].iter().all(|&x| x != e)
                            && c.threads().all(|u| c.holdable(&s.threads[u]) & bit(e) == 0)
                            && s.drivers[e as usize].in_progress == 0,
                        "register"
                    );
                } else if th.pc < lay.len {
                    ensure!(inside == (true, true), "register");
                } else {
                    ensure!(inside.1, "register");
                }
            }
            Role::Unreg => {
                let e = m.own(s, t);
                let release = lay.marks.release;
                let del = lay.marks.unlink;
                let wait = lay.marks.sync_wait;
                // unregister: release first, then out of the chain and the registered set.
                ensure!(th.pc > del || s.registered & bit(e) != 0, "unregister");
                ensure!(
                    th.pc <= release || s.drivers[e as usize].released,
                    "unregister"
                );
                ensure!(
                    th.pc <= del || (s.registered | l) & bit(e) == 0,
                    "unregister"
                );
                // The grace period: once e is out of the chain, only readers that were
                // already inside can hold it; synchronize_srcu() waits for all of them.
                if th.pc == wait || th.pc == lay.len {
                    for u in c.threads() {
                        let other = &s.threads[u];
                        if c.holdable(other) & bit(e) != 0 {
                            ensure!(th.pc == wait && u != t, "srcu_grace_period");
                            ensure!(other.slot == th.slot, "srcu_grace_period");
                        }
                    }
                }
            }
            Role::Teardown => {
                let walk = lay.marks.release_walk;
                // No register runs any more: the release walk must call the whole chain.
                ensure!(th.wpc == WalkPc::Idle || th.must == l, "teardown");
                ensure!(c.all_released(th.called), "teardown");
                ensure!(th.pc <= walk || c.all_released(s.registered), "teardown");
            }
            Role::Vm => {
                // Registration is excluded for the whole invalidation: the chain only shrinks.
                ensure!(th.wpc == WalkPc::Idle || th.must == l, "walks");
            }
            Role::Drv | Role::Aging => {}
        }
    }

    // Ends are lost only by notifiers that left the chain, all released; a notifier maps only
    // while linked.
    c.kvm_drivers(true, |n| l & bit(n) != 0)?;
    c.kvm_faults()
}
