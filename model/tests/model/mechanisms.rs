//! Each correct version is correct because of its mechanism: take that mechanism out of its
//! programs and the checker finds the race it closes. This shows the model is not vacuous for
//! the versions whose verdict is "holds".

use emm_model::check::{check_model, CheckOptions};
use emm_model::program::{Builder, Op, Programs};
use emm_model::{Config, EmmModel, Variant};
use emm_proofs::Callback;
use emm_proofs::Prop;

/// The properties `variant` violates on `config` with `edit` applied to its programs.
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

/// The same configuration holds on the version's own programs: the edit is what breaks it.
fn holds(variant: Variant, config: Config) {
    let r = emm_model::check(variant, config, &CheckOptions::deterministic(true, false));
    assert_eq!(
        r.verdict,
        emm_model::Verdict::Holds,
        "{variant}: {:?}",
        r.violated()
    );
}

#[test]
fn v5_12_needs_synchronize_srcu_in_unregister() {
    holds(Variant::MmuNotifierV5_12, Config::default());
    let v = violated_without(Variant::MmuNotifierV5_12, Config::default(), |p| {
        p.unreg = p
            .unreg
            .without(&[Op::SynchronizeStart, Op::SynchronizeWait]);
    });
    assert!(v.contains(&Prop::NoCallbackAfterUnregister), "{v:?}");
    assert!(v.contains(&Prop::MemorySafe), "{v:?}");
}

