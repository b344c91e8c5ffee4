//! The test driver: a secondary MMU that follows the contract, with the model's fault path.

use super::ghost::Ghost;
use super::page_table::PageTable;
use super::PAGE;
use crate::notifier::{Notifier, Range};
use crate::secondary::Secondary;
use crate::space::Chain;
use crate::sync::{self, thread, Mutex};
use emm_proofs::{Callback, Event, FaultOutcome, FrameId, NotifierId, Op};
use std::fmt;
use std::sync::Arc;

/// How many times a fault reads the page table again before it gives up (installing
/// nothing, which is always safe). Bounded so that loom and shuttle explore finite runs.
pub(super) const FAULT_ATTEMPTS: usize = 3;

/// A secondary MMU that follows the contract: its mirror of [`PAGE`] lives in a
/// [`Secondary`], dropped on `invalidate_start` and `release` (after which it never installs
/// again), installed by [`fault`](TestDriver::fault) with the collision check.
///
/// Each callback records its delivery under the driver's lock, where it takes effect.
pub struct TestDriver {
    pub(super) index: NotifierId,
    pub(super) tlb: Secondary<Option<FrameId>>,
    pub(super) ghost: Arc<Ghost>,
    /// Under a protocol that stops notifiers: whether this one is stopped (between `emm_stop`
    /// and `emm_start`, the seed's driver must not install mappings).
    pub(super) stop: Option<StopGate>,
}

/// A driver's `emm_stop` state, which its fault's install waits on.
#[derive(Debug)]
pub(super) struct StopGate {
    pub(super) stopped: Mutex<bool>,
    pub(super) started: sync::Condvar,
}

impl StopGate {
    pub(super) fn new() -> StopGate {
        StopGate {
            stopped: Mutex::new(false),
            started: sync::Condvar::new(),
        }
    }
}

impl fmt::Debug for TestDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDriver")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl TestDriver {
    /// A driver of a protocol `C` notifier, known to the ghost as notifier `index`, mirroring
    /// `mirror` from the start.
    pub(super) fn new<C: Chain>(
        ghost: &Arc<Ghost>,
        registered: bool,
        mirror: Option<FrameId>,
    ) -> Arc<TestDriver> {
        let index = ghost.add_notifier(registered, mirror);
        Arc::new(TestDriver {
            index,
            tlb: Secondary::new(mirror),
            ghost: Arc::clone(ghost),
            stop: C::STOPS_NOTIFIERS.then(StopGate::new),
        })
    }

    /// The driver's notifier number in the spec's observation.
    pub fn index(&self) -> NotifierId {
        self.index
    }

    /// The fault path: snapshot, read the PTE, lock, retry check, install. Gives up (installs
    /// nothing) after a few collisions; returns whether it installed a mapping.
    ///
    /// The snapshot is taken under the driver's lock and only while no invalidation is open:
    /// one taken during an invalidation could only end in a retry, so the driver waits
    /// instead, as the model's fault does (and as KVM's `mmu_invalidate_retry_gfn_unsafe()`
    /// pre-check lets it).
    pub fn fault(&self, page_table: &PageTable) -> bool {
        for _ in 0..FAULT_ATTEMPTS {
            self.ghost.point();
            let s = {
                let mirror = self.tlb.lock();
                if mirror.is_released() {
                    // The address space is going away: its frames may already be freed.
                    self.ghost.record(&[Event::Snapshot { released: true }]);
                    return false;
                }
                if mirror.in_progress() > 0 {
                    drop(mirror);
                    thread::yield_now();
                    continue;
                }
                let s = self.tlb.read_begin();
                self.ghost.record(&[Event::Snapshot { released: false }]);
                s
            };
            let pte = page_table.read();
            self.ghost.point();
            // A stopped driver installs nothing until emm_start: the install waits, holding
            // the stop state so that no emm_stop comes between the wait and the install.
            let _running = self.stop.as_ref().map(|gate| {
                gate.started
                    .wait_while(gate.stopped.lock(), |stopped| *stopped)
            });
            let mut mirror = self.tlb.lock();
            if mirror.is_released() {
                self.ghost.record(&[Event::CheckInstall {
                    outcome: FaultOutcome::Released,
                }]);
                return false;
            }
            if mirror.read_retry(s) {
                self.ghost.record(&[Event::CheckInstall {
                    outcome: FaultOutcome::Retry,
                }]);
                drop(mirror);
                thread::yield_now();
                continue;
            }
            *mirror = pte;
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, true);
            self.ghost.record(&[Event::CheckInstall {
                outcome: FaultOutcome::Installed(pte),
            }]);
            return pte.is_some();
        }
        false
    }

    /// What an owner does before it unregisters, when the protocol sends no `release` on
    /// unregister: stop the device, drop the mirror.
    pub fn drop_mirror(&self) {
        self.ghost.point();
        let mut mirror = self.tlb.lock();
        *mirror = None;
        self.ghost
            .driver_changed(self.index, mirror.in_progress(), None, false);
        self.ghost.record(&[Event::Step(Op::DropMirror)]);
    }

    /// The driver's open invalidations.
    pub fn in_progress(&self) -> i64 {
        self.tlb.lock().in_progress()
    }

    /// Runs a callback's `body`, which records the delivery where the callback takes effect.
    pub(super) fn callback(&self, callback: Callback, body: impl FnOnce(Event)) {
        self.ghost.callback_enter(self.index, callback);
        body(Event::Deliver {
            callback,
            notifier: self.index,
        });
        self.ghost.callback_exit(self.index, callback);
    }

    pub(super) fn by_fault(&self) -> bool {
        self.ghost
            .read(|s| s.notifiers[self.index].installed_by_fault)
    }
}

impl Notifier for TestDriver {
    fn invalidate_start(&self, range: Range) {
        self.callback(Callback::InvalidateStart, |delivered| {
            let mut mirror = self.tlb.invalidate_start();
            if range.overlaps(&PAGE) {
                *mirror = None;
            }
            let by_fault = self.by_fault();
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, by_fault);
            self.ghost.record(&[delivered]);
        });
    }

    fn invalidate_end(&self, _range: Range) {
        self.callback(Callback::InvalidateEnd, |delivered| {
            let mirror = self.tlb.invalidate_end();
            let by_fault = self.by_fault();
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, by_fault);
            self.ghost.record(&[delivered]);
        });
    }

    /// The page is young in the mirror if the mirror maps it: KVM's `clear_flush_young`
    /// answers whether any spte in the range was accessed.
    fn clear_young(&self, range: Range) -> bool {
        let mut young = false;
        self.callback(Callback::ClearYoung, |delivered| {
            let mirror = self.tlb.lock();
            young = range.overlaps(&PAGE) && mirror.is_some();
            self.ghost.record(&[delivered]);
        });
        young
    }

    fn emm_stop(&self) {
        self.callback(Callback::Stop, |delivered| {
            let _stopped = self.stop.as_ref().map(|gate| {
                let mut stopped = gate.stopped.lock();
                *stopped = true;
                stopped
            });
            self.ghost.record(&[delivered]);
        });
    }

    fn emm_start(&self) {
        self.callback(Callback::Start, |delivered| {
            let _started = self.stop.as_ref().map(|gate| {
                let mut stopped = gate.stopped.lock();
                *stopped = false;
                gate.started.notify_all();
                stopped
            });
            self.ghost.record(&[delivered]);
        });
    }

    fn release(&self) {
        self.callback(Callback::Release, |delivered| {
            let mut mirror = self.tlb.release();
            *mirror = None;
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), None, false);
            self.ghost.record(&[delivered]);
        });
    }
}
