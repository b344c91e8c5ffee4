#![allow(dead_code)] // each engine explores some of the table
//! The scenarios that the loom and shuttle suites explore, in one table: each a configuration
//! of the model's actors and the goals some execution of it must reach (so that a pass is not
//! vacuous). Each engine's test is one line naming a scenario, a protocol and what must come
//! out ([`Expect`]).

use emm::harness::Scenario;
use emm_proofs::Prop;

/// The message of a panic payload (a `String` or a `&str`; empty otherwise).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// One scenario of the table.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    /// The actors.
    pub(crate) scenario: Scenario,
    /// Goals some execution must reach, whatever the protocol.
    pub(crate) goals: &'static [Prop],
}

/// What an exploration of a scenario on a protocol must show.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expect {
    /// No execution breaks any property; every goal of the case is reached.
    Holds,
    /// Some executions break these properties (and maybe others).
    Finds(&'static [Prop]),
    /// Some executions break these properties, and none breaks another.
    FindsOnly(&'static [Prop]),
    /// The first execution that breaks this property fails the exploration, with a panic
    /// that names it.
    FailsNaming(Prop),
    /// The engine reports a deadlock.
    Deadlocks,
    /// loom fails an execution on a data race: a read of a cell its last write is not
    /// ordered before (a node read before its initialisation is visible).
    DataRace,
}

use Prop::{
    RegistrationOverlapsInvalidation as RegOverlaps, SecondaryMappingInstalled as Installed,
    TeardownOverlapsUnregister as TeardownOverlaps, UnregisterOverlapsWalk as UnregOverlaps,
};

fn case(goals: &'static [Prop], scenario: Scenario) -> Case {
    Case { scenario, goals }
}

/// A notifier registers while an invalidation walks the chain, zaps and frees; its driver
/// then faults the page in.
pub(crate) fn register_vs_invalidation() -> Case {
    case(
        &[RegOverlaps, Installed],
        Scenario {
            invalidators: 1,
            notifiers: 1,
            registrations: 1,
            ..Scenario::default()
        },
    )
}

/// One registration on an empty chain, racing one invalidation.
pub(crate) fn register_on_empty_chain() -> Case {
    case(
        &[RegOverlaps, Installed],
        Scenario {
            invalidators: 1,
            registrations: 1,
            ..Scenario::default()
        },
    )
}

/// Two invalidations race one registration on an empty chain.
pub(crate) fn register_vs_two_invalidations() -> Case {
    case(
        &[RegOverlaps, Installed],
        Scenario {
            invalidators: 2,
            registrations: 1,
            ..Scenario::default()
        },
    )
}

/// Two invalidations race one registration, with a notifier registered at the start.
pub(crate) fn register_vs_two_invalidations_one_notifier() -> Case {
    case(
        &[RegOverlaps, Installed],
        Scenario {
            invalidators: 2,
            notifiers: 1,
            registrations: 1,
            ..Scenario::default()
        },
    )
}

/// Three invalidators and a registrar.
pub(crate) fn register_vs_three_invalidations() -> Case {
    case(
        &[RegOverlaps, Installed],
        Scenario {
            invalidators: 3,
            notifiers: 1,
            registrations: 1,
            ..Scenario::default()
        },
    )
}

/// A notifier registered from the start, a registration, and nothing racing them.
pub(crate) fn register_alone() -> Case {
    case(
        &[Installed],
        Scenario {
            invalidators: 0,
            notifiers: 1,
            registrations: 1,
            ..Scenario::default()
        },
    )
}

/// The first of two notifiers is unregistered while an invalidation walks.
pub(crate) fn unregister_head_vs_invalidation() -> Case {
    case(
        &[UnregOverlaps],
        Scenario {
            invalidators: 1,
            notifiers: 2,
            unregister: vec![0],
            ..Scenario::default()
        },
    )
}

/// The second of two notifiers is unregistered while an invalidation walks.
pub(crate) fn unregister_tail_vs_invalidation() -> Case {
    case(
        &[UnregOverlaps],
        Scenario {
            invalidators: 1,
            notifiers: 2,
            unregister: vec![1],
            ..Scenario::default()
        },
    )
}

/// Two invalidations race an unregister.
pub(crate) fn unregister_vs_two_invalidations() -> Case {
    case(
        &[UnregOverlaps],
        Scenario {
            invalidators: 2,
            notifiers: 2,
            unregister: vec![0],
            ..Scenario::default()
        },
    )
}

/// A registration and an unregistration race one invalidation.
pub(crate) fn register_and_unregister_vs_invalidation() -> Case {
    case(
        &[RegOverlaps, Installed, UnregOverlaps],
        Scenario {
            invalidators: 1,
            notifiers: 1,
            registrations: 1,
            unregister: vec![0],
            ..Scenario::default()
        },
    )
}

/// Teardown, an unregister and an invalidation at once.
pub(crate) fn teardown_vs_unregister_vs_invalidation() -> Case {
    case(
        &[TeardownOverlaps, UnregOverlaps],
        Scenario {
            invalidators: 1,
            notifiers: 2,
            unregister: vec![0],
            teardown: true,
            ..Scenario::default()
        },
    )
}

/// Teardown races an unregister.
pub(crate) fn teardown_vs_unregister() -> Case {
    case(
        &[TeardownOverlaps],
        Scenario {
            invalidators: 0,
            notifiers: 2,
            unregister: vec![0],
            teardown: true,
            ..Scenario::default()
        },
    )
}

/// A nested invalidation (its own start, zap, end and free inside the outer one) races a
/// registration.
pub(crate) fn nested_invalidation_vs_register() -> Case {
    case(
        &[RegOverlaps, Installed],
        Scenario {
            invalidators: 1,
            nested: true,
            registrations: 1,
            ..Scenario::default()
        },
    )
}

/// An aging walk races a registration and an invalidation.
pub(crate) fn aging_vs_register() -> Case {
    case(
        &[],
        Scenario {
            invalidators: 1,
            notifiers: 1,
            registrations: 1,
            aging: true,
            ..Scenario::default()
        },
    )
}

/// An aging walk over two notifiers that both map the page, so both answer young.
pub(crate) fn aging_over_two_notifiers() -> Case {
    case(
        &[],
        Scenario {
            invalidators: 0,
            notifiers: 2,
            aging: true,
            ..Scenario::default()
        },
    )
}

/// Two invalidators (nesting), two registrars whose drivers then fault, and two
/// unregistrars, over two initial notifiers: the model's largest actor counts at once.
pub(crate) fn two_of_each() -> Case {
    case(
        &[RegOverlaps, Installed, UnregOverlaps],
        Scenario {
            invalidators: 2,
            nested: true,
            notifiers: 2,
            registrations: 2,
            unregister: vec![0, 1],
            ..Scenario::default()
        },
    )
}

/// Every kind of actor at once: invalidation, registration, unregistration of an initial
/// notifier, aging and teardown.
pub(crate) fn everything_at_once() -> Case {
    case(
        &[RegOverlaps, TeardownOverlaps, UnregOverlaps],
        Scenario {
            invalidators: 1,
            notifiers: 3,
            registrations: 1,
            unregister: vec![0],
            teardown: true,
            aging: true,
            ..Scenario::default()
        },
    )
}
