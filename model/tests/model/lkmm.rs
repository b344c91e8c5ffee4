//! The LKMM semantics (`emm_model::lkmm`) on the classic shapes, each written here as a small
//! litmus test: what LKMM forbids and allows, and where this promise-free model is stronger
//! (load buffering), as `emm-check help memory` states.

use emm_model::litmus::{run, Observation, MAX_STATES};

/// Two threads' bodies (each a list of statements over `x`, `y` with registers `r0`, `r1`),
/// the condition, and the observation the semantics must give.
fn observe(p0: &str, p1: &str, condition: &str) -> Observation {
    let text = format!(
        "C shape\n{{}}\n\
         P0(int *x, int *y)\n{{\n\tint r0;\n\tint r1;\n{p0}\n}}\n\
         P1(int *x, int *y)\n{{\n\tint r0;\n\tint r1;\n{p1}\n}}\n\
         exists ({condition})\n"
    );
    run(&text, MAX_STATES)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .observation
}

#[test]
fn message_passing_needs_release_and_acquire() {
    let writer = |publish: &str| format!("\tWRITE_ONCE(*x, 1);\n\t{publish}");
    let reader = |load: &str| format!("\t{load}\n\tr1 = READ_ONCE(*x);");
    let cond = "1:r0=1 /\\ 1:r1=0";
    assert_eq!(
        observe(
            &writer("smp_store_release(y, 1);"),
            &reader("r0 = smp_load_acquire(y);"),
            cond
        ),
        Observation::Never
    );
    assert_eq!(
        observe(
            &writer("WRITE_ONCE(*y, 1);"),
            &reader("r0 = smp_load_acquire(y);"),
            cond
        ),
        Observation::Sometimes
    );
    assert_eq!(
        observe(
            &writer("smp_store_release(y, 1);"),
            &reader("r0 = READ_ONCE(*y);"),
            cond
        ),
        Observation::Sometimes
    );
    assert_eq!(
        observe(
            &writer("smp_wmb();\n\tWRITE_ONCE(*y, 1);"),
            &reader("r0 = READ_ONCE(*y);\n\tsmp_rmb();"),
            cond
        ),
        Observation::Never
    );
}

#[test]
fn coherence_forbids_reading_a_location_backwards() {
    assert_eq!(
        observe(
            "\tWRITE_ONCE(*x, 1);",
            "\tr0 = READ_ONCE(*x);\n\tr1 = READ_ONCE(*x);",
            "1:r0=1 /\\ 1:r1=0"
        ),
        Observation::Never
    );
    assert_eq!(
        observe(
            "\tWRITE_ONCE(*x, 1);\n\tWRITE_ONCE(*x, 2);",
            "\tr0 = READ_ONCE(*x);",
            "x=1"
        ),
        Observation::Never
    );
}

#[test]
fn load_buffering_is_forbidden_here_though_lkmm_allows_it() {
    assert_eq!(
        observe(
            "\tr0 = READ_ONCE(*x);\n\tWRITE_ONCE(*y, 1);",
            "\tr0 = READ_ONCE(*y);\n\tWRITE_ONCE(*x, 1);",
            "0:r0=1 /\\ 1:r0=1"
        ),
        Observation::Never
    );
}

#[test]
fn a_release_is_cumulative_over_what_its_thread_has_seen() {
    // WRC: P0 writes x; P1 reads it and releases y; P2 acquires y and must see x. The
    // release carries everything that has propagated to P1, the store it read included.
    let text = "C WRC\n{}\n\
                P0(int *x)\n{\n\tWRITE_ONCE(*x, 1);\n}\n\
                P1(int *x, int *y)\n{\n\tint r0;\n\tr0 = READ_ONCE(*x);\n\tsmp_store_release(y, r0);\n}\n\
                P2(int *x, int *y)\n{\n\tint r0;\n\tint r1;\n\tr0 = smp_load_acquire(y);\n\tr1 = READ_ONCE(*x);\n}\n\
                exists (1:r0=1 /\\ 2:r0=1 /\\ 2:r1=0)\n";
    let report = run(text, MAX_STATES).expect("runs");
    assert_eq!(report.observation, Observation::Never, "{}", report.herd());
}

#[test]
fn a_grace_period_waits_for_the_sections_open_at_its_start() {
    let text = "C gp\n{}\n\
                P0(int *x, int *y)\n{\n\tint r0;\n\tint r1;\n\trcu_read_lock();\n\tr0 = READ_ONCE(*x);\n\tr1 = READ_ONCE(*y);\n\trcu_read_unlock();\n}\n\
                P1(int *x, int *y)\n{\n\tWRITE_ONCE(*x, 1);\n\tsynchronize_rcu();\n\tWRITE_ONCE(*y, 1);\n}\n\
                exists (0:r0=0 /\\ 0:r1=1)\n";
    assert_eq!(
        run(text, MAX_STATES).expect("runs").observation,
        Observation::Never
    );
    let without = text.replace("\tsynchronize_rcu();\n", "");
    assert_eq!(
        run(&without, MAX_STATES).expect("runs").observation,
        Observation::Sometimes
    );
}

#[test]
fn a_lock_orders_its_critical_sections() {
    let text = "C locks\n{}\n\
                P0(int *x, int *y, spinlock_t *l)\n{\n\tspin_lock(l);\n\tWRITE_ONCE(*x, 1);\n\tWRITE_ONCE(*y, 1);\n\tspin_unlock(l);\n}\n\
                P1(int *x, int *y, spinlock_t *l)\n{\n\tint r0;\n\tint r1;\n\tspin_lock(l);\n\tr0 = READ_ONCE(*y);\n\tr1 = READ_ONCE(*x);\n\tspin_unlock(l);\n}\n\
                exists (1:r0=1 /\\ 1:r1=0)\n";
    assert_eq!(
        run(text, MAX_STATES).expect("runs").observation,
        Observation::Never
    );
    // Atomicity: two increments under no lock still add up.
    let incs = "C incs\n{}\n\
                P0(atomic_t *v)\n{\n\tatomic_inc(v);\n}\n\
                P1(atomic_t *v)\n{\n\tatomic_inc(v);\n}\n\
                exists (v=1)\n";
    assert_eq!(
        run(incs, MAX_STATES).expect("runs").observation,
        Observation::Never
    );
}
