//! Each correct variant's inductive invariant (`emm_model::invariants`, argued in
//! `proofs/proofs/`) is inductive on small configurations, and implies every safety property.
//!
//! The checker already confirms the invariant on every reachable state (it is the `always`
//! property `inductive_invariant`), so checking steps from reachable states alone would prove
//! nothing new. This test also checks states no run reaches: it changes one field of each
//! reachable state at a time (a lock word, a counter, a link, a driver's field, a thread's pc,
//! walk position, cursor, called or must set, locals), keeps the changed states that still
//! satisfy the invariant, and checks that every step from each of them leads to a state that
//! satisfies it too, and that the invariant implies every safety property there. A weak
//! invariant fails here: some unreachable state satisfies it and steps out of it, or breaks a
//! property.

use emm_model::state::{
    Driver, State, WalkPc, NIL, PPREV_HEAD, PPREV_NULL, PPREV_POISON, SNAP_EMPTY,
};
use emm_model::{Config, EmmModel, Variant};
use emm_proofs::Callback;
use emm_proofs::{Prop, Standing};
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// One field changed in a state, for the failure message.
#[derive(Clone, Copy, Debug)]
struct Edit {
    /// The field, as named in `State`, `Driver` or `Thread`.
    field: &'static str,
    /// Which driver or thread (0 for a field of the shared state).
    index: usize,
    /// The value set, or how far a counter moved.
    value: i32,
}

impl std::fmt::Display for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of #{} set to (or moved by) {}",
            self.field, self.index, self.value
        )
    }
}

/// What one configuration's check covered.
#[derive(Debug, Default)]
struct Tally {
    /// Reachable states (no symmetry reduction).
    reachable: usize,
    /// Distinct unreachable states made by one edit.
    perturbed: usize,
    /// Of those, the ones that satisfy the invariant: each is checked like a reachable one.
    kept: usize,
    /// Steps checked, from reachable and kept states.
    steps: usize,
    /// Perturbed states that fail the invariant, by the first false conjunct.
    rejected: BTreeMap<&'static str, usize>,
}

/// A fast 64-bit hash (the multiply-rotate of rustc's FxHasher): states are fingerprinted
/// tens of millions of times, and a collision would only skip one state.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A set of fingerprints: they are hashes already.
type Fingerprints = HashSet<u64, BuildHasherDefault<Identity>>;

#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 fingerprints are hashed")
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn fingerprint(s: &State) -> u64 {
    let mut h = Fx::default();
    s.hash(&mut h);
    h.finish()
}

/// Every reachable state, breadth-first, with the model's own steps.
fn reachable(model: &EmmModel) -> Vec<State> {
    let mut seen = Fingerprints::default();
    let mut out = Vec::new();
    for s in model.initial_states() {
        if seen.insert(fingerprint(&s)) {
            out.push(s);
        }
    }
    let mut i = 0;
    while i < out.len() {
        for t in 0..model.actors().len() {
            if model.enabled(&out[i], t) {
                let next = model.apply(&out[i], t);
                if seen.insert(fingerprint(&next)) {
                    out.push(next);
                }
            }
        }
        i += 1;
    }
    out
}

/// A counter of a state or of a driver, to move up or down.
type Counter<T> = fn(&mut T) -> &mut u8;

