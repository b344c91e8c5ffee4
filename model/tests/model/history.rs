//! The kernel's history as ground truth: the three races of `history.md` found on the versions
//! that shipped them and gone from the versions that fixed them; the whole timeline pinned;
//! and every step of every version citing where it comes from, never a commit newer than the
//! version.

use emm_model::check::{CheckOptions, Status};
use emm_model::history::{history, PROBES};
use emm_model::program::Programs;
use emm_model::{check, Config, EmmModel, Trace, Variant};
use emm_proofs::{Family, Prop, VARIANTS};

fn shortest(variant: Variant, config: Config, prop: Prop) -> (EmmModel, Option<Trace>) {
    let report = check(variant, config, &CheckOptions::deterministic(true, true));
    assert!(report.limit.is_none(), "{variant}");
    let p = report.property(prop);
    let model = EmmModel::new(variant, config);
    match p.status {
        Status::Violated => (model, p.trace.clone()),
        Status::Holds => (model, None),
        other => panic!("{variant} {prop}: {}", other.as_str()),
    }
}

/// The 1-based step of the first row of `actor` whose action contains `text`, after `from`.
fn step_of(trace: &Trace, actor: &str, text: &str, from: usize) -> usize {
    trace
        .steps
        .iter()
        .find(|s| s.step > from && s.actor == actor && s.action.contains(text))
        .unwrap_or_else(|| panic!("no step of {actor} `{text}` after {from}"))
        .step
}

/// Race A: `exit_mmap()` unlinks the notifier before it calls `->release`, so reclaim's
/// `invalidate_page` finds an empty list and the secondary keeps the freed page. One notifier,
/// teardown and one reclaim invalidation; fixed in v3.6 (3ad3d901bbcf), holds in v3.10.
#[test]
fn race_a_teardown_unlinks_before_release() {
    let config = Config {
        teardown: true,
        ..Config::counts(1, 1, 0, 0)
    };
    let (_, trace) = shortest(Variant::MmuNotifierV2_6_27, config, Prop::NoStaleSecondary);
    let trace = trace.expect("v2.6.27 violates no_stale_secondary");
    let unlink = step_of(&trace, "teardown", "hlist_del_init_rcu(n0)", 0);
    let missed = step_of(&trace, "vm0", "invalidate_page: load head -> NULL", unlink);
    step_of(&trace, "vm0", "free f0", missed);
    for fixed in [Variant::MmuNotifierV3_6, Variant::MmuNotifierV3_10] {
        assert!(
            shortest(fixed, config, Prop::NoStaleSecondary).1.is_none(),
            "{fixed}"
        );
    }
}

/// Race B: a non-blocking start fails on one notifier after another counted it; the OOM
/// reaper skips the range without any end, and the second notifier's count stays raised.
/// Fixed in v5.12 (c2655835fd8c, the unwind walk).
#[test]
fn race_b_a_failed_nonblocking_start_leaves_a_start_open() {
    let config = Config {
        oom_reaper: true,
        ..Config::default()
    };
    let (_, trace) = shortest(Variant::MmuNotifierV4_19, config, Prop::NoStartLeftOpen);
    let trace = trace.expect("v4.19 leaves a start open");
    let failed = step_of(&trace, "oom", "-EAGAIN", 0);
    step_of(&trace, "oom", "skip this vma", failed);
    assert!(
        !trace
            .steps
            .iter()
            .any(|s| s.actor == "oom" && s.action.contains("invalidate_end(")),
        "no end reaches any notifier"
    );
    assert!(
        shortest(Variant::MmuNotifierV5_12, config, Prop::NoStartLeftOpen)
            .1
            .is_none()
    );
}

/// Race C: a page fault under the VMA read lock loads the list head before a register
/// publishes its notifier (`mm_take_all_locks()` takes no VMA lock), the new notifier's
/// secondary maps the old page, and the fault's zap and free reach it with an end and no
/// start: the seed's 2008 race, reborn. Fixed by eeff9a5d47f8 (v6.4).
#[test]
fn race_c_a_vma_locked_fault_misses_a_registration() {
    let config = Config {
        vma_faults: 1,
        ..Config::default()
    };
    let broken = Variant::MmuNotifierV6_4WithoutEeff9a5d47f8;
    let (_, trace) = shortest(broken, config, Prop::NoStaleSecondary);
    let trace = trace.expect("the series without eeff9a5d47f8 maps a freed page");
    let locked = step_of(&trace, "pf0", "lock_vma_under_rcu", 0);
    let head = step_of(&trace, "pf0", "invalidate_start: load head", locked);
    let publish = step_of(&trace, "reg0", "rcu_assign_pointer(h->first, n1)", head);
    let install = step_of(&trace, "drv1", "install f0", publish);
    let zap = step_of(&trace, "pf0", "zap PTE: f0", install);
    step_of(&trace, "pf0", "invalidate_end(n1)", zap);
    step_of(&trace, "pf0", "free f0", zap);
    let (_, unbalanced) = shortest(broken, config, Prop::StartEndBalanced);
    let unbalanced = unbalanced.expect("an end without its start");
    step_of(&unbalanced, "pf0", "invalidate_end(n1)", 0);
    for prop in [Prop::NoStaleSecondary, Prop::StartEndBalanced] {
        assert!(
            shortest(Variant::MmuNotifierV6_4, config, prop).1.is_none(),
            "{prop}"
        );
    }
}

