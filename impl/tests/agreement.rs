//! The implementation agrees with the model's step semantics, one operation at a time.
//!
//! A proptest state machine: the reference is `emm-model`'s own model of each protocol (its
//! `EmmModel::apply`, run for one actor until that actor's program is done), the system under
//! test is the real registry driven by `emm::harness::Sequential`. Each transition is one whole
//! operation of one actor of the model's configuration (an invalidation, a registration, a
//! driver's fault, an unregistration, teardown, an aging walk), in any order the model allows;
//! after each, every notifier as the spec observes it (registered, unregistered, open
//! invalidations, the frame its mirror maps, releases received) and every frame's state must be
//! the same on both sides, and the properties broken so far (checked at every model step and at
//! every observable step of the implementation) must be the same: none for `mmu-notifier@v5.12`
//! and `emm@v2`, `stop_start_paired` for the seed once it registers (its `emm_start` walk
//! starts the new notifier, which was never stopped).

#![cfg(not(any(loom, feature = "shuttle")))]

use emm::harness::Sequential;
use emm::historical::{EmmStopStart, RcuPublish};
use emm::{Chain, RcuWindow, TakeAllLocks};
use emm_model::state::State;
use emm_model::{Config, EmmModel, Variant};
use emm_proofs::Prop;
use emm_proofs::{violations, ActorId, Observe, Role};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

/// Every kind of actor the implementation has, with two of each kind that can have two (no
/// unregistration where the version has no unregister).
fn config(variant: Variant) -> Config {
    let unregister = emm_model::program::Traits::of(variant).unregister;
    Config {
        invalidators: 2,
        nested: true,
        notifiers: 2,
        registrations: 2,
        unregistrations: if unregister { 2 } else { 0 },
        targets: unregister.then_some([1, 0]),
        teardown: true,
        aging: true,
        vma_faults: 0,
        oom_reaper: false,
        // The implementation's runs are compared step by step with the model's: the
        // sequentially consistent one, whose steps read the last stores.
        memory: emm_model::Memory::Sc,
    }
}

/// The model's state, and the model that steps it.
#[derive(Clone)]
struct Reference {
    model: EmmModel,
    state: State,
    /// The properties broken at some model state so far (but `deadlock_free`, which the
    /// implementation's harness leaves to loom and shuttle).
    violated: BTreeSet<Prop>,
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} with {}",
            self.model.variant.name(),
            self.model.config.to_flags()
        )
    }
}

/// One whole operation: actor `.0` of the model runs its program to the end. `None` once every
/// actor is done (the run is over; the step repeats the final check).
#[derive(Clone, Copy)]
struct Operation(Option<(usize, ActorId)>);

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((_, actor)) => write!(f, "{actor}"),
            None => f.write_str("(all done)"),
        }
    }
}

impl Reference {
    fn done(&self, t: usize) -> bool {
        usize::from(self.state.threads[t].pc) >= self.model.program(t).len()
    }

    fn role(&self, t: usize) -> Role {
        self.model.actors()[t].id.role
    }

    /// Runs actor `t` alone until its program ends, with the properties it breaks on the way;
    /// `None` if it blocks (it waits for another actor), which makes the operation unavailable
    /// here.
    fn run_alone(&self, t: usize) -> Option<(State, BTreeSet<Prop>)> {
        let mut state = self.state.clone();
        let mut violated = BTreeSet::new();
        while usize::from(state.threads[t].pc) < self.model.program(t).len() {
            if !self.model.enabled(&state, t) {
                return None;
            }
            state = self.model.apply(&state, t);
            violated.extend(
                violations(&self.model.view(&state))
                    .into_iter()
                    .map(|v| v.property)
                    .filter(|p| *p != Prop::DeadlockFree),
            );
        }
        Some((state, violated))
    }

    fn teardown_done(&self) -> bool {
        (0..self.model.actors().len()).any(|t| self.role(t) == Role::Teardown && self.done(t))
    }

    /// Whether the implementation can take the same operation: it refuses a registration after
    /// teardown (the kernel's `mmu_notifier_register()` needs `mm_users > 0`, so none happens
    /// there either), which the model does not rule out.
    fn available(&self, t: usize) -> bool {
        let refused = self.role(t) == Role::Reg && self.teardown_done();
        !self.done(t) && !refused && self.run_alone(t).is_some()
    }
}

