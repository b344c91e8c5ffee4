//! The primitives the steps are made of: lock admission, the delivery of a callback to a
//! driver, and the list operations (`hlist` and the EMM chain's unlink, the interval tree's
//! remove, the link at the head).

use crate::model::EmmModel;
use crate::program::{LockKind, ReaderAdmission};
use crate::state::{State, NIL, PPREV_HEAD, PPREV_NULL, PPREV_POISON};
use emm_proofs::{Callback, Family, FaultKind};

/// The bit of notifier (or frame) `n` in a set.
pub(super) fn bit(n: u8) -> u8 {
    1 << n
}

/// What a callback returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Returned {
    /// Zero, or nothing.
    Zero,
    /// Nonzero: `clear_young` found the page young.
    Nonzero,
    /// `-EAGAIN` (or `false` from an interval `invalidate()`): a non-blocking start that
    /// would have to sleep.
    Again,
}

impl EmmModel {
    /// Whether a new reader may take an rwsem with `readers` holding it and `waiting` writers
    /// queued (no writer holds it).
    pub(super) fn admits_reader(&self, readers: u8, waiting: u8) -> bool {
        match self.traits().readers {
            ReaderAdmission::BehindWriters => waiting == 0,
            ReaderAdmission::StealWhenFree => waiting == 0 || readers == 0,
        }
    }

    pub(super) fn rmap_exclusive(&self) -> bool {
        self.traits().rmap == LockKind::Exclusive
    }

    /// Whether the fault of notifier `n` fails a non-blocking start (`--oom-reaper`'s `n0`).
    pub(crate) fn fails_nonblock(&self, n: u8) -> bool {
        self.config.oom_reaper && n == 0
    }

    /// Whether a callback on notifier `n` must block: a stopped notifier blocks
    /// `invalidate_start` and `referenced` (the seed's `emm_stop`).
    pub(super) fn blocked(&self, s: &State, n: u8, cb: Callback) -> bool {
        s.drivers[n as usize].stopped
            && matches!(cb, Callback::InvalidateStart | Callback::ClearYoung)
    }

    /// Delivers `cb` to notifier `n`'s driver, which runs it under its lock, and returns what
    /// the callback returned. `nonblock`: a start that must not sleep.
    pub(super) fn deliver(
        &self,
        s: &mut State,
        n: u8,
        cb: Callback,
        cur_seq: u8,
        nonblock: bool,
    ) -> Returned {
        let interval = self.traits().family == Family::Interval;
        let fails = self.fails_nonblock(n);
        let d = &mut s.drivers[n as usize];
        match cb {
            // A notifier that cannot start without sleeping: -EAGAIN, and nothing done.
            Callback::InvalidateStart | Callback::Invalidate if nonblock && fails => {
                return Returned::Again
            }
            // The failing notifier counts nothing and has no invalidate_end (a notifier whose
            // start may fail must not implement end, c2655835fd8c): it drops its mirror.
            Callback::InvalidateStart if fails => d.mirror = NIL,
            Callback::InvalidateEnd if fails => {}
            Callback::InvalidateStart => {
                d.in_progress += 1;
                d.mirror = NIL;
            }
            Callback::InvalidateEnd => {
                d.in_progress -= 1;
                d.seq = d.seq.wrapping_add(1);
            }
            Callback::InvalidatePage => {
                // KVM's invalidate_page: seq++ and unmap, under mmu_lock.
                d.seq = d.seq.wrapping_add(1);
                d.mirror = NIL;
            }
            Callback::Invalidate => {
                // mmu_interval_set_seq(), then zap the mirror.
                d.seq = cur_seq;
                d.mirror = NIL;
            }
            Callback::Release => {
                if interval {
                    d.seq = cur_seq;
                }
                d.releases = d.releases.saturating_add(1);
                d.released = true;
                d.mirror = NIL;
            }
            Callback::ClearYoung => {
                if d.mirror != NIL {
                    return Returned::Nonzero;
                }
            }
            Callback::Stop => {
                d.stops = d.stops.saturating_add(1);
                d.stopped = true;
            }
            Callback::Start => {
                d.starts = d.starts.saturating_add(1);
                d.stopped = false;
            }
        }
        Returned::Zero
    }

    /// `__hlist_del(x)`: `*pprev = next; if (next) next->pprev = pprev`, or the fault if
    /// `pprev` is `NULL` or poisoned.
    pub(super) fn hlist_del(s: &mut State, x: u8) -> Result<(), FaultKind> {
        let (pprev, next) = (s.pprev[x as usize], s.next[x as usize]);
        match pprev {
            PPREV_NULL => return Err(FaultKind::Null),
            PPREV_POISON => return Err(FaultKind::Poison),
            PPREV_HEAD => s.head = next,
            k => s.next[k as usize] = next,
        }
        if next != NIL {
            s.pprev[next as usize] = pprev;
        }
        Ok(())
    }

    /// The seed's unlink of `e`: a search from the head with plain stores, which dereferences
    /// `NULL` if `e` is not in the list.
    pub(super) fn emm_unlink(s: &mut State, e: u8) -> Result<(), FaultKind> {
        let mut p = s.head;
        if p == e {
            s.head = s.next[e as usize];
            return Ok(());
        }
        for _ in 0..crate::config::MAX_NOTIFIERS + 1 {
            if p == NIL {
                return Err(FaultKind::Null);
            }
            if s.next[p as usize] == e {
                s.next[p as usize] = s.next[e as usize];
                return Ok(());
            }
            p = s.next[p as usize];
        }
        Err(FaultKind::Null)
    }

    /// An interval node out of the list, as `interval_tree_remove()` leaves it.
    pub(super) fn itree_remove(s: &mut State, n: u8) {
        if s.head == n {
            s.head = s.next[n as usize];
            return;
        }
        let mut p = s.head;
        for _ in 0..crate::config::MAX_NOTIFIERS {
            if p == NIL {
                return;
            }
            if s.next[p as usize] == n {
                s.next[p as usize] = s.next[n as usize];
                return;
            }
            p = s.next[p as usize];
        }
    }

    pub(super) fn link_at_head(s: &mut State, n: u8) {
        s.next[n as usize] = s.head;
        s.head = n;
    }
}
