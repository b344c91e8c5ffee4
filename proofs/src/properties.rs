//! The safety properties: each holds in every reachable state of a correct protocol.
//!
//! Every function here reads only the [`Observe`] view, so the model checks it on each model
//! state and the implementation's tests check it on each snapshot of the real registry. Each
//! property's meaning, the kernel source that states it and the mechanism that enforces it are
//! in its entry of the property table ([`Prop`]).

use crate::{Observe, Prop, Reason, Violation};

fn violated(property: Prop, reason: Reason) -> Result<(), Violation> {
    Err(Violation { property, reason })
}

/// [`Prop::NoStaleSecondary`]: no driver's mirror maps a freed frame.
pub fn no_stale_secondary<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if let Some(f) = v.mirror {
            if o.frame_freed(f) {
                return violated(
                    Prop::NoStaleSecondary,
                    Reason::StaleMirror {
                        notifier: n,
                        frame: f,
                    },
                );
            }
        }
    }
    Ok(())
}

/// [`Prop::StartEndBalanced`]: no driver's `in_progress` is negative. Like KVM, the check counts
/// rather than matches: an unmatched end that follows a start whose own end was legitimately
/// missed (a notifier unlinked by teardown) cancels out and is not seen.
pub fn start_end_balanced<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if v.in_progress < 0 {
            return violated(
                Prop::StartEndBalanced,
                Reason::EndWithoutStart {
                    notifier: n,
                    in_progress: v.in_progress,
                },
            );
        }
    }
    Ok(())
}

/// [`Prop::NoCallbackAfterUnregister`]: no callback runs, and no walk holds a pointer, on a
/// notifier whose `unregister` returned.
pub fn no_callback_after_unregister<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for i in 0..o.callback_count() {
        let c = o.callback(i);
        if o.notifier(c.notifier).unregistered {
            return violated(
                Prop::NoCallbackAfterUnregister,
                Reason::CallbackAfterUnregister(c),
            );
        }
    }
    for i in 0..o.walk_count() {
        let w = o.walk(i);
        if let Some(n) = w.holding {
            if o.notifier(n).unregistered {
                return violated(
                    Prop::NoCallbackAfterUnregister,
                    Reason::WalkHoldsUnregistered {
                        actor: w.actor,
                        callback: w.callback,
                        notifier: n,
                    },
                );
            }
        }
    }
    Ok(())
}

/// [`Prop::WalkIntegrity`]: no walk is about to call a notifier it already called, and no
/// finished walk skipped one that stayed linked throughout it (a walk abandoned by a failed
/// non-blocking start, whose invalidation zaps nothing, does not run to its end).
pub fn walk_integrity<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for i in 0..o.walk_count() {
        let w = o.walk(i);
        if let Some(n) = w.next_call {
            if w.called.contains(n) {
                return violated(
                    Prop::WalkIntegrity,
                    Reason::WalkRevisits {
                        actor: w.actor,
                        callback: w.callback,
                        notifier: n,
                    },
                );
            }
        }
        if w.finished && !w.abandoned {
            if let Some(n) = w.must_call.difference(w.called).next() {
                return violated(
                    Prop::WalkIntegrity,
                    Reason::WalkSkips {
                        actor: w.actor,
                        callback: w.callback,
                        notifier: n,
                    },
                );
            }
        }
    }
    Ok(())
}

/// [`Prop::StopStartPaired`]: stops and starts alternate, stop first, and no registered notifier
/// is stopped while no register or unregister runs.
pub fn stop_start_paired<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    let quiet = !o.registration_in_progress() && !o.unregistration_in_progress();
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if v.starts > v.stops {
            return violated(
                Prop::StopStartPaired,
                Reason::StartWithoutStop {
                    notifier: n,
                    stops: v.stops,
                    starts: v.starts,
                },
            );
        }
        if v.stops > v.starts + 1 {
            return violated(Prop::StopStartPaired, Reason::DoubleStop { notifier: n });
        }
        if quiet && v.registered && v.stops != v.starts {
            return violated(Prop::StopStartPaired, Reason::LeftStopped { notifier: n });
        }
    }
    Ok(())
}

/// [`Prop::ReleaseBeforeFree`]: once teardown freed the frames, every registered notifier has
/// received `release`.
pub fn release_before_free<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    if !o.teardown_freed_frames() {
        return Ok(());
    }
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if v.registered && v.releases == 0 {
            return violated(Prop::ReleaseBeforeFree, Reason::NoRelease { notifier: n });
        }
    }
    Ok(())
}

/// [`Prop::DeadlockFree`]: a state that is not final has an enabled step. In the model a step
/// that must block is disabled and every retry loop waits for another thread to move on, so its
/// state graph has no cycles (a test checks this) and "every state can step" is the same as
/// "every run finishes". A state after a memory fault is left to [`Prop::MemorySafe`]: the
/// thread that oopsed never steps again and the locks it held stay held, which is the oops's
/// consequence and not a wait of the protocol's.
pub fn deadlock_free<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    if o.is_final() || o.can_step() || o.memory_fault().is_some() {
        return Ok(());
    }
    let blocked = (0..o.callback_count()).map(|i| o.callback(i)).collect();
    violated(Prop::DeadlockFree, Reason::Deadlock { blocked })
}

/// [`Prop::MemorySafe`]: no step has dereferenced freed, `NULL` or poisoned memory.
pub fn memory_safe<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    match o.memory_fault() {
        Some(fault) => violated(Prop::MemorySafe, Reason::MemoryFault(fault)),
        None => Ok(()),
    }
}

/// [`Prop::NoStartLeftOpen`]: in a final state, every driver whose notifier is still
/// registered and has not been released counts no invalidation open. A released driver may
/// rightly miss ends ("missing an end is ok"), and an unregistered one is gone.
pub fn no_start_left_open<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    if !o.is_final() {
        return Ok(());
    }
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if v.registered && v.releases == 0 && v.in_progress != 0 {
            return violated(
                Prop::NoStartLeftOpen,
                Reason::StartLeftOpen {
                    notifier: n,
                    in_progress: v.in_progress,
                },
            );
        }
    }
    Ok(())
}

/// [`Prop::ReleaseAtMostOnce`]: no notifier receives `release` twice.
pub fn release_at_most_once<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if v.releases > 1 {
            return violated(
                Prop::ReleaseAtMostOnce,
                Reason::ReleasedTwice {
                    notifier: n,
                    releases: v.releases,
                },
            );
        }
    }
    Ok(())
}
