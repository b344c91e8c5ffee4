//! The reachability goals: states that a bounded run must reach, or its verdicts say nothing.
//!
//! A safety property can hold vacuously: if no registration ever overlaps an invalidation, a
//! model of the registration race proves nothing about it. Each goal names one overlap that the
//! races of `protocols.md` need; a configuration that could reach it but does not shows that the
//! model (or the implementation's scenario) is too weak there.

use crate::{Observe, Role};

/// A `register` runs while an invalidation is between its start and end walks: the race of
/// the seed patch, and the reason `mm_take_all_locks()` exists.
pub fn registration_overlaps_invalidation<O: Observe + ?Sized>(o: &O) -> bool {
    o.registration_in_progress() && o.invalidation_in_progress()
}

/// A driver installs a mirror entry through its fault path (snapshot, read the PTE, check and
/// install), so that [`no_stale_secondary`](crate::no_stale_secondary) has a mapping to judge.
pub fn secondary_mapping_installed<O: Observe + ?Sized>(o: &O) -> bool {
    (0..o.notifier_count()).any(|n| {
        let v = o.notifier(n);
        v.installed_by_fault && v.mirror.is_some()
    })
}

/// An `unregister` runs while a walk of an invalidation, an aging pass or teardown is under
/// way: the race that `synchronize_srcu()` in unregister closes. (The walks of register and
/// unregister themselves, `emm_stop`/`emm_start`, do not count.)
pub fn unregister_overlaps_walk<O: Observe + ?Sized>(o: &O) -> bool {
    o.unregistration_in_progress()
        && (0..o.walk_count()).any(|i| {
            let w = o.walk(i);
            !w.finished && !matches!(w.actor.role, Role::Reg | Role::Unreg)
        })
}

/// Teardown (`exit_mmap`) runs while an `unregister` is under way: the race between
/// `__mmu_notifier_release()` and `mmu_notifier_unregister()`.
pub fn teardown_overlaps_unregister<O: Observe + ?Sized>(o: &O) -> bool {
    o.teardown_in_progress() && o.unregistration_in_progress()
}
