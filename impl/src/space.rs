//! The address space: its notifier chain, registration handles and invalidation guards.
//!
//! [`AddressSpace`] is generic over the registration protocol ([`Chain`]) so that the
//! two production protocols ([`RcuWindow`](crate::RcuWindow), the default, and
//! [`TakeAllLocks`](crate::TakeAllLocks)) and the historical ones run behind one API and under
//! the same tests.

use crate::notifier::{Notifier, Range};
use emm_proofs::Variant;
use std::fmt;
use std::sync::Arc;

/// Identifies one registration on one address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationId(pub u64);

/// `register` was called after [`AddressSpace::teardown`]: the address space is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornDown;

impl fmt::Display for TornDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the address space has been torn down")
    }
}

impl std::error::Error for TornDown {}

/// The seal of [`Chain`]: only this crate's protocols implement it, so its trace-only methods
/// and its contract can change with the crate.
pub(crate) mod sealed {
    /// Implemented by this crate's protocols only.
    pub trait Sealed {}
}

/// A registration protocol: how the chain is published to walks, and how register,
/// unregister and teardown exclude or wait for the walks under way.
///
/// Sealed: implemented by [`RcuWindow`](crate::RcuWindow) (the default),
/// [`TakeAllLocks`](crate::TakeAllLocks) (the kernel's) and,
/// with the `check` feature, by the historical `emm::historical::EmmStopStart` and
/// `emm::historical::RcuPublish`.
pub trait Chain: sealed::Sealed + Send + Sync + Sized + 'static {
    /// The variant of the model that the protocol implements.
    const VARIANT: Variant;

    /// An open read side: what an invalidation holds from its `invalidate_start` walk to its
    /// `invalidate_end` walk, and what every walk runs under.
    type Window<'a>: Window
    where
        Self: 'a;

    /// An empty chain.
    fn new() -> Self;

    /// An empty chain that records its steps with `tracer` (see [`crate::trace`]).
    #[cfg(any(loom, feature = "trace"))]
    fn traced(tracer: Arc<dyn crate::trace::Tracer>) -> Self;

    /// Whether unregister calls the notifier's `release` (the historical `emm@v2` does not:
    /// its owner stops the device and drops the mirror before unregistering).
    const RELEASES_ON_UNREGISTER: bool = true;

    /// Whether register and unregister call `emm_stop`/`emm_start` on the notifiers (the
    /// historical `emm@stop-start`); a stopped driver must not install mappings.
    const STOPS_NOTIFIERS: bool = false;

    /// Whether every walk of a window starts from the snapshot of the chain its first walk
    /// loaded ([`RcuWindow`](crate::RcuWindow)): a notifier registered between a window's
    /// walks is then not its to call, and the window's end walk must reach only what its
    /// start walk could.
    const SNAPSHOT_WINDOWS: bool = false;

    /// Whether walks load the chain with acquire loads, which may read a link older than the
    /// last store to it ([`RcuWindow`](crate::RcuWindow) and the historical EMM list;
    /// [`TakeAllLocks`](crate::TakeAllLocks)' walks read under locks). Trace validation then
    /// accepts such a load if its link held that value since the last store ordered before it
    /// by a grace period's fence or by the loading thread itself
    /// (`emm_model::conformance::validate_weak`).
    const WEAK_LOADS: bool = false;

    /// Links `notifier`; once this returns, every invalidation whose `invalidate_start` walk
    /// has not yet begun will call it.
    fn register(&self, notifier: Arc<dyn Notifier>) -> Result<RegistrationId, TornDown>;

    /// Unlinks the registration and calls its `release` (unless teardown unlinked it first).
    /// Once this returns, no callback of the notifier runs or can start.
    fn unregister(&self, id: RegistrationId);

    /// Opens the read side of an invalidation (held from its `invalidate_start` walk to its
    /// `invalidate_end` walk) or of an aging walk: with it, the reverse-map lock the VM's rmap
    /// walk holds.
    fn window(&self) -> Self::Window<'_>;

    /// Teardown (`exit_mmap`): calls `release` on every linked notifier, then unlinks them
    /// all. Later registrations fail with [`TornDown`].
    fn teardown(&self);
}

/// The walks of a [`Chain`], run inside one open read side.
pub trait Window {
    /// Calls `invalidate_start(range)` on every linked notifier.
    fn invalidate_start(&self, range: Range);
    /// Calls `invalidate_end(range)` on every linked notifier.
    fn invalidate_end(&self, range: Range);
    /// Calls `clear_young(range)` on every linked notifier; whether any answered `true`.
    fn clear_young(&self, range: Range) -> bool;
}

