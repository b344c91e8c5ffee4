//! **Historical protocols, kept to show their bugs in real code. Do not use them.**
//!
//! Both are the EMM notifier chain of April 2008 as its patches read: a singly linked list
//! whose `head` and `next` pointers walks follow with no lock, changed by register and
//! unregister under `mmap_sem` for write.
//!
//! * [`RcuPublish`] (`emm@v2`, once `rcu-publish`): EMM V2 of 1 April 2008. Register
//!   publishes the new node at the head with `rcu_assign_pointer()`; the walker returns at the
//!   first notifier that answers nonzero; V2 had no unregister (the first was posted the next
//!   day), so this one only lets the owner drop its handle.
//! * [`EmmStopStart`] (`emm@stop-start`, once `emm-stop-start`): Christoph Lameter's
//!   "disable other notifiers before register and unregister" (the seed patch, on the
//!   accumulating walker of the 12:03 fixup): `emm_stop` over the chain, then the list change,
//!   then `emm_start` over the chain.
//!
//! Both lose an `invalidate_start`: a walk that read `head` before a registration published
//! the new node never calls it, yet that invalidation's zap and free can come after the new
//! notifier's driver read the page table. `emm-check check --variant emm@stop-start` prints
//! the interleaving; this crate's loom and shuttle suites find it in this code.
//!
//! Each pointer is an atomic pointer: walkers load it with `rcu_dereference()` (an `Acquire`
//! load), register publishes with `rcu_assign_pointer()` (a `Release` store), each access a
//! separate step for loom and shuttle. Loom checks the pairing: with the publish weakened to a
//! relaxed store (`RcuPublishRelaxedPublish`, loom only) it finds a walker reading the new
//! node's `next` before the node's initialisation is ordered before that read. Nodes live as
//! long as the list, so a walk that still holds an unlinked node reads valid memory here where
//! the kernel would read freed memory; the harness reports the call on an unregistered
//! notifier instead.

mod list;

#[cfg(loom)]
pub use list::RcuPublishRelaxedPublish;
pub use list::{EmmStopStart, RcuPublish};
