//! The inductive invariant of `ours@rcu-window`: the conjuncts of
//! `proofs/proofs/rcu-window.md`, in its order.

use super::context::Ctx;
use super::{bit, ensure, Check};
use crate::model::EmmModel;
use crate::state::{State, Thread, WalkPc, NIL};
use emm_proofs::Role;

/// The notifiers thread `th`'s open windows will still call from their snapshots: for each
/// level whose snapshot is taken, what is reachable from it.
fn snapshot_held(c: &Ctx<'_>, th: &Thread) -> u8 {
    (0..2u8).fold(0, |acc, level| {
        acc | c.snapshot_reach(th, level).unwrap_or(0)
    })
}

/// The inductive invariant of `ours@rcu-window` (`proofs/proofs/rcu-window.md`).
pub fn ours_rcu_window(m: &EmmModel, s: &State) -> Check {
    let c = Ctx::new(m, s)?;
    c.common()?;
    let l = c.linked;

    // Locks: walkers take none; the notifier lock is what the threads' pcs say they hold.
    let mut spin = 0u8;
    for t in c.threads() {
        let at = c.at(t);
        ensure!(
            at.mmap == 0 && at.rmap_read == 0 && at.rmap_write == 0,
            "spin"
        );
        spin += at.spin;
    }
    ensure!(
        spin <= 1 && s.spin == (spin == 1) && !s.mmap_sem && s.rmap_readers == 0 && !s.rmap_writer,
        "spin"
    );

    // registered: linked notifiers are registered; a registered notifier out of the chain was
    // unlinked by teardown, which released it first.
    ensure!(
        l & !s.registered == 0 && s.registered & !c.all == 0 && c.all_released(s.registered & !l),
        "registered"
    );

    // The new notifiers whose registrars are past the publish of hlist_add_head_rcu().
    let published = c
        .threads()
        .filter(|&t| c.role(t) == Role::Reg && s.threads[t].pc > c.layout(t).marks.link)
        .fold(0u8, |acc, t| acc | bit(m.actors()[t].notifier));

    for t in c.threads() {
        let th = &s.threads[t];
        let lay = c.layout(t);
        match c.role(t) {
            Role::Reg => {
                // register: e joins the chain (and the registered set) at the publish; until
                // then nothing points to it, no walk or snapshot holds it, no start reached it.
                let e = m.actors()[t].notifier;
                let link = lay.marks.link;
                let inside = (bit(e) & l != 0, bit(e) & s.registered != 0);
                if th.pc <= link {
                    ensure!(inside == (false, false), "register");
                    ensure!(
                        s.next[..c.nc].iter().all(|&x| x != e)
                            && c.threads().all(|u| {
                                let other = &s.threads[u];
                                (c.holdable(other) | snapshot_held(&c, other)) & bit(e) == 0
                            })
                            && s.drivers[e as usize].in_progress == 0,
                        "register"
                    );
                } else if th.pc < lay.len {
                    ensure!(inside == (true, true), "register");
                }
                // e's driver faults only once register returns: until then e maps nothing.
                if th.pc < lay.len {
                    ensure!(s.drivers[e as usize].mirror == NIL, "register");
                } else {
                    ensure!(inside.1, "register");
                }
                // The grace period: a window whose snapshot misses e while e is linked began
                // before e was published (teardown may unlink e once register returned), so it is a section synchronize_srcu()'s first half marked; its
                // second half waits for it, and register returns only once none is left.
                if th.pc > link {
                    let wait = lay.marks.sync_wait;
                    let slot = bit(m.grace_period_slot(t));
                    for u in c.threads() {
                        let other = &s.threads[u];
                        if c.role(u) != Role::Vm {
                            continue;
                        }
                        for level in 0..2u8 {
                            let Some(reach) = c.snapshot_reach(other, level) else {
                                continue;
                            };
                            if reach & bit(e) == 0 && l & bit(e) != 0 {
                                ensure!(
                                    th.pc < wait || (th.pc == wait && other.gp & slot != 0),
                                    "register_grace_period"
                                );
                            }
                        }
                    }
                }
            }
            Role::Unreg => {
                // unregister: release first, then out of the chain and the registered set.
                // The grace period: once e is out of the chain, only sections that were open
                // when synchronize_srcu() began can still reach it, from a node they stand on
                // or from their snapshot; its second half waits for them to leave.
                c.unregister_clauses(t, |other| c.holdable(other) | snapshot_held(&c, other))?;
            }
            Role::Teardown => {
                let walk = lay.marks.release_walk;
                // The release walk calls the whole chain as it finds it, all of it released.
                ensure!(c.all_released(th.called), "teardown");
                ensure!(th.pc <= walk || c.all_released(s.registered), "teardown");
                // exit_mmap() runs once every register has returned: nothing joins the chain.
                ensure!(th.wpc == WalkPc::Idle || th.must == l, "teardown");
            }
            Role::Vm => {
                // snapshot: a window's snapshot reaches every linked notifier but those
                // published since it was taken, whose registrars have not returned
                // (register_grace_period).
                for level in 0..2u8 {
                    if let Some(reach) = c.snapshot_reach(th, level) {
                        ensure!(l & !reach & !published == 0, "snapshot");
                    }
                }
                // A window's walk under way must call what its snapshot reaches and is still
                // linked: a notifier published since is not its to call.
                if th.wpc != WalkPc::Idle && th.depth > 0 {
                    let reach = c.snapshot_reach(th, th.depth - 1);
                    // What lies ahead is reachable from the snapshot, but for a cursor that
                    // was unlinked under the walk.
                    let cursor = if th.cursor == NIL { 0 } else { bit(th.cursor) };
                    let ahead = c.ahead(th);
                    ensure!(
                        reach.is_some_and(|r| th.must == r & l
                            && r & !(th.called | ahead) == 0
                            && ahead & !r & !cursor == 0
                            && cursor & !(r | !l) == 0),
                        "walks"
                    );
                }
            }
            Role::Aging | Role::Drv | Role::Fault | Role::Oom => {}
        }
    }

    // Ends are lost only by notifiers that left the chain, all released; a notifier maps only
    // while linked.
    c.kvm_drivers(true, |n| l & bit(n) != 0)?;
    c.kvm_faults()
}
