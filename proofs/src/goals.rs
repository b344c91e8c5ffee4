//! The reachability goals: states that a bounded run must reach, or its verdicts say nothing.
//!
//! A safety property can hold vacuously: if no registration ever overlaps an invalidation, a
//! model of the registration race proves nothing about it. Each goal names one overlap that the
//! races of `protocols.md` need; a configuration that could reach it but does not shows that the
//! model (or the implementation's scenario) is too weak there.

use crate::{Observe, Role};

/// [`Prop::RegistrationOverlapsInvalidation`](crate::Prop::RegistrationOverlapsInvalidation): a
/// `register` runs while an invalidation is between its start and end walks.
pub fn registration_overlaps_invalidation<O: Observe + ?Sized>(o: &O) -> bool {
    o.registration_in_progress() && o.invalidation_in_progress()
}

/// [`Prop::SecondaryMappingInstalled`](crate::Prop::SecondaryMappingInstalled): a driver's mirror
/// maps a frame its own fault installed.
pub fn secondary_mapping_installed<O: Observe + ?Sized>(o: &O) -> bool {
    (0..o.notifier_count()).any(|n| {
        let v = o.notifier(n);
        v.installed_by_fault && v.mirror.is_some()
    })
}

/// [`Prop::UnregisterOverlapsWalk`](crate::Prop::UnregisterOverlapsWalk): an `unregister` runs
/// while a walk of an invalidation, an aging pass or teardown is under way (the walks of register
/// and unregister themselves, `emm_stop`/`emm_start`, do not count).
pub fn unregister_overlaps_walk<O: Observe + ?Sized>(o: &O) -> bool {
    o.unregistration_in_progress()
        && (0..o.walk_count()).any(|i| {
            let w = o.walk(i);
            !w.finished && !matches!(w.actor.role, Role::Reg | Role::Unreg)
        })
}

/// [`Prop::TeardownOverlapsUnregister`](crate::Prop::TeardownOverlapsUnregister): teardown
/// (`exit_mmap`) runs while an `unregister` is under way.
pub fn teardown_overlaps_unregister<O: Observe + ?Sized>(o: &O) -> bool {
    o.teardown_in_progress() && o.unregistration_in_progress()
}
