//! The inductive invariant of `ours@emm-stop-drain-start`: the conjuncts of
//! `proofs/proofs/emm-stop-drain-start.md`, in its order.

use super::context::Ctx;
use super::layout::{phase, Phase};
use super::{bit, ensure, Check};
use crate::model::EmmModel;
use crate::state::{State, WalkPc};
use emm_proofs::Role;

/// The inductive invariant of `emm-stop-drain-start` (`proofs/proofs/emm-stop-drain-start.md`).
pub fn emm_stop_drain_start(m: &EmmModel, s: &State) -> Check {
    let c = Ctx::new(m, s)?;
    c.common()?;
    let l = c.linked;

    let (mut mmap, mut stopping, mut gate, mut rmap) = (0u8, 0u8, 0u8, 0u8);
    let (mut drained, mut inside) = (false, false);
    let mut holder = None;
    for t in c.threads() {
        let at = c.at(t);
        mmap += at.mmap;
        rmap += at.rmap_read;
        stopping += at.stopping;
        gate += at.gate as u8;
        drained |= at.drained;
        inside |= at.inside;
        if at.mmap > 0 {
            holder = Some(t);
        }
    }
    ensure!(mmap <= 1 && s.mmap_sem == (mmap == 1), "mmap_sem");
    // The 2008 anon_vma lock is a spinlock: one reclaim or aging pass holds it at a time.
    ensure!(
        rmap <= 1 && s.rmap_readers == rmap && !s.rmap_writer,
        "rmap"
    );
    // drain: emm_active counts the threads at or past the gate; emm_stopping is set by the
    // mmap_sem holder; once it has drained, no walk window is open.
    ensure!(
        s.emm_active == gate && stopping <= 1 && s.emm_stopping == (stopping == 1),
        "drain"
    );
    ensure!(!(drained && inside), "drain");

    // registered: the seed links and publishes under mmap_sem; teardown does not unlink.
    ensure!(s.registered == l, "registered");

    for t in c.threads() {
        let th = &s.threads[t];
        let lay = c.layout(t);
        match c.role(t) {
            Role::Reg => {
                let e = m.actors()[t].notifier;
                let link_next = lay.marks.link_next;
                let publish = lay.marks.link;
                ensure!((th.pc > publish) == (l & bit(e) != 0), "register");
                // Between e->next = head and the publish, nothing else moves head.
                ensure!(
                    th.pc <= link_next || th.pc > publish || s.next[e as usize] == s.head,
                    "register"
                );
            }
            Role::Unreg => {
                let e = m.own(s, t);
                let unlink = lay.marks.unlink;
                let release = lay.marks.release;
                ensure!((th.pc <= unlink) == (l & bit(e) != 0), "unregister");
                ensure!(
                    th.pc <= release || s.drivers[e as usize].released,
                    "unregister"
                );
            }
            _ => {}
        }
        // walks: every walk runs with the chain frozen, on linked notifiers.
        ensure!(th.wpc == WalkPc::Idle || th.must == l, "walks");
        ensure!(
            !matches!(th.wpc, WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext)
                || l & bit(th.cursor) != 0,
            "walks"
        );
    }

    // stop_start: which notifiers are stopped, from the register or unregister that holds
    // mmap_sem (its stop walk, the stretch between its walks, its start walk) and from the
    // notifiers unregistration took out of the chain stopped.
    let between = holder.map(|r| {
        let th = &s.threads[r];
        let marks = c.layout(r).marks;
        let stop = phase(th, marks.stop_walk, None);
        let start = phase(th, marks.start_walk, None);
        match (stop, start) {
            (Phase::InProgress, _) => th.called,
            (Phase::Complete, Phase::NotStarted) => l,
            (_, Phase::InProgress) => l & !th.called,
            _ => 0,
        }
    });
    for n in 0..c.nc as u8 {
        let expected = if l & bit(n) != 0 {
            between.unwrap_or(0) & bit(n) != 0
        } else {
            let unlinked_by_unregister = c
                .unregistrar_of(n)
                .is_some_and(|u| s.threads[u].pc > c.layout(u).marks.unlink);
            let stopped_before_link = c.registrar_of(n).is_some_and(|r| {
                let lay = c.layout(r);
                let pc = s.threads[r].pc;
                pc > lay.marks.own_stop && pc <= lay.marks.link
            });
            unlinked_by_unregister || stopped_before_link
        };
        ensure!(s.drivers[n as usize].stopped == expected, "stop_start");
    }

    // No end is ever lost: nothing leaves the chain while an invalidation is open. A notifier
    // maps while live: linked, or unlinked by its unregister that has not yet released it.
    let live = |n: u8| {
        l & bit(n) != 0
            || c.unregistrar_of(n).is_some_and(|u| {
                let lay = c.layout(u);
                let pc = s.threads[u].pc;
                pc > lay.marks.unlink && pc <= lay.marks.release
            })
    };
    c.kvm_drivers(false, live)?;
    // teardown: after its release walk, every notifier that can still map is released.
    for t in c.threads() {
        if c.role(t) != Role::Teardown {
            continue;
        }
        let walk = c.layout(t).marks.release_walk;
        ensure!(c.all_released(s.threads[t].called), "teardown");
        ensure!(
            s.threads[t].pc <= walk
                || (0..c.nc as u8).all(|n| !live(n) || s.drivers[n as usize].released),
            "teardown"
        );
    }
    c.kvm_faults()
}