/// The reference machine for protocol `C`, whose model variant is `C::VARIANT`.
struct Model<C>(PhantomData<C>);

impl<C: Chain> ReferenceStateMachine for Model<C> {
    type State = Reference;
    type Transition = Operation;

    fn init_state() -> BoxedStrategy<Reference> {
        let variant: Variant = C::VARIANT;
        let model = EmmModel::new(variant, config(variant));
        let state = model.initial_state();
        Just(Reference {
            model,
            state,
            violated: BTreeSet::new(),
        })
        .boxed()
    }

    fn transitions(state: &Reference) -> BoxedStrategy<Operation> {
        let actors = state.model.actors();
        let available: Vec<Operation> = (0..actors.len())
            .filter(|&t| state.available(t))
            .map(|t| Operation(Some((t, actors[t].id))))
            .collect();
        if available.is_empty() {
            return Just(Operation(None)).boxed();
        }
        select(available).boxed()
    }

    fn apply(mut state: Reference, op: &Operation) -> Reference {
        if let Some((t, _)) = op.0 {
            let (next, violated) = state.run_alone(t).expect("preconditions hold");
            state.state = next;
            state.violated.extend(violated);
        }
        state
    }

    fn preconditions(state: &Reference, op: &Operation) -> bool {
        op.0.is_none_or(|(t, _)| state.available(t))
    }
}

/// The registry under test for protocol `C`.
struct Agreement<C>(PhantomData<C>);

impl<C: Chain> StateMachineTest for Agreement<C> {
    type SystemUnderTest = Sequential<C>;
    type Reference = Model<C>;

    fn init_test(reference: &Reference) -> Sequential<C> {
        let c = reference.model.config;
        Sequential::new(c.notifiers, c.registrations, c.nested)
    }

    fn apply(mut sut: Sequential<C>, reference: &Reference, op: Operation) -> Sequential<C> {
        let Some((t, _)) = op.0 else {
            return sut;
        };
        let actor = reference.model.actors()[t];
        let n = usize::from(actor.notifier);
        match actor.id.role {
            Role::Vm => sut.invalidate(actor.id.index),
            Role::Reg => sut
                .register(n)
                .expect("no registration is tried after teardown"),
            Role::Drv => {
                sut.fault(n);
            }
            Role::Unreg => {
                let target = reference.model.config.targets.expect("fixed targets")[actor.id.index];
                sut.unregister(actor.id.index, usize::from(target));
            }
            Role::Teardown => sut.teardown(),
            Role::Aging => sut.clear_young(),
            Role::Fault | Role::Oom => unreachable!("the configuration has no such actor"),
        }
        sut
    }

    fn check_invariants(sut: &Sequential<C>, reference: &Reference) {
        let view = reference.model.view(&reference.state);
        for n in 0..view.notifier_count() {
            let (model, real) = (view.notifier(n), sut.notifier(n));
            let fields = |v: emm_proofs::NotifierView| {
                (
                    v.registered,
                    v.unregistered,
                    v.in_progress,
                    v.mirror,
                    v.releases,
                )
            };
            assert_eq!(
                fields(real),
                fields(model),
                "notifier {n} (registered, unregistered, in_progress, mirror, releases): \
                 implementation vs model"
            );
        }
        for f in 0..8 {
            assert_eq!(
                sut.frame_freed(f),
                view.frame_freed(f),
                "frame {f} freed: implementation vs model"
            );
        }
        let broken: BTreeSet<Prop> = sut.violations().iter().map(|v| v.property).collect();
        assert_eq!(
            broken, reference.violated,
            "properties broken so far: implementation vs model"
        );
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The production protocol against the model of `mmu-notifier@v5.12`.
    #[test]
    fn take_all_locks_agrees_with_model(sequential 1..14 => Agreement<TakeAllLocks>);

    /// Our walk that never waits against the model of `ours@rcu-window`.
    #[test]
    fn rcu_window_agrees_with_model(sequential 1..14 => Agreement<RcuWindow>);

    /// The seed patch, run one operation at a time, against the model of `emm@stop-start`:
    /// without concurrency its bug cannot show, and both sides must agree step by step.
    #[test]
    fn emm_stop_start_agrees_with_model(sequential 1..14 => Agreement<EmmStopStart>);

    /// EMM V2 against the model of `emm@v2`.
    #[test]
    fn rcu_publish_agrees_with_model(sequential 1..14 => Agreement<RcuPublish>);
}
