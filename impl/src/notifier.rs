//! What a secondary MMU implements: the [`Notifier`] callbacks, and the [`Range`] they get.

use emm_proofs::Callback;
use std::fmt;

/// A range of virtual addresses, `start..end` (end excluded), as the VM passes it to
/// `invalidate_range_start()`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Range {
    /// First address of the range.
    pub start: u64,
    /// First address past the range.
    pub end: u64,
}

impl Range {
    /// The range `start..end`.
    ///
    /// # Panics
    /// If `start > end`.
    pub fn new(start: u64, end: u64) -> Range {
        assert!(
            start <= end,
            "range {start:#x}..{end:#x} ends before it starts"
        );
        Range { start, end }
    }

    /// Every address: what teardown and a full flush invalidate.
    pub const ALL: Range = Range {
        start: 0,
        end: u64::MAX,
    };

    /// Whether `addr` lies in the range.
    #[inline]
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Whether the two ranges share an address.
    #[inline]
    pub fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end)
    }
}

/// The callbacks of one secondary MMU, registered on an [`AddressSpace`](crate::AddressSpace).
///
/// The contract is the kernel's `struct mmu_notifier_ops`:
///
/// * [`invalidate_start`](Notifier::invalidate_start) comes before the primary page table
///   changes any entry of `range`. From then until the matching
///   [`invalidate_end`](Notifier::invalidate_end) the secondary MMU must not establish a
///   mapping in `range`: the frame behind it is about to be freed. [`Secondary`](crate::Secondary)
///   implements that bookkeeping (KVM's `mmu_invalidate_in_progress`/`mmu_invalidate_seq`).
/// * Every `invalidate_end` follows an `invalidate_start` of the same range that this notifier
///   received. A start may be left without its end only if the notifier is unregistered, or the
///   address space torn down, in between ("missing an end is ok, missing a begin is never ok").
/// * Callbacks of one notifier run concurrently with each other (several invalidations run at
///   once, and may nest) and with the notifier's own fault path: the notifier serialises them
///   itself, under its own lock.
/// * Callbacks must not register or unregister notifiers on the same address space.
pub trait Notifier: Send + Sync {
    /// The primary page table is about to change entries of `range`: drop any secondary mapping
    /// of it and establish none until the matching `invalidate_end`.
    fn invalidate_start(&self, range: Range);

    /// The change of `range` that the matching `invalidate_start` announced is done; mappings
    /// may be established again once no other invalidation of the range is open. Optional, as
    /// in the kernel: interval-style notifiers act on the start alone.
    fn invalidate_end(&self, range: Range) {
        let _ = range;
    }

    /// Aging: clear the secondary MMU's accessed bits in `range` and say whether any was set
    /// (`clear_young`, EMM's `referenced`). Optional: a secondary MMU without accessed bits
    /// answers `false`.
    fn clear_young(&self, range: Range) -> bool {
        let _ = range;
        false
    }

    /// The address space is going away (teardown), or this notifier is being unregistered:
    /// drop every secondary mapping now and establish none afterwards (teardown frees the
    /// frames as soon as its release walk is done; [`Secondary::release`](crate::Secondary::release)
    /// keeps that state). May come more than once (teardown and unregister
    /// racing each other), as the kernel promises "at least once".
    fn release(&self) {}

    /// Historical EMM only ([`historical::EmmStopStart`](crate::historical::EmmStopStart)):
    /// this notifier has just been stopped (`emm_stop`). The chain itself blocks its
    /// `invalidate_start` and `clear_young` until [`emm_start`](Notifier::emm_start), as the
    /// seed asked each driver to; the production protocol never calls this.
    fn emm_stop(&self) {}

    /// Historical EMM only: this notifier is about to resume (`emm_start`); see
    /// [`emm_stop`](Notifier::emm_stop).
    fn emm_start(&self) {}
}

/// The walks of the hardened protocols, numbered for the word in which a walk records where a
/// panicking callback interrupted it (`TakeAllLocks`, `RcuWindow`).
pub(crate) const WALKS: [Callback; 4] = [
    Callback::InvalidateStart,
    Callback::InvalidateEnd,
    Callback::ClearYoung,
    Callback::Release,
];

/// Delivers `callback` to `notifier`; what `clear_young` answered.
#[inline]
pub(crate) fn deliver(notifier: &dyn Notifier, callback: Callback, range: Range) -> bool {
    match callback {
        Callback::InvalidateStart => notifier.invalidate_start(range),
        Callback::InvalidateEnd => notifier.invalidate_end(range),
        Callback::ClearYoung => return notifier.clear_young(range),
        Callback::Release => notifier.release(),
        // Not walks of these protocols.
        Callback::Invalidate | Callback::InvalidatePage | Callback::Stop | Callback::Start => {}
    }
    false
}
