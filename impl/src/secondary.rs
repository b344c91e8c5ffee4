//! The secondary MMU's side of the contract: KVM's invalidation count and sequence.
//!
//! # States and operations
//!
//! ```text
//!  lock        : the driver's lock (KVM's mmu_lock), over `mirror` and `in_progress`
//!  in_progress : invalidate_starts not yet matched by their invalidate_end
//!  seq         : bumped by every invalidate_end; read without the lock by read_begin
//!
//!  invalidate_start   lock; in_progress += 1; drop mirror entries in range; unlock
//!  invalidate_end     lock; seq += 1; in_progress -= 1; unlock
//!  release            lock; released = true; drop the whole mirror; unlock
//!  fault              s = read_begin()              (seq, before the page table is read)
//!                     pte = read the primary page table         (no lock held; may sleep)
//!                     lock; if released { unlock; give up }
//!                     if read_retry(s) { unlock; retry }        (in_progress > 0 || seq != s)
//!                     install pte in mirror; unlock
//! ```
//!
//! The fault installs a translation only if no invalidation was open at the check and none
//! ended since the snapshot, so any zap that could have made `pte` stale either happened
//! before the snapshot (and `pte` is the new entry) or has an `invalidate_start` still to come,
//! which drops the entry again before its frame is freed. This holds only if the notifier gets
//! every `invalidate_start`: that is the registry's half of the contract.
//!
//! ```
//! use emm::{Range, Secondary};
//! # if emm::sync::BACKEND != "std" { return; } // loom's and shuttle's locks run only under their checkers
//! let tlb: Secondary<Option<u64>> = Secondary::new(None);
//! let primary_pte = || 42; // read the primary page table
//! let frame = loop {
//!     let s = tlb.read_begin();
//!     let pte = primary_pte();
//!     let mut mirror = tlb.lock();
//!     if mirror.read_retry(s) {
//!         continue; // an invalidation overlapped the read: read again
//!     }
//!     *mirror = Some(pte);
//!     break pte;
//! };
//! assert_eq!(frame, 42);
//! ```

use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// A secondary MMU's mirror `M` of the primary page table, with the invalidation count and
/// sequence that make its fault path safe (KVM's `mmu_invalidate_in_progress` and
/// `mmu_invalidate_seq`).
pub struct Secondary<M> {
    locked: Mutex<Locked<M>>,
    /// Written only under `locked`; read without it by [`read_begin`](Secondary::read_begin).
    seq: AtomicU64,
}

struct Locked<M> {
    in_progress: i64,
    released: bool,
    mirror: M,
}

impl<M> fmt::Debug for Secondary<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secondary")
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A snapshot of the invalidation sequence, taken by [`Secondary::read_begin`] before the
/// primary page table is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadSeq(u64);

impl<M> Secondary<M> {
    /// A secondary MMU with `mirror` and no invalidation open.
    pub fn new(mirror: M) -> Self {
        Secondary {
            locked: Mutex::new(Locked {
                in_progress: 0,
                released: false,
                mirror,
            }),
            seq: AtomicU64::new(0),
        }
    }