/// The states one edit away from `s`: each field of the shared state, each driver and each
/// thread, set to each value it can hold in the configuration (links, frames, pcs, walk
/// positions, callbacks), flipped (flags, bits of sets) or moved by one or two (counters).
fn perturb(model: &EmmModel, s: &State, out: &mut Vec<(Edit, State)>) {
    let nc = s.notifier_count as usize;
    let nodes = || std::iter::once(NIL).chain(0..nc as u8);
    let frames = || std::iter::once(NIL).chain(0..=s.next_frame);
    let mut push = |field: &'static str, index: usize, value: i32, edit: &dyn Fn(&mut State)| {
        let mut p = s.clone();
        edit(&mut p);
        if p != *s {
            out.push((
                Edit {
                    field,
                    index,
                    value,
                },
                p,
            ));
        }
    };
    fn moved(x: u8, by: i32) -> Option<u8> {
        u8::try_from(x as i32 + by).ok()
    }
    for v in nodes() {
        push("head", 0, v as i32, &|p| p.head = v);
    }
    for n in 0..nc {
        for v in nodes() {
            push("next", n, v as i32, &|p| p.next[n] = v);
        }
        let b = 1u8 << n;
        push("registered", n, 0, &|p| p.registered ^= b);
        push("deferred_insert", n, 0, &|p| p.deferred_insert ^= b);
        push("deferred_remove", n, 0, &|p| p.deferred_remove ^= b);
    }
    for v in frames() {
        push("pte", 0, v as i32, &|p| p.pte = v);
    }
    for f in 0..=s.next_frame.min(7) {
        push("freed", f as usize, 0, &|p| p.freed ^= 1 << f);
    }
    for n in 0..nc {
        for v in [PPREV_NULL, PPREV_POISON, PPREV_HEAD]
            .into_iter()
            .chain(0..nc as u8)
        {
            push("pprev", n, v as i32, &|p| p.pprev[n] = v);
        }
        push("freed_nodes", n, 0, &|p| p.freed_nodes ^= 1 << n);
    }
    push("mmap_sem", 0, 0, &|p| p.mmap_sem ^= true);
    push("rmap_writer", 0, 0, &|p| p.rmap_writer ^= true);
    push("spin", 0, 0, &|p| p.spin ^= true);
    push("emm_stopping", 0, 0, &|p| p.emm_stopping ^= true);
    push("vma_locked", 0, 0, &|p| p.vma_locked ^= true);
    push("vma_waiting", 0, 0, &|p| p.vma_waiting ^= true);
    let counters: [(&'static str, Counter<State>); 9] = [
        ("next_frame", |p| &mut p.next_frame),
        ("mmap_readers", |p| &mut p.mmap_readers),
        ("mmap_waiting", |p| &mut p.mmap_waiting),
        ("rmap_readers", |p| &mut p.rmap_readers),
        ("rmap_waiting", |p| &mut p.rmap_waiting),
        ("vma_readers", |p| &mut p.vma_readers),
        ("emm_active", |p| &mut p.emm_active),
        ("itree_seq", |p| &mut p.itree_seq),
        ("itree_active", |p| &mut p.itree_active),
    ];
    for (field, get) in counters {
        let x = *get(&mut s.clone());
        for by in [-2, -1, 1, 2] {
            if let Some(v) = moved(x, by) {
                push(field, 0, by, &|p| *get(p) = v);
            }
        }
    }
    let driver_counters: [(&'static str, Counter<Driver>); 4] = [
        ("seq", |d| &mut d.seq),
        ("stops", |d| &mut d.stops),
        ("starts", |d| &mut d.starts),
        ("releases", |d| &mut d.releases),
    ];
    for n in 0..nc {
        for v in frames() {
            push("mirror", n, v as i32, &|p| p.drivers[n].mirror = v);
        }
        for by in [-2, -1, 1, 2] {
            push("in_progress", n, by, &|p| {
                p.drivers[n].in_progress = p.drivers[n].in_progress.saturating_add(by as i8)
            });
            for (field, get) in driver_counters {
                let mut d = s.drivers[n];
                if let Some(v) = moved(*get(&mut d), by) {
                    push(field, n, by, &|p| *get(&mut p.drivers[n]) = v);
                }
            }
        }
        push("stopped", n, 0, &|p| p.drivers[n].stopped ^= true);
        push("released", n, 0, &|p| p.drivers[n].released ^= true);
        push("installed", n, 0, &|p| p.drivers[n].installed ^= true);
    }
    let callbacks = [
        Callback::InvalidateStart,
        Callback::InvalidateEnd,
        Callback::InvalidatePage,
        Callback::Invalidate,
        Callback::ClearYoung,
        Callback::Release,
        Callback::Stop,
        Callback::Start,
    ];
    let wpcs = [
        WalkPc::Idle,
        WalkPc::Call,
        WalkPc::Wait,
        WalkPc::LoadNext,
        WalkPc::Done,
    ];
    for t in 0..model.actors().len() {
        for pc in 0..=model.program(t).len() as u8 {
            push("pc", t, pc as i32, &|p| p.threads[t].pc = pc);
        }
        for (i, &w) in wpcs.iter().enumerate() {
            push("wpc", t, i as i32, &|p| p.threads[t].wpc = w);
        }
        for v in nodes() {
            push("cursor", t, v as i32, &|p| p.threads[t].cursor = v);
        }
        for (i, &cb) in callbacks.iter().enumerate() {
            push("callback", t, i as i32, &|p| p.threads[t].callback = cb);
        }
        for n in 0..nc {
            let b = 1u8 << n;
            push("called", t, n as i32, &|p| p.threads[t].called ^= b);
            push("must", t, n as i32, &|p| p.threads[t].must ^= b);
        }
        for level in 0..2 {
            for v in frames() {
                push("old", t, v as i32, &|p| p.threads[t].old[level] = v);
            }
        }
        for v in frames() {
            push("pte_read", t, v as i32, &|p| p.threads[t].pte_read = v);
        }
        for level in 0..2 {
            for v in nodes().chain([SNAP_EMPTY]) {
                push("snap", t, v as i32, &|p| p.threads[t].snap[level] = v);
            }
        }
        for by in [-2, -1, 1, 2] {
            if let Some(v) = moved(s.threads[t].slot, by) {
                push("slot", t, by, &|p| p.threads[t].slot = v);
            }
            if let Some(v) = moved(s.threads[t].depth, by) {
                push("depth", t, by, &|p| p.threads[t].depth = v);
            }
        }
        for b in 0..8u8 {
            push("flags", t, b as i32, &|p| p.threads[t].flags ^= 1 << b);
            push("gp", t, b as i32, &|p| p.threads[t].gp ^= 1 << b);
        }
    }
}

/// Checks one state that satisfies the invariant: it implies every safety property here, and
/// every step leads to a state that satisfies it. Returns the number of steps.
fn check_state(model: &EmmModel, s: &State, origin: Option<(Edit, &State)>) -> usize {
    let context = || match origin {
        None => "a reachable state".to_string(),
        Some((edit, from)) => format!("the edit `{edit}` of the reachable state {from:?}"),
    };
    // The invariant implies the kernel's guarantees; an advisory property (a second
    // `->release`, which upstream accepts) may be broken where it holds.
    let broken: Vec<_> = model
        .violations(s)
        .into_iter()
        .filter(|v| {
            v.property != Prop::InductiveInvariant
                && v.property.info().standing == Standing::Guarantee
        })
        .collect();
    assert!(
        broken.is_empty(),
        "{}: the invariant holds but {} (state {s:?}, from {})",
        model.variant,
        broken[0],
        context()
    );
    let mut steps = 0;
    for t in 0..model.actors().len() {
        if !model.enabled(s, t) {
            continue;
        }
        steps += 1;
        let next = catch_unwind(AssertUnwindSafe(|| model.apply(s, t))).unwrap_or_else(|_| {
            panic!(
                "{}: step of thread {t} panicked on {s:?}, from {}",
                model.variant,
                context()
            )
        });
        if let Err(conjunct) = model.inductive_invariant(&next) {
            panic!(
                "{}: not inductive: thread {t} ({}) steps from a state that satisfies the \
                 invariant to one where `{conjunct}` is false.\nbefore: {s:?}\nafter: {next:?}\n\
                 from {}",
                model.variant,
                emm_model::trace::describe(model, s, t),
                context()
            );
        }
    }
    steps
}

/// Checks that `variant`'s invariant is inductive on `config`: every reachable state and every
/// unreachable state one edit away that satisfies it.
fn check_inductive(variant: Variant, config: Config) -> Tally {
    let started = Instant::now();
    let model = EmmModel::new(variant, config);
    assert!(model.applies(Prop::InductiveInvariant), "{variant}");
    let states = reachable(&model);
    let reached: Fingerprints = states.iter().map(fingerprint).collect();
    let mut tally = Tally {
        reachable: states.len(),
        ..Tally::default()
    };
    for s in &states {
        if let Err(conjunct) = model.inductive_invariant(s) {
            panic!("{variant}: `{conjunct}` is false in the reachable state {s:?}");
        }
        tally.steps += check_state(&model, s, None);
    }
    let mut perturbed = Fingerprints::default();
    let mut edits = Vec::new();
    for s in &states {
        edits.clear();
        perturb(&model, s, &mut edits);
        for (edit, p) in edits.drain(..) {
            let fp = fingerprint(&p);
            if reached.contains(&fp) || !perturbed.insert(fp) {
                continue;
            }
            tally.perturbed += 1;
            match model.inductive_invariant(&p) {
                Ok(()) => {
                    tally.kept += 1;
                    tally.steps += check_state(&model, &p, Some((edit, s)));
                }
                Err(conjunct) => *tally.rejected.entry(conjunct).or_default() += 1,
            }
        }
    }
    eprintln!(
        "{variant} {}: {} reachable, {} perturbed of which {} satisfy the invariant, {} steps \
         checked, {:.2} s; rejected by {:?}",
        config.to_flags(),
        tally.reachable,
        tally.perturbed,
        tally.kept,
        tally.steps,
        started.elapsed().as_secs_f64(),
        tally.rejected
    );
    // The test means something only if the invariant both keeps and rejects unreachable states.
    assert!(
        tally.kept > 0,
        "{variant}: no unreachable state satisfies the invariant"
    );
    assert!(
        !tally.rejected.is_empty(),
        "{variant}: the invariant rejects nothing"
    );
    let doc = proof(variant);
    for conjunct in tally.rejected.keys() {
        assert!(
            doc.contains(&format!("`{conjunct}`")),
            "{variant}: the proof document does not define the conjunct `{conjunct}`"
        );
    }
    tally
}

/// The proof document of a correct variant, with the shared conjuncts of the index.
fn proof(variant: Variant) -> String {
    let own = match variant {
        Variant::MmuNotifierV5_12 | Variant::MmuNotifierV6_4 => {
            include_str!("../../../proofs/proofs/mmu-notifier-v5.12.md")
        }
        Variant::IntervalV5_18 => include_str!("../../../proofs/proofs/interval-v5.18.md"),
        Variant::OursEmmStopDrainStart => {
            include_str!("../../../proofs/proofs/emm-stop-drain-start.md")
        }
        Variant::OursRcuWindow => include_str!("../../../proofs/proofs/rcu-window.md"),
        _ => unreachable!("{variant} has no invariant"),
    };
    format!("{}{own}", include_str!("../../../proofs/proofs/README.md"))
}

const PROVED: [Variant; 5] = [
    Variant::MmuNotifierV5_12,
    Variant::MmuNotifierV6_4,
    Variant::IntervalV5_18,
    Variant::OursEmmStopDrainStart,
    Variant::OursRcuWindow,
];

/// Small configurations that, between them, race every kind of actor with every other: the
/// default one, a nested invalidation, teardown against a registration and against an
/// unregistration, aging against a registration, two VM threads against a registration and
/// against an unregistration, two unregistrations, two registrations on an empty chain.
fn small_configs() -> Vec<Config> {
    vec![
        Config::default(),
        Config {
            nested: true,
            ..Config::default()
        },
        Config {
            teardown: true,
            ..Config::counts(1, 1, 1, 0)
        },
        Config {
            teardown: true,
            ..Config::counts(1, 1, 0, 1)
        },
        Config {
            aging: true,
            ..Config::counts(1, 1, 1, 0)
        },
        Config::counts(2, 1, 1, 0),
        Config::counts(2, 1, 0, 1),
        Config::counts(1, 2, 0, 2),
        Config::counts(1, 0, 2, 0),
    ]
}

#[test]
fn mmu_notifier_v5_12_invariant_is_inductive() {
    for config in small_configs() {
        check_inductive(Variant::MmuNotifierV5_12, config);
    }
}

/// v6.4's register adds `vma_start_write()` to `mm_take_all_locks()`; the same invariant.
#[test]
fn mmu_notifier_v6_4_invariant_is_inductive() {
    for config in small_configs() {
        check_inductive(Variant::MmuNotifierV6_4, config);
    }
}

#[test]
fn interval_v5_18_invariant_is_inductive() {
    for config in small_configs() {
        check_inductive(Variant::IntervalV5_18, config);
    }
}

#[test]
fn emm_stop_drain_start_invariant_is_inductive() {
    for config in small_configs() {
        check_inductive(Variant::OursEmmStopDrainStart, config);
    }
}

#[test]
fn ours_rcu_window_invariant_is_inductive() {
    for config in small_configs() {
        check_inductive(Variant::OursRcuWindow, config);
    }
}

/// Only the proved versions have an invariant; it does not apply to programs with a mechanism
/// taken out (another protocol), nor to the actors the proofs leave to the checker.
#[test]
fn the_invariant_applies_to_the_proved_versions_only() {
    for variant in Variant::ALL {
        let model = EmmModel::new(variant, Config::default_for(variant));
        assert_eq!(
            model.applies(Prop::InductiveInvariant),
            PROVED.contains(&variant),
            "{variant}"
        );
    }
    let config = Config::default();
    let mut programs = emm_model::program::Programs::new(Variant::MmuNotifierV5_12, &config);
    programs.unreg.ops.pop();
    programs.unreg.jumps.pop();
    programs.unreg.sources.pop();
    let edited = EmmModel::with_programs(Variant::MmuNotifierV5_12, config, programs);
    assert!(!edited.applies(Prop::InductiveInvariant));
    let reaped = EmmModel::new(
        Variant::MmuNotifierV5_12,
        Config {
            oom_reaper: true,
            ..config
        },
    );
    assert!(!reaped.applies(Prop::InductiveInvariant));
}

/// Bigger bounds: two VM threads against a registration and an unregistration; teardown, and
/// aging, each against a registration and an unregistration. About 8.5 minutes in all on two
/// cores (10 to 120 s per version and configuration; 48 M edited states for v6.4's first).
/// Run with `cargo test --release -p emm-model --test model inductive -- --ignored`.
#[test]
#[ignore = "about 8.5 minutes"]
fn invariants_are_inductive_on_bigger_configurations() {
    let configs = [
        Config::counts(2, 1, 1, 1),
        Config {
            teardown: true,
            ..Config::default()
        },
        Config {
            aging: true,
            ..Config::default()
        },
    ];
    for variant in PROVED {
        for config in configs {
            check_inductive(variant, config);
        }
    }
}
