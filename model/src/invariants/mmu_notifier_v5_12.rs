//! The inductive invariant of `mmu-notifier@v5.12`: the conjuncts of
//! `proofs/proofs/mmu-notifier-v5.12.md`, in its order.

use super::context::Ctx;
use super::{bit, ensure, Check};
use crate::model::EmmModel;
use crate::state::{State, WalkPc};
use emm_proofs::Role;

/// The inductive invariant of `mmu-notifier@v5.12` (`proofs/proofs/mmu-notifier-v5.12.md`).
pub fn mmu_notifier_v5_12(m: &EmmModel, s: &State) -> Check {
    let c = Ctx::new(m, s)?;
    c.common()?;
    let l = c.linked;

    // Locks: each lock word is what the threads' pcs say they hold.
    let (mut mmap, mut rmap_read, mut rmap_write, mut spin) = (0u8, 0u8, 0u8, 0u8);
    for t in c.threads() {
        let at = c.at(t);
        mmap += at.mmap;
        rmap_read += at.rmap_read;
        rmap_write += at.rmap_write;
        spin += at.spin;
    }
    ensure!(mmap <= 1 && s.mmap_sem == (mmap == 1), "mmap_sem");
    // mm_take_all_locks() excludes every invalidation and aging pass: no reader while the
    // writer holds the rmap rwsem.
    ensure!(
        s.rmap_readers == rmap_read
            && rmap_write <= 1
            && s.rmap_writer == (rmap_write == 1)
            && !(s.rmap_writer && rmap_read > 0),
        "rmap"
    );
    ensure!(spin <= 1 && s.spin == (spin == 1), "spin");

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
                // register: e joins the chain (and the registered set) at hlist_add_head_rcu's
                // publish.
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
                // unregister: release first, then out of the chain and the registered set.
                // The grace period: once e is out of the chain, only readers that were already
                // inside a read side can hold it (a walk runs inside one); synchronize_srcu()'s
                // first half marks each of them, its second waits for them to leave.
                c.unregister_clauses(t, |other| c.holdable(other))?;
            }
            Role::Teardown => {
                let walk = lay.marks.release_walk;
                // No register runs any more: the release walk must call the whole chain.
                ensure!(th.wpc == WalkPc::Idle || th.must == l, "teardown");
                ensure!(c.all_released(th.called), "teardown");
                ensure!(th.pc <= walk || c.all_released(s.registered), "teardown");
            }
            Role::Vm | Role::Aging => {
                // Registration is excluded for the whole invalidation (or aging pass): the
                // chain only shrinks.
                ensure!(th.wpc == WalkPc::Idle || th.must == l, "walks");
            }
            Role::Drv | Role::Fault | Role::Oom => {}
        }
    }

    // Ends are lost only by notifiers that left the chain, all released; a notifier maps only
    // while linked.
    c.kvm_drivers(true, |n| l & bit(n) != 0)?;
    c.kvm_faults()
}
