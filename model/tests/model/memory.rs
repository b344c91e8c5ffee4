//! Verdicts under `--memory lkmm`: the barriers each version transcribes are what its
//! lock-free handshakes need. Take one out and the checker finds the weak execution (under
//! sequential consistency the same programs still hold); and sequential consistency's results
//! are the same whether or not the programs carry their barriers.

use emm_model::check::{check_model, CheckOptions};
use emm_model::program::{Op, Programs};
use emm_model::trace::Trace;
use emm_model::{Config, EmmModel, Memory, Variant, Verdict};
use emm_proofs::{Barrier, Prop};

fn under(memory: Memory, config: Config) -> Config {
    Config { memory, ..config }
}

/// The check of `variant` on `config`, its programs edited by `edit`.
fn check_edited(
    variant: Variant,
    config: Config,
    edit: impl FnOnce(&mut Programs),
) -> emm_model::check::CheckReport {
    let mut programs = Programs::new(variant, &config);
    edit(&mut programs);
    let model = EmmModel::with_programs(variant, config, programs);
    check_model(model, &CheckOptions::deterministic(true, false))
}

fn without_barrier(p: &mut Programs, barrier: Barrier) {
    for program in [
        &mut p.vm,
        &mut p.reg,
        &mut p.unreg,
        &mut p.drv,
        &mut p.teardown,
        &mut p.aging,
    ] {
        if program.ops.contains(&Op::Barrier(barrier)) {
            *program = program.without(&[Op::Barrier(barrier)]);
        }
    }
}

/// The violated property's trace, as its rendered table.
fn trace_of(report: &emm_model::check::CheckReport, prop: Prop) -> Trace {
    report
        .properties
        .iter()
        .find(|p| p.prop == prop)
        .and_then(|p| p.trace.clone())
        .expect("a counterexample")
}

#[test]
fn the_drain_holds_under_lkmm_with_its_barriers() {
    let config = under(Memory::Lkmm, Config::default());
    let r = emm_model::check(
        Variant::OursEmmStopDrainStart,
        config,
        &CheckOptions::deterministic(true, false),
    );
    assert_eq!(r.verdict, Verdict::Holds, "{:?}", r.violated());
}

#[test]
fn the_drain_without_its_full_barriers_is_store_buffering() {
    // atomic_inc(&active); if (READ_ONCE(stopping)) against stopping = 1;
    // wait_event(atomic_read(&active) == 0): without smp_mb__after_atomic() and smp_mb() both
    // loads may miss the other side's store.
    for memory in Memory::ALL {
        let r = check_edited(
            Variant::OursEmmStopDrainStart,
            under(memory, Config::default()),
            |p| {
                without_barrier(p, Barrier::MbAfterAtomic);
                // The first smp_mb() of each side: between emm_stopping = 1 and the drain
                // (under sc the programs carry none).
                for program in [&mut p.reg, &mut p.unreg] {
                    let first = program
                        .ops
                        .iter()
                        .position(|op| *op == Op::Barrier(Barrier::Mb));
                    if let Some(pc) = first {
                        *program = program.without_steps(&[pc]);
                    }
                }
            },
        );
        match memory {
            Memory::Sc => assert_eq!(r.verdict, Verdict::Holds, "{:?}", r.violated()),
            Memory::Lkmm => {
                assert_eq!(r.verdict, Verdict::Violated);
                let violated = r.violated();
                let prop = violated[0];
                let trace = trace_of(&r, prop);
                let table = trace.render(&r.model);
                // Both loads of the handshake read the other side's store as not yet there.
                assert!(
                    table.contains("READ_ONCE(emm_stopping) = 0")
                        && table.contains("not yet visible"),
                    "{table}"
                );
                assert!(trace.reads.iter().any(|&back| back > 0), "{table}");
            }
        }
    }
}

#[test]
fn the_drain_without_its_exit_barrier_lets_a_drain_miss_the_zap() {
    // The second ordering the checker found: the window's zap must reach whoever the drain
    // lets through, so the decrement is released (smp_mb__before_atomic) and the drain
    // acquires (smp_mb after it).
    let r = check_edited(
        Variant::OursEmmStopDrainStart,
        under(Memory::Lkmm, Config::default()),
        |p| without_barrier(p, Barrier::MbBeforeAtomic),
    );
    assert!(
        r.violated().contains(&Prop::NoStaleSecondary),
        "{:?}",
        r.violated()
    );
    let sc = check_edited(Variant::OursEmmStopDrainStart, Config::default(), |p| {
        without_barrier(p, Barrier::MbBeforeAtomic)
    });
    assert_eq!(sc.verdict, Verdict::Holds);
}

#[test]
fn the_drain_without_its_resume_barriers_lets_a_window_walk_the_old_chain() {
    // The third ordering the checker found: a walker that reads the resume's emm_stopping = 0
    // must then read the chain register published, so the resume is ordered after the
    // publish (smp_wmb) and the window's loads after the check (smp_rmb).
    let r = check_edited(
        Variant::OursEmmStopDrainStart,
        under(Memory::Lkmm, Config::default()),
        |p| {
            // The windows' smp_rmb(), not the KVM fault's.
            let fault = p.drv.clone();
            without_barrier(p, Barrier::Wmb);
            without_barrier(p, Barrier::Rmb);
            p.drv = fault;
        },
    );
    let violated = r.violated();
    assert!(violated.contains(&Prop::NoStaleSecondary), "{violated:?}");
    let table = trace_of(&r, Prop::NoStaleSecondary).render(&r.model);
    assert!(
        table.contains("load head -> NULL [rcu_dereference]: reads"),
        "{table}"
    );
    let sc = check_edited(Variant::OursEmmStopDrainStart, Config::default(), |p| {
        without_barrier(p, Barrier::Wmb);
        without_barrier(p, Barrier::Rmb);
    });
    assert_eq!(sc.verdict, Verdict::Holds);
}

