//! Each correct variant is correct because of its mechanism: take that mechanism out of its
//! programs and the checker finds the race it closes. This shows the model is not vacuous for
//! the variants whose verdict is "holds".

use emm_model::check::check_model;
use emm_model::check::CheckOptions;
use emm_model::program::{Op, Programs};
use emm_model::{Config, EmmModel, Variant};
use emm_proofs::Callback;
use emm_proofs::Prop;

/// The statuses of `variant` on `config` with `edit` applied to its programs.
fn violated_without(
    variant: Variant,
    config: Config,
    edit: impl FnOnce(&mut Programs),
) -> Vec<Prop> {
    let mut programs = Programs::new(variant, &config);
    edit(&mut programs);
    let model = EmmModel::with_programs(variant, config, programs);
    check_model(model, &CheckOptions::deterministic(true, false)).violated()
}

fn drop_ops(program: &mut Vec<Op>, ops: &[Op]) {
    let before = program.len();
    program.retain(|op| !ops.contains(op));
    assert!(program.len() < before, "the program had none of {ops:?}");
}

#[test]
fn take_all_locks_needs_synchronize_srcu_in_unregister() {
    let v = violated_without(Variant::TakeAllLocks, Config::default(), |p| {
        drop_ops(
            &mut p.unreg,
            &[Op::SynchronizeSrcuFlip, Op::SynchronizeSrcuWait],
        );
    });
    assert!(v.contains(&Prop::NoCallbackAfterUnregister), "{v:?}");
}

#[test]
fn take_all_locks_needs_mm_take_all_locks_in_register() {
    let v = violated_without(Variant::TakeAllLocks, Config::counts(1, 1, 1, 0), |p| {
        drop_ops(&mut p.reg, &[Op::TakeAllLocks, Op::DropAllLocks]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
    assert!(v.contains(&Prop::StartEndBalanced), "{v:?}");
}

#[test]
fn take_all_locks_needs_invalidations_to_hold_the_rmap_lock() {
    let v = violated_without(Variant::TakeAllLocks, Config::counts(1, 1, 1, 0), |p| {
        drop_ops(&mut p.vm, &[Op::RmapReadLock, Op::RmapReadUnlock]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
}

#[test]
fn the_drain_is_what_corrects_the_seed() {
    let v = violated_without(Variant::EmmStopDrainStart, Config::default(), |p| {
        drop_ops(&mut p.reg, &[Op::GateDrain]);
        drop_ops(&mut p.unreg, &[Op::GateDrain]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
}

#[test]
fn stopping_the_new_notifier_keeps_stop_and_start_paired() {
    let v = violated_without(Variant::EmmStopDrainStart, Config::default(), |p| {
        drop_ops(&mut p.reg, &[Op::CallOwn(Callback::Stop)]);
    });
    assert_eq!(v, vec![Prop::StopStartPaired]);
}

#[test]
fn interval_remove_needs_to_wait_for_the_invalidation() {
    let v = violated_without(Variant::IntervalSeq, Config::default(), |p| {
        drop_ops(&mut p.unreg, &[Op::ItreeRemoveWait]);
    });
    assert!(v.contains(&Prop::NoCallbackAfterUnregister), "{v:?}");
}

#[test]
fn a_kvm_driver_must_snapshot_seq_before_it_reads_the_pte() {
    // The classic driver bug: read the PTE, then take the snapshot. An invalidation that
    // starts and ends in between leaves the snapshot current and the PTE read stale.
    let v = violated_without(Variant::TakeAllLocks, Config::counts(1, 1, 1, 0), |p| {
        assert_eq!(p.drv, vec![Op::Snapshot, Op::ReadPte, Op::CheckInstall]);
        p.drv = vec![Op::ReadPte, Op::Snapshot, Op::CheckInstall];
    });
    assert_eq!(v, vec![Prop::NoStaleSecondary]);
}