/// The timeline, cell by cell: each version's status per property (`V`, `H`, `-`), and for
/// each violation the probe that found it, the shortest trace's length, the other probes that
/// break it, and the next version that holds. Taken from the checker; any change to a
/// transcription or a primitive that moves a verdict shows up here.
#[rustfmt::skip]
const TIMELINE: &str = "\
emm@v2 VV-V-HHHV-
  no_stale_secondary registration 19 -> -
  start_end_balanced registration 10 -> -
  walk_integrity aging 3 -> -
  no_start_left_open registration 19 -> -
emm@stop-start VVVVVHVVVV
  no_stale_secondary registration 28 +unregistration +teardown-unregister -> -
  start_end_balanced registration 18 +unregistration -> -
  no_callback_after_unregister unregistration 18 +teardown-unregister -> -
  walk_integrity unregistration 22 -> -
  stop_start_paired registration 9 -> -
  deadlock_free unregistration 18 -> -
  memory_safe unregistration 28 +teardown-unregister -> -
  no_start_left_open registration 28 +unregistration -> -
  release_at_most_once teardown-unregister 11 -> -
mmu-notifier@v2.6.27 V-HH-HHH-H
  no_stale_secondary unregistration 12 +teardown -> mmu-notifier@v3.6
mmu-notifier@v3.6 H-HH-HHV-V
  memory_safe teardown-unregister 15 -> mmu-notifier@v3.9
  release_at_most_once teardown-unregister 6 -> mmu-notifier@v3.9
mmu-notifier@v3.9 V-HH-HHH-H
  no_stale_secondary unregistration 13 +teardown -> mmu-notifier@v3.10
mmu-notifier@v3.10 H-HH-HHH-V
  release_at_most_once teardown-unregister 6 -> -
mmu-notifier@v4.19 HHHH-HHHVV
  no_start_left_open oom-reaper 10 -> mmu-notifier@v5.12
  release_at_most_once teardown-unregister 6 -> -
mmu-notifier@v5.12 HHHH-HHHHV
  release_at_most_once teardown-unregister 6 -> -
mmu-notifier@v6.4-without-eeff9a5d47f8 VVHH-HHHVV
  no_stale_secondary vma-fault 22 -> mmu-notifier@v6.4
  start_end_balanced vma-fault 13 -> mmu-notifier@v6.4
  no_start_left_open vma-fault 23 -> mmu-notifier@v6.4
  release_at_most_once teardown-unregister 6 -> -
mmu-notifier@v6.4 HHHH-HHHHV
  release_at_most_once teardown-unregister 6 -> -
interval@v5.5 H-HH--HV--
  memory_safe unregistration 19 +teardown-unregister -> interval@v5.18
interval@v5.18 H-HH--HH--
ours@emm-stop-drain-start HHHHHHHHHV
  release_at_most_once teardown-unregister 17 -> -
ours@rcu-window HHHH-HHHHV
  release_at_most_once teardown-unregister 6 -> -
";

fn render_timeline() -> String {
    let h = history(
        &[
            Family::Emm,
            Family::MmuNotifier,
            Family::Interval,
            Family::Ours,
        ],
        &CheckOptions::deterministic(true, true),
    );
    let mut out = String::new();
    for r in &h.rows {
        let letters: String = r
            .cells
            .iter()
            .map(|c| match c.status {
                Status::Violated => 'V',
                Status::Holds => 'H',
                Status::NotApplicable => '-',
                _ => '?',
            })
            .collect();
        out += &format!("{} {letters}\n", r.variant);
        for c in r.cells.iter().filter(|c| c.status == Status::Violated) {
            let (probe, trace) = c.found.as_ref().expect("a violation has a trace");
            let also: String = c.also.iter().map(|p| format!(" +{}", p.name)).collect();
            let fix = c.fixed_in.map_or("-".to_string(), |v| v.name().to_string());
            out += &format!(
                "  {} {} {}{also} -> {fix}\n",
                c.prop,
                probe.name,
                trace.steps.len()
            );
        }
        for (probe, goal) in &r.unreached {
            out += &format!("  unreached {goal} on {}\n", probe.name);
        }
    }
    out
}

