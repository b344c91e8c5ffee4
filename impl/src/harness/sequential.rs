//! The scenario's operations one at a time, for the state-machine test against the model.

use super::driver::TestDriver;
use super::ghost::Ghost;
use super::page_table::PageTable;
use super::scenario::{address_space, age, invalidate, register_initial, teardown, unregister};
use crate::notifier::Notifier;
use crate::space::{AddressSpace, Chain, Registration, TornDown};
use emm_proofs::{ActorId, FrameId, NotifierId, NotifierView, Observe, Role, Violation};
use std::fmt;
use std::sync::Arc;

/// The scenario's operations one at a time, on the calling thread: the implementation side of
/// the sequential state-machine test against the model's step semantics. Notifier numbers
/// follow the model: the initial notifiers first, then one per registrar, in registrar order.
pub struct Sequential<C: Chain> {
    pub(super) ghost: Arc<Ghost>,
    pub(super) page_table: PageTable,
    pub(super) mm: Arc<AddressSpace<C>>,
    pub(super) drivers: Vec<Arc<TestDriver>>,
    pub(super) registrations: Vec<Option<Registration<C>>>,
    pub(super) nested: bool,
}

impl<C: Chain> fmt::Debug for Sequential<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sequential")
            .field("protocol", &C::VARIANT)
            .field("notifiers", &self.drivers.len())
            .finish_non_exhaustive()
    }
}

impl<C: Chain> Sequential<C> {
    /// `notifiers` registered notifiers mirroring frame 0, and `registrations` more drivers
    /// ready to register; invalidations nest a second one if `nested`.
    pub fn new(notifiers: usize, registrations: usize, nested: bool) -> Sequential<C> {
        let ghost = Arc::new(Ghost::default());
        let page_table = PageTable::new(Arc::clone(&ghost));
        let mm: Arc<AddressSpace<C>> = address_space(&ghost);
        let (mut drivers, mut registrations_held): (Vec<_>, Vec<_>) =
            register_initial(&ghost, &mm, notifiers).into_iter().unzip();
        for _ in 0..registrations {
            drivers.push(TestDriver::new::<C>(&ghost, false, None));
            registrations_held.push(None);
        }
        Sequential {
            ghost,
            page_table,
            mm,
            drivers,
            registrations: registrations_held,
            nested,
        }
    }

    pub(super) fn act(&self, role: Role, index: usize) {
        self.ghost.bind(ActorId { role, index });
    }

    /// VM thread `vm`'s invalidation, to its free.
    pub fn invalidate(&mut self, vm: usize) {
        self.act(Role::Vm, vm);
        invalidate(&self.mm, &self.page_table, &self.ghost, self.nested);
    }

    /// Registers notifier `n` (one of the registrars' drivers).
    pub fn register(&mut self, n: NotifierId) -> Result<(), TornDown> {
        self.act(Role::Reg, n);
        self.ghost.will_register(n);
        let registration = self
            .mm
            .register(Arc::clone(&self.drivers[n]) as Arc<dyn Notifier>)?;
        self.ghost.update(|s| s.notifiers[n].registered = true);
        self.registrations[n] = Some(registration);
        Ok(())
    }

    /// Notifier `n`'s driver faults the page in; whether it installed a mapping.
    pub fn fault(&mut self, n: NotifierId) -> bool {
        self.act(Role::Drv, n);
        self.drivers[n].fault(&self.page_table)
    }

    /// Unregistrar `unreg` unregisters notifier `n`.
    ///
    /// # Panics
    /// If `n` is not registered.
    pub fn unregister(&mut self, unreg: usize, n: NotifierId) {
        self.act(Role::Unreg, unreg);
        let registration = self.registrations[n]
            .take()
            .expect("unregister a registered notifier");
        unregister(&self.ghost, &self.drivers[n], registration);
    }

    /// Teardown: `release` over the chain, then the frames are freed.
    pub fn teardown(&mut self) {
        self.act(Role::Teardown, 0);
        teardown(&self.mm, &self.page_table, &self.ghost);
    }

    /// One aging walk.
    pub fn clear_young(&mut self) {
        self.act(Role::Aging, 0);
        age(&self.mm, &self.ghost);
    }

    /// Notifier `n` as the spec observes it.
    pub fn notifier(&self, n: NotifierId) -> NotifierView {
        self.ghost.read(|s| s.notifier(n))
    }

    /// Whether frame `f` has been freed.
    pub fn frame_freed(&self, f: FrameId) -> bool {
        self.ghost.read(|s| s.frame_freed(f))
    }

    /// The violations seen so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.ghost.read(|s| s.violations.clone())
    }
}