/// An address space (mm): a primary page table that the caller owns, and the chain of
/// notifiers of the secondary MMUs that mirror it.
///
/// The VM side brackets every change of the primary page table with
/// [`invalidate`](AddressSpace::invalidate) (or the guard of
/// [`invalidate_range_start`](AddressSpace::invalidate_range_start)), and frees a frame only
/// after the bracket closes. The secondary side [`register`](AddressSpace::register)s a
/// [`Notifier`] and follows the fault protocol of [`Secondary`](crate::Secondary).
///
/// While a thread holds an invalidation open, it must not run
/// [`register`](AddressSpace::register), unregister or [`teardown`](AddressSpace::teardown)
/// on the same address space: they wait for the walks under way, its own among them.
/// [`RcuWindow`](crate::RcuWindow) and [`TakeAllLocks`](crate::TakeAllLocks) refuse them
/// there (and from inside a notifier callback, which runs inside a walk) with a panic that
/// says so, instead of deadlocking. With `TakeAllLocks` walks do not nest on one thread
/// either, except through [`Invalidation::nest`]: a registration queued between the thread's
/// two read locks would block the second, and the thread would wait on itself (as a kernel
/// thread would that took a reverse-map lock twice across `mm_take_all_locks()`), so it
/// refuses a second invalidation or [`clear_young`](AddressSpace::clear_young) walk with a
/// panic. `RcuWindow`'s walks take no lock and may open a second window.
///
/// # Callbacks that panic
///
/// With `RcuWindow` and `TakeAllLocks` a panic in a callback goes on to the caller that caused the
/// walk, and leaves the address space working: if an `invalidate_start` panics, the notifiers
/// that already got theirs get their `invalidate_end` before the panic leaves
/// [`invalidate_range_start`](AddressSpace::invalidate_range_start) (none is left with an
/// invalidation open); in every other walk the notifiers after the one that panicked still get
/// the callback; a `release` that panics in unregister or teardown still unlinks. No lock stays
/// held or poisoned. A callback that panics while its thread is already unwinding (in the end
/// walk of an invalidation whose zap panicked) aborts the process, as any such panic does. The
/// historical protocols are kept as the patches read, without this hardening.
pub struct AddressSpace<C: Chain = crate::RcuWindow> {
    chain: C,
}

impl<C: Chain> fmt::Debug for AddressSpace<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressSpace")
            .field("protocol", &C::VARIANT)
            .finish_non_exhaustive()
    }
}

impl<C: Chain> Default for AddressSpace<C> {
    fn default() -> Self {
        AddressSpace { chain: C::new() }
    }
}

impl<C: Chain> AddressSpace<C> {
    /// A new address space with no notifiers, shared so that registrations can refer to it.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A new address space whose protocol records every step it takes with `tracer`.
    #[cfg(any(loom, feature = "trace"))]
    pub fn with_tracer(tracer: Arc<dyn crate::trace::Tracer>) -> Arc<Self> {
        Arc::new(AddressSpace {
            chain: C::traced(tracer),
        })
    }

    /// The variant of the model that the protocol implements.
    pub fn protocol(&self) -> Variant {
        C::VARIANT
    }

    /// Registers `notifier`. From the return on, every invalidation that has not yet started
    /// its `invalidate_start` walk calls it, and no invalidation already under way can leave
    /// a window in which the notifier's secondary MMU could map a frame that is then freed.
    ///
    /// The registration lasts until [`Registration::unregister`] or the handle is dropped.
    pub fn register(
        self: &Arc<Self>,
        notifier: Arc<dyn Notifier>,
    ) -> Result<Registration<C>, TornDown> {
        let id = self.chain.register(notifier)?;
        Ok(Registration {
            space: Arc::clone(self),
            id,
            live: true,
        })
    }

    /// Runs `zap` (the change of the primary page table in `range`) between an
    /// `invalidate_start` walk and an `invalidate_end` walk. The end walk runs even if `zap`
    /// panics. Free the frames that `zap` unmapped only after this returns.
    pub fn invalidate<R>(&self, range: Range, zap: impl FnOnce(&Invalidation<'_, C>) -> R) -> R {
        let invalidation = self.invalidate_range_start(range);
        zap(&invalidation)
    }

    /// Opens an invalidation of `range`: walks `invalidate_start` over the chain and returns a
    /// guard whose drop walks `invalidate_end`. Nested invalidations go through
    /// [`Invalidation::nest`], which reuses this one's read side.
    pub fn invalidate_range_start(&self, range: Range) -> Invalidation<'_, C> {
        let window = self.chain.window();
        window.invalidate_start(range);
        Invalidation { window, range }
    }