#[test]
fn kvm_fault_needs_smp_rmb_between_the_seq_and_the_pte() {
    // 4c2155ce81c1: s = seq; smp_rmb(); get_user_pages_fast(). Without the barrier the PTE
    // load may be satisfied before the seq's: it reads the frame the invalidation zapped while
    // the snapshot reads the seq of after the invalidation ended, and the check passes.
    let config = Config::counts(1, 1, 1, 0);
    for variant in [Variant::MmuNotifierV5_12, Variant::MmuNotifierV3_10] {
        let with = emm_model::check(
            variant,
            under(Memory::Lkmm, config),
            &CheckOptions::deterministic(true, false),
        );
        assert_eq!(
            with.verdict,
            Verdict::Holds,
            "{variant}: {:?}",
            with.violated()
        );
        let r = check_edited(variant, under(Memory::Lkmm, config), |p| {
            without_barrier(p, Barrier::Rmb)
        });
        assert_eq!(r.violated(), vec![Prop::NoStaleSecondary], "{variant}");
        let table = trace_of(&r, Prop::NoStaleSecondary).render(&r.model);
        assert!(table.contains("fault: read PTE -> f0"), "{table}");
        assert!(table.contains("not yet visible to drv1"), "{table}");
        let sc = check_edited(variant, config, |p| without_barrier(p, Barrier::Rmb));
        assert_eq!(sc.verdict, Verdict::Holds, "{variant} under sc");
    }
}

#[test]
fn sc_results_do_not_depend_on_the_barriers() {
    // Under sc the checker drops the barriers; checking the programs with them gives the same
    // verdicts and the same properties (only more states: the barriers are steps).
    for variant in Variant::ALL {
        let config = Config::default_for(variant);
        let lkmm_programs = Programs::new(variant, &under(Memory::Lkmm, config));
        let stripped = emm_model::check(variant, config, &CheckOptions::deterministic(true, false));
        let with = check_model(
            EmmModel::with_programs(variant, config, lkmm_programs),
            &CheckOptions::deterministic(true, false),
        );
        assert_eq!(with.verdict, stripped.verdict, "{variant}");
        assert_eq!(with.violated(), stripped.violated(), "{variant}");
    }
}

#[test]
fn lkmm_never_loses_an_sc_violation() {
    // Reading the last store is always one of a lock-free load's choices, so every sc
    // execution is an lkmm one.
    for variant in Variant::ALL {
        let config = Config::default_for(variant);
        let sc = emm_model::check(variant, config, &CheckOptions::deterministic(true, false));
        let lkmm = emm_model::check(
            variant,
            under(Memory::Lkmm, config),
            &CheckOptions::deterministic(true, false),
        );
        for p in sc.violated() {
            if p != Prop::InductiveInvariant {
                assert!(
                    lkmm.violated().contains(&p),
                    "{variant}: {p} lost under lkmm"
                );
            }
        }
        assert!(
            lkmm.stats.unique_states >= sc.stats.unique_states,
            "{variant}"
        );
    }
}

#[test]
fn interval_read_begin_needs_an_acquire_after_its_wait() {
    // mmu_interval_read_begin(): wait_event(wq, READ_ONCE(invalidate_seq) != seq). When the
    // condition already holds, wait_event() returns without a barrier, so hmm_range_fault()'s
    // lock-free PTE load may be satisfied before the seq's: it reads the PTE the invalidation
    // zapped, and a notifier inserted during that invalidation (deferred, its seq unchanged)
    // passes mmu_interval_read_retry(). An smp_rmb() after the wait closes it.
    let config = under(Memory::Lkmm, Config::default());
    let opts = CheckOptions::deterministic(true, false);
    let r = emm_model::check(Variant::IntervalV5_18, config, &opts);
    assert_eq!(r.violated(), vec![Prop::NoStaleSecondary]);
    let table = trace_of(&r, Prop::NoStaleSecondary).render(&r.model);
    assert!(
        table.contains("read_begin: READ_ONCE(invalidate_seq)"),
        "{table}"
    );
    assert!(table.contains("fault: read PTE -> f0"), "{table}");
    let sc = emm_model::check(Variant::IntervalV5_18, Config::default(), &opts);
    assert_eq!(sc.verdict, Verdict::Holds);
    let fixed = check_edited(Variant::IntervalV5_18, config, |p| {
        let wait = p
            .drv
            .ops
            .iter()
            .position(|op| *op == Op::ReadBeginWait)
            .expect("read_begin's wait");
        let mut b = emm_model::program::Builder::new();
        b.label("fault");
        for pc in 0..p.drv.len() {
            let src = p.drv.sources[pc];
            match p.drv.ops[pc] {
                Op::ReadBegin => b.branch(Op::ReadBegin, "read", src.function, src.at),
                Op::ReadRetryInstall => {
                    b.branch(Op::ReadRetryInstall, "fault", src.function, src.at)
                }
                op => b.op(op, src.function, src.at),
            };
            if pc == wait {
                b.op(Op::Barrier(Barrier::Rmb), "the fix: smp_rmb()", "")
                    .label("read");
            }
        }
        p.drv = b.finish();
    });
    assert_eq!(fixed.verdict, Verdict::Holds, "{:?}", fixed.violated());
}