    /// For [`Notifier::invalidate_start`](crate::Notifier::invalidate_start): opens an
    /// invalidation and returns the locked mirror, from which the caller drops the range.
    #[inline]
    pub fn invalidate_start(&self) -> SecondaryGuard<'_, M> {
        let mut guard = self.locked.lock();
        guard.in_progress += 1;
        SecondaryGuard {
            guard,
            seq: &self.seq,
        }
    }

    /// For [`Notifier::invalidate_end`](crate::Notifier::invalidate_end): bumps the sequence
    /// and closes the invalidation; returns the locked mirror. A negative
    /// [`in_progress`](SecondaryGuard::in_progress) afterwards means the registry sent an end
    /// without its start (KVM has `BUG_ON` there); it is left visible, not hidden.
    #[inline]
    pub fn invalidate_end(&self) -> SecondaryGuard<'_, M> {
        let mut guard = self.locked.lock();
        // Release: a fault whose read_begin sees the new value also sees the zap that
        // preceded this end walk when it reads the page table after it.
        self.seq
            .store(self.seq.load(Ordering::Relaxed) + 1, Ordering::Release);
        guard.in_progress -= 1;
        SecondaryGuard {
            guard,
            seq: &self.seq,
        }
    }

    /// For [`Notifier::release`](crate::Notifier::release): marks the secondary MMU released
    /// (for good) and returns the locked mirror, which the caller empties. A fault must check
    /// [`is_released`](SecondaryGuard::is_released) and install nothing once it is: the frames
    /// go as soon as teardown's `release` walk is done.
    pub fn release(&self) -> SecondaryGuard<'_, M> {
        let mut guard = self.locked.lock();
        guard.released = true;
        SecondaryGuard {
            guard,
            seq: &self.seq,
        }
    }

    /// Starts a fault: snapshots the sequence. Read the primary page table after this, then
    /// [`lock`](Secondary::lock) and check [`read_retry`](SecondaryGuard::read_retry). Needs no
    /// lock: the page-table read may run lock-free, as KVM's GUP-fast does.
    #[inline]
    pub fn read_begin(&self) -> ReadSeq {
        // Acquire (KVM: `mmu_seq = kvm->mmu_invalidate_seq; smp_rmb();`): pairs with the
        // release bump of `invalidate_end`, so a fault whose snapshot reads a sequence value
        // reads the page table after the zap that came before that end; without it a lock-free
        // page-table read may return the zapped entry while the snapshot already counts its
        // invalidation as ended, and the check lets the stale entry in (the loom test
        // `secondary_fault_needs_the_acquire_snapshot` finds that).
        ReadSeq(self.seq.load(Ordering::Acquire))
    }

    /// [`read_begin`](Self::read_begin) with its acquire weakened to a relaxed load: only for
    /// loom's test that the acquire is load-bearing.
    #[cfg(loom)]
    pub fn read_begin_relaxed(&self) -> ReadSeq {
        ReadSeq(self.seq.load(Ordering::Relaxed))
    }

    /// Locks the mirror.
    #[inline]
    pub fn lock(&self) -> SecondaryGuard<'_, M> {
        SecondaryGuard {
            guard: self.locked.lock(),
            seq: &self.seq,
        }
    }
}

/// The locked mirror of a [`Secondary`]; dereferences to `M`.
pub struct SecondaryGuard<'a, M> {
    guard: MutexGuard<'a, Locked<M>>,
    seq: &'a AtomicU64,
}

impl<M> fmt::Debug for SecondaryGuard<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecondaryGuard")
            .field("in_progress", &self.guard.in_progress)
            .finish_non_exhaustive()
    }
}

impl<M> SecondaryGuard<'_, M> {
    /// Whether a fault that took `s` before reading the page table must retry: an
    /// invalidation is open, or one ended since `s` (`mmu_invalidate_retry()`).
    #[inline]
    pub fn read_retry(&self, s: ReadSeq) -> bool {
        // Relaxed: `seq` only changes under the lock we hold.
        self.guard.in_progress > 0 || self.seq.load(Ordering::Relaxed) != s.0
    }

    /// Whether [`Secondary::release`] was called: the address space is going away (or the
    /// notifier was unregistered) and no mapping may be installed any more.
    pub fn is_released(&self) -> bool {
        self.guard.released
    }

    /// Open invalidations: `invalidate_start`s not yet matched by an `invalidate_end`.
    pub fn in_progress(&self) -> i64 {
        self.guard.in_progress
    }
}

impl<M> Deref for SecondaryGuard<'_, M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.guard.mirror
    }
}

impl<M> DerefMut for SecondaryGuard<'_, M> {
    fn deref_mut(&mut self) -> &mut M {
        &mut self.guard.mirror
    }
}