#[test]
fn v5_12_needs_mm_take_all_locks_in_register() {
    let config = Config::counts(1, 1, 1, 0);
    holds(Variant::MmuNotifierV5_12, config);
    let v = violated_without(Variant::MmuNotifierV5_12, config, |p| {
        p.reg = p.reg.without(&[Op::TakeAllLocks, Op::DropAllLocks]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
    assert!(v.contains(&Prop::StartEndBalanced), "{v:?}");
}

#[test]
fn v5_12_needs_reclaim_to_hold_the_rmap_lock() {
    let v = violated_without(Variant::MmuNotifierV5_12, Config::counts(1, 1, 1, 0), |p| {
        p.vm = p.vm.without(&[Op::RmapReadLock, Op::RmapReadUnlock]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
}

#[test]
fn v5_12_needs_the_unwind_walk() {
    // c2655835fd8c: without the second walk, a failed non-blocking start leaves the counting
    // notifier's invalidation open: v4.19's race B.
    let config = Config {
        oom_reaper: true,
        ..Config::counts(0, 2, 0, 0)
    };
    holds(Variant::MmuNotifierV5_12, config);
    let v = violated_without(Variant::MmuNotifierV5_12, config, |p| {
        let unwind = Op::walk(Callback::InvalidateEnd);
        let at = p
            .oom
            .ops
            .iter()
            .position(|op| *op == Op::SkipUnwind)
            .unwrap();
        assert_eq!(
            p.oom.ops[at + 1],
            unwind,
            "the unwind walk follows its test"
        );
        p.oom = p.oom.without_steps(&[at, at + 1]);
    });
    assert!(v.contains(&Prop::NoStartLeftOpen), "{v:?}");
}

#[test]
fn v3_10_needs_release_before_the_unlink() {
    // Unregister's ->release after hlist_del_init_rcu instead of before (v3.9's order): an
    // invalidation that no longer sees the notifier frees the page its driver still maps.
    let config = Config::counts(1, 1, 0, 1);
    holds(Variant::MmuNotifierV3_10, config);
    let v = violated_without(Variant::MmuNotifierV3_10, config, |p| {
        let ops = &p.unreg.ops;
        let release = ops
            .iter()
            .position(|op| *op == Op::CallOwn(Callback::Release))
            .unwrap();
        let del = ops
            .iter()
            .position(|op| *op == Op::HlistDelInitRcu)
            .unwrap();
        p.unreg.ops.swap(release, del);
        p.unreg.sources.swap(release, del);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
}

#[test]
fn v6_4_needs_vma_start_write_in_mm_take_all_locks() {
    let config = Config {
        vma_faults: 1,
        ..Config::counts(0, 0, 1, 0)
    };
    holds(Variant::MmuNotifierV6_4, config);
    let v = violated_without(Variant::MmuNotifierV6_4, config, |p| {
        p.reg = p.reg.without(&[Op::VmaStartWrite, Op::VmaEndWriteAll]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
    assert!(v.contains(&Prop::StartEndBalanced), "{v:?}");
}

#[test]
fn interval_v5_18_needs_to_read_the_seq_under_the_lock() {
    let config = Config::counts(1, 1, 0, 1);
    holds(Variant::IntervalV5_18, config);
    let v = violated_without(Variant::IntervalV5_18, config, |p| {
        p.unreg = p
            .unreg
            .replaced(Op::ItreeRemoveWaitLocked, Op::ItreeRemoveWait);
    });
    assert!(v.contains(&Prop::MemorySafe), "{v:?}");
}

#[test]
fn interval_remove_needs_to_wait_for_the_invalidation() {
    let v = violated_without(Variant::IntervalV5_18, Config::default(), |p| {
        p.unreg = p.unreg.without(&[Op::ItreeRemoveWaitLocked]);
    });
    assert!(v.contains(&Prop::NoCallbackAfterUnregister), "{v:?}");
}

#[test]
fn the_drain_is_what_corrects_the_seed() {
    holds(Variant::OursEmmStopDrainStart, Config::default());
    let v = violated_without(Variant::OursEmmStopDrainStart, Config::default(), |p| {
        p.reg = p.reg.without(&[Op::GateDrain]);
        p.unreg = p.unreg.without(&[Op::GateDrain]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
}

#[test]
fn stopping_the_new_notifier_keeps_stop_and_start_paired() {
    let v = violated_without(Variant::OursEmmStopDrainStart, Config::default(), |p| {
        p.reg = p.reg.without(&[Op::CallOwn(Callback::Stop)]);
    });
    assert_eq!(v, vec![Prop::StopStartPaired]);
}

#[test]
fn a_kvm_driver_must_snapshot_seq_before_it_reads_the_pte() {
    // The classic driver bug: read the PTE, then take the snapshot. An invalidation that
    // starts and ends in between leaves the snapshot current and the PTE read stale.
    let config = Config::counts(1, 1, 1, 0);
    holds(Variant::MmuNotifierV5_12, config);
    let v = violated_without(Variant::MmuNotifierV5_12, config, |p| {
        assert_eq!(p.drv.ops, vec![Op::Snapshot, Op::ReadPte, Op::CheckInstall]);
        let src = p.drv.sources[0];
        let mut b = Builder::new();
        b.label("fault")
            .op(Op::ReadPte, src.function, src.at)
            .branch(Op::Snapshot, "end", src.function, src.at)
            .branch(Op::CheckInstall, "fault", src.function, src.at)
            .label("end");
        p.drv = b.finish();
    });
    assert_eq!(v, vec![Prop::NoStaleSecondary]);
}

#[test]
fn rcu_window_needs_the_grace_period_in_register() {
    // A window whose snapshot misses the new notifier is still open when register returns:
    // the new driver maps the page the window is about to free.
    let config = Config::counts(1, 1, 1, 0);
    holds(Variant::OursRcuWindow, config);
    let v = violated_without(Variant::OursRcuWindow, config, |p| {
        p.reg = p.reg.without(&[Op::SynchronizeStart, Op::SynchronizeWait]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
}

#[test]
fn rcu_window_needs_both_walks_on_one_snapshot() {
    // An end walk that loads the head again calls invalidate_end on a notifier published
    // between the walks, whose invalidate_start it never called.
    let config = Config::counts(1, 1, 1, 0);
    let v = violated_without(Variant::OursRcuWindow, config, |p| {
        for op in &mut p.vm.ops {
            if *op == Op::snapshot_walk(Callback::InvalidateEnd) {
                *op = Op::walk(Callback::InvalidateEnd);
            }
        }
    });
    assert!(v.contains(&Prop::StartEndBalanced), "{v:?}");
}

#[test]
fn rcu_window_needs_the_window_to_be_one_read_side_section() {
    // Without its read side the window is invisible to register's grace period.
    let config = Config::counts(1, 1, 1, 0);
    let v = violated_without(Variant::OursRcuWindow, config, |p| {
        p.vm = p.vm.without(&[Op::ReadSideLock, Op::ReadSideUnlock]);
    });
    assert!(v.contains(&Prop::NoStaleSecondary), "{v:?}");
}

#[test]
fn rcu_window_needs_the_grace_period_in_unregister() {
    holds(Variant::OursRcuWindow, Config::default());
    let v = violated_without(Variant::OursRcuWindow, Config::default(), |p| {
        p.unreg = p
            .unreg
            .without(&[Op::SynchronizeStart, Op::SynchronizeWait]);
    });
    assert!(v.contains(&Prop::NoCallbackAfterUnregister), "{v:?}");
    assert!(v.contains(&Prop::MemorySafe), "{v:?}");
}