    /// Aging: asks every notifier to clear its accessed bits in `range`; whether any was set.
    pub fn clear_young(&self, range: Range) -> bool {
        self.chain.window().clear_young(range)
    }

    /// Teardown (`exit_mmap`): calls `release` on every registered notifier, then unlinks
    /// them; the caller may free the address space's frames once this returns. Registration
    /// handles stay valid (their unregister then only waits) and new registrations fail.
    pub fn teardown(&self) {
        self.chain.teardown();
    }

    /// The protocol behind this address space.
    pub fn chain(&self) -> &C {
        &self.chain
    }
}

/// A live registration. [`unregister`](Registration::unregister) (or drop) unlinks the
/// notifier and returns only once none of its callbacks runs or can start, so the owner may
/// then free whatever the callbacks use.
pub struct Registration<C: Chain = crate::RcuWindow> {
    space: Arc<AddressSpace<C>>,
    id: RegistrationId,
    live: bool,
}

impl<C: Chain> fmt::Debug for Registration<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("protocol", &C::VARIANT)
            .finish()
    }
}

impl<C: Chain> Registration<C> {
    /// The registration's id.
    pub fn id(&self) -> RegistrationId {
        self.id
    }

    /// Unregisters: unlinks the notifier, calls its `release` (unless teardown already
    /// unlinked it), and waits until no callback of it runs or can start.
    ///
    /// # Panics
    ///
    /// * If `release` panics: the notifier is unlinked all the same, then the panic goes on.
    /// * With `RcuWindow` and `TakeAllLocks`, if the calling thread is inside a walk of the same
    ///   address space (in a notifier callback, or holding an invalidation open): waiting for
    ///   the walks would wait for its own. The notifier then stays linked until teardown;
    ///   unregister after the callback returns, or from another thread. (Dropping the handle
    ///   there panics the same way.) The historical protocols do not check: they deadlock.
    pub fn unregister(mut self) {
        self.live = false;
        self.space.chain.unregister(self.id);
    }
}

impl<C: Chain> Drop for Registration<C> {
    fn drop(&mut self) {
        if self.live {
            self.space.chain.unregister(self.id);
        }
    }
}

/// An open invalidation: its `invalidate_start` walk is done, and dropping it (or
/// [`end`](Invalidation::end)) runs the `invalidate_end` walk over the same read side.
#[must_use = "dropping the guard ends the invalidation at once"]
pub struct Invalidation<'a, C: Chain + 'a> {
    window: C::Window<'a>,
    range: Range,
}

impl<C: Chain> fmt::Debug for Invalidation<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invalidation")
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl<'a, C: Chain> Invalidation<'a, C> {
    /// The invalidated range.
    pub fn range(&self) -> Range {
        self.range
    }

    /// Opens an invalidation of `range` nested in this one (the kernel nests, for one, an
    /// invalidation of a huge page split inside an invalidation of its range). It walks the
    /// chain under this invalidation's read side, so it cannot wait on a registration that is
    /// itself waiting for this invalidation to end.
    pub fn nest(&self, range: Range) -> NestedInvalidation<'_, 'a, C> {
        self.window.invalidate_start(range);
        NestedInvalidation { root: self, range }
    }

    /// Ends the invalidation now: the `invalidate_end` walk.
    pub fn end(self) {}
}

impl<C: Chain> Drop for Invalidation<'_, C> {
    fn drop(&mut self) {
        self.window.invalidate_end(self.range);
    }
}

/// An invalidation nested in another; dropping it runs its `invalidate_end` walk.
#[must_use = "dropping the guard ends the invalidation at once"]
pub struct NestedInvalidation<'r, 'a, C: Chain + 'a> {
    root: &'r Invalidation<'a, C>,
    range: Range,
}

impl<C: Chain> fmt::Debug for NestedInvalidation<'_, '_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NestedInvalidation")
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl<'a, C: Chain> NestedInvalidation<'_, 'a, C> {
    /// The invalidated range.
    pub fn range(&self) -> Range {
        self.range
    }

    /// Opens a further invalidation nested in this one, under the same read side.
    pub fn nest(&self, range: Range) -> NestedInvalidation<'_, 'a, C> {
        self.root.window.invalidate_start(range);
        NestedInvalidation {
            root: self.root,
            range,
        }
    }

    /// Ends the nested invalidation now: its `invalidate_end` walk.
    pub fn end(self) {}
}

impl<C: Chain> Drop for NestedInvalidation<'_, '_, C> {
    fn drop(&mut self) {
        self.root.window.invalidate_end(self.range);
    }
}