#[test]
fn the_timeline_is_pinned() {
    let found = render_timeline();
    assert_eq!(found, TIMELINE, "the timeline moved:\n{found}");
}

/// Every probe is supported by at least one version, and every version runs on the probes
/// whose actors it has.
#[test]
fn every_probe_runs_somewhere() {
    for probe in PROBES {
        assert!(
            Variant::ALL
                .into_iter()
                .any(|v| emm_model::history::runs_on(probe, v)),
            "{}",
            probe.name
        );
    }
}

/// The release (or mail) each citation first appeared in, by date. Kernel commits are dated by
/// the first release that has them (`history.md`'s timeline), mails by when they were posted.
const CITATIONS: &[(&str, &str)] = &[
    (
        "<Pine.LNX.4.64.0803051600470.7481@schroedinger.engr.sgi.com>",
        "2008-03-05",
    ),
    ("<20080401205635.793766935@sgi.com>", "2008-04-01"),
    ("<20080401205636.524832964@sgi.com>", "2008-04-01"),
    (
        "<Pine.LNX.4.64.0804021202450.28436@schroedinger.engr.sgi.com>",
        "2008-04-02",
    ),
    (
        "<Pine.LNX.4.64.0804021821230.639@schroedinger.engr.sgi.com>",
        "2008-04-02",
    ),
    ("cddb8a5c14aa", "2008-10-09"),
    ("7906d00cd1f6", "2008-10-09"),
    ("e930bffe95e1", "2008-10-09"),
    ("3ad3d901bbcf", "2012-09-30"),
    ("21a92735f660", "2012-12-10"),
    ("2ec74c3ef2d8", "2012-12-10"),
    ("751efd8610d3", "2013-04-28"),
    ("d34883d4e35c", "2013-06-30"),
    ("b972216e27d1", "2014-10-05"),
    ("369ea8242c0f", "2017-09-03"),
    ("93065ac753e4", "2018-10-22"),
    ("543bdb2d825f", "2019-09-15"),
    ("99cb252f5e68", "2020-01-26"),
    ("c2655835fd8c", "2021-04-25"),
    ("319561669a59", "2022-05-22"),
    ("50ee32537206", "2023-06-25"),
    ("eeff9a5d47f8", "2023-06-25"),
];

/// Every op of every program of every version names the function it transcribes and the
/// commit or mail it comes from; that citation is known and no newer than the version (a
/// version that was never released is bounded by the family's next one, and cites nothing
/// of the commit it goes without); our own variant cites its proof document. The drivers are
/// exempt from the bound: every version of a family faults through the same secondary MMU
/// (KVM's `mmu_notifier_seq` driver of e930bffe95e1, or an `hmm_range_fault()` user), so
/// that the verdicts compare the protocols and not the drivers.
#[test]
fn every_op_cites_a_source_no_newer_than_its_version() {
    for info in VARIANTS {
        let variant = info.variant;
        let mut config = Config {
            teardown: true,
            aging: true,
            ..Config::default_for(variant)
        };
        for extra in [
            Config {
                oom_reaper: true,
                ..config
            },
            Config {
                vma_faults: 1,
                ..config
            },
            Config {
                nested: true,
                ..config
            },
        ] {
            if Programs::supports(variant, &extra).is_ok() {
                config = extra;
            }
        }
        let bound = if info.family == Family::Ours {
            "9999"
        } else if info.date.starts_with(|c: char| c.is_ascii_digit()) {
            info.date
        } else {
            variant.later().next().expect("a later version").info().date
        };
        let without = info.version.split_once("-without-").map(|(_, id)| id);
        let programs = Programs::new(variant, &config);
        for (role, program) in programs.all() {
            assert_eq!(
                program.sources.len(),
                program.ops.len(),
                "{variant} {role:?}"
            );
            for (pc, (op, src)) in program.ops.iter().zip(&program.sources).enumerate() {
                let at = format!("{variant} {role:?} {pc} {op:?}");
                assert!(!src.function.trim().is_empty(), "{at}: no function");
                if info.family == Family::Ours && src.at.starts_with("proofs/proofs/") {
                    continue;
                }
                let date = CITATIONS
                    .iter()
                    .find(|(id, _)| *id == src.at)
                    .unwrap_or_else(|| panic!("{at}: unknown citation {}", src.at))
                    .1;
                assert!(
                    date <= bound || role == emm_proofs::Role::Drv,
                    "{at}: cites {} ({date}), newer than {bound}",
                    src.at
                );
                assert_ne!(
                    Some(src.at),
                    without,
                    "{at}: cites the commit it goes without"
                );
            }
        }
    }
}
