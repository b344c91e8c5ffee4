//! The safety properties: each holds in every reachable state of a correct protocol.
//!
//! Every function here reads only the [`Observe`] view, so the model checks it on each model
//! state and the implementation's tests check it on each snapshot of the real registry. Each
//! one states its meaning, where the kernel states the guarantee, and the mechanism that
//! enforces it in the protocols that are correct.

use crate::{Observe, Reason, Violation};

fn violated(property: &'static str, reason: Reason) -> Result<(), Violation> {
    Err(Violation { property, reason })
}

/// No secondary MMU ever maps a frame that has been freed.
///
/// **Meaning.** Once the VM has freed a frame (after the `invalidate_end` walk of the
/// invalidation that zapped it, or at teardown), no driver's mirror may still point at it: the
/// device would read or write memory that the allocator has handed to someone else.
///
/// **Source.** `include/linux/mmu_notifier.h`, on `invalidate_range_start`/`_end`: "the
/// establishment of sptes is forbidden in the range passed to invalidate_range_begin/end for the
/// whole duration of the invalidate_range_begin/end critical section"; the KVM side is
/// `mmu_invalidate_retry()` in `include/linux/kvm_host.h`.
///
/// **Enforced by.** The driver's fault check (`in_progress > 0 || seq != s` retries, or
/// `mmu_interval_read_retry()`), which is sound only if the driver receives every
/// `invalidate_start` of every invalidation whose zap happens while it is registered: that is
/// what `mm_take_all_locks()` in register, the collision-retry sequence of interval notifiers,
/// or the drain of the corrected stop/start variant guarantee.
pub fn no_stale_secondary<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if let Some(f) = v.mirror {
            if o.frame_freed(f) {
                return violated(
                    "no_stale_secondary",
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

/// A notifier never receives an `invalidate_end` for an invalidation whose `invalidate_start`
/// it did not receive: its driver's `in_progress` never goes negative.
///
/// **Meaning.** The driver counts open invalidations; an unmatched end drives the count below
/// zero, after which its fault check lets a mapping through during a later invalidation. Like
/// KVM, the check counts rather than matches: an unmatched end that follows a start whose own
/// end was legitimately missed (a notifier unlinked by teardown) cancels out and is not seen.
///
/// **Source.** `virt/kvm/kvm_main.c`, `kvm_mmu_invalidate_end()`:
/// `BUG_ON(kvm->mmu_invalidate_in_progress < 0)`; `mmu_notifier.h`: "invalidate_range_start()
/// and invalidate_range_end() must be paired".
///
/// **Enforced by.** The same exclusion as [`no_stale_secondary`]: a notifier that joins the chain
/// while an invalidation is between its two walks must not be reached by that invalidation's end
/// walk (register waits for it under `mm_take_all_locks()`, interval notifiers are never sent an
/// end, the corrected stop/start variant drains invalidations before it links).
pub fn start_end_balanced<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if v.in_progress < 0 {
            return violated(
                "start_end_balanced",
                Reason::EndWithoutStart {
                    notifier: n,
                    in_progress: v.in_progress,
                },
            );
        }
    }
    Ok(())
}

/// Once `unregister(n)` has returned, no callback of `n` runs or starts, and no walk holds a
/// pointer to `n`.
///
/// **Meaning.** The owner frees the notifier as soon as `unregister` returns. A callback that
/// runs, a walk that holds a pointer to it and is about to call it, or a walk about to load its
/// `next`, uses freed memory.
///
/// **Source.** `mm/mmu_notifier.c`, `mmu_notifier_unregister()`: "only after
/// mmu_notifier_unregister returned we're guaranteed that ->release or any other method can't
/// run anymore".
///
/// **Enforced by.** `synchronize_srcu()` at the end of unregister (every walk that could still
/// see the notifier has left its SRCU read side); for interval notifiers, the wait in
/// `mmu_interval_notifier_remove()` for the invalidation sequence to move on; in the corrected
/// stop/start variant, the drain of all walks before the unlink.
pub fn no_callback_after_unregister<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for i in 0..o.callback_count() {
        let c = o.callback(i);
        if o.notifier(c.notifier).unregistered {
            return violated(
                "no_callback_after_unregister",
                Reason::CallbackAfterUnregister(c),
            );
        }
    }
    for i in 0..o.walk_count() {
        let w = o.walk(i);
        if let Some(n) = w.holding {
            if o.notifier(n).unregistered {
                return violated(
                    "no_callback_after_unregister",
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

/// One walk calls each notifier at most once, and calls every notifier that stayed linked in
/// the chain for the whole walk.
///
/// **Meaning.** A walk that calls a notifier twice sends it an extra `invalidate_start` (which
/// its end walk will not match) or a second `emm_stop`; a walk that skips a notifier that was in
/// the chain from its first to its last step withholds an `invalidate_start`.
///
/// **Source.** `hlist_for_each_entry_rcu()` in `mm/mmu_notifier.c` and its contract in
/// `include/linux/rculist.h`: a reader concurrent with `hlist_del_init_rcu()` /
/// `hlist_add_head_rcu()` sees each element that stays in the list exactly once, because
/// deletion keeps the forward pointer and insertion publishes a fully initialised node.
///
/// **Enforced by.** Unlinking with `hlist_del_init_rcu()` (the removed node's `next` still
/// leads forward) and freeing it only after a grace period. The EMM seed's unregister instead sets
/// `e->next = mm->emm_notifier`, so a walk standing on `e` goes back to the head.
pub fn walk_integrity<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    for i in 0..o.walk_count() {
        let w = o.walk(i);
        if let Some(n) = w.next_call {
            if w.called.contains(n) {
                return violated(
                    "walk_integrity",
                    Reason::WalkRevisits {
                        actor: w.actor,
                        callback: w.callback,
                        notifier: n,
                    },
                );
            }
        }
        if w.finished {
            if let Some(n) = w.must_call.difference(w.called).next() {
                return violated(
                    "walk_integrity",
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

/// Each notifier sees `emm_stop` and `emm_start` alternate, beginning with `emm_stop`, and none
/// stays stopped once the register or unregister that stopped it has returned.
///
/// **Meaning.** A driver implements `emm_stop` by blocking its callbacks and faults; a start
/// without a stop, or a second stop, breaks its bookkeeping, and a notifier left stopped blocks
/// every later invalidation that reaches it. Only stop/start variants send these callbacks.
///
/// **Source.** The seed patch (`../shared/seed/`): "emm_stop: Stops the notifier operations...
/// emm_start: Restart notifier operations", and "Subsystems are restarted after the lists have
/// been updated".
///
/// **Enforced by.** `emm_notifier_register()`/`_unregister()` sending `emm_stop` and then
/// `emm_start` to the same set of notifiers while holding `mmap_sem`.
pub fn stop_start_paired<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    let quiet = !o.registration_in_progress() && !o.unregistration_in_progress();
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if v.starts > v.stops {
            return violated(
                "stop_start_paired",
                Reason::StartWithoutStop {
                    notifier: n,
                    stops: v.stops,
                    starts: v.starts,
                },
            );
        }
        if v.stops > v.starts + 1 {
            return violated("stop_start_paired", Reason::DoubleStop { notifier: n });
        }
        if quiet && v.registered && v.stops != v.starts {
            return violated("stop_start_paired", Reason::LeftStopped { notifier: n });
        }
    }
    Ok(())
}

/// At teardown every notifier that is still registered receives `release` at least once
/// before the address space's frames are freed.
///
/// **Meaning.** `release` is the driver's last chance to drop every mirror entry and stop
/// faulting before the pages go away.
///
/// **Source.** `mm/mmu_notifier.c`, `__mmu_notifier_release()`: "->release returns, we can
/// guarantee ... the secondary MMU won't access the pages anymore"; `mmu_notifier.h`: release
/// "can run concurrently with ... unregister ... it may be called more than once" (at least
/// once, not exactly once).
///
/// **Enforced by.** `exit_mmap()` calling `mmu_notifier_release()` before `unmap_vmas()`.
pub fn release_before_free<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    if !o.teardown_freed_frames() {
        return Ok(());
    }
    for n in 0..o.notifier_count() {
        let v = o.notifier(n);
        if v.registered && v.releases == 0 {
            return violated("release_before_free", Reason::NoRelease { notifier: n });
        }
    }
    Ok(())
}

/// Every state that is not final has an enabled step.
///
/// **Meaning.** No set of threads waits on each other forever: a stopped notifier that nobody
/// will restart, a lock that nobody will release, a grace period that a blocked reader holds
/// open. A fault that can only retry (KVM's `in_progress` still raised) also counts: the model
/// makes it wait instead of spinning, so a count that never drops shows up here as a driver
/// that can never fault again. In the model a step that must block is disabled, and every
/// retry loop waits for
/// another thread to move on (a seq that changed, a flag that was cleared), so its state graph
/// has no cycles (a test checks this) and "every state can step" is the same as "every run
/// finishes".
///
/// **Source.** Lockdep's annotations in `mm/mmu_notifier.c`
/// (`__mmu_notifier_invalidate_range_start_map`) that catch callbacks blocking on what
/// unregister holds; the seed's rule that `emm_stop` must wait for open `invalidate_start`s.
///
/// **Enforced by.** Lock ordering (`mmap_sem`, then the reverse-map locks, then the notifier
/// lock), SRCU read sides that never block on the writer, and in stop/start variants
/// restarting exactly the notifiers that were stopped.
pub fn deadlock_free<O: Observe + ?Sized>(o: &O) -> Result<(), Violation> {
    if o.is_final() || o.can_step() {
        return Ok(());
    }
    let blocked = (0..o.callback_count()).map(|i| o.callback(i)).collect();
    violated("deadlock_free", Reason::Deadlock { blocked })
}
