//! The model's state graph has no cycles: every retry loop waits for another thread to move
//! on. So `deadlock_free` ("every state that is not final can step") also means "every run
//! finishes", which is what the spec asks.

use crate::common::more_configs;
use emm_model::state::State;
use emm_model::{EmmModel, Step, Variant};
use stateright::Model;
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    OnPath,
    Done,
}

/// Depth-first search with the usual three colours: a successor still on the current path is
/// a back edge, that is, a cycle.
fn find_cycle(model: &EmmModel) -> Option<Vec<Step>> {
    let mut marks: HashMap<State, Mark> = HashMap::new();
    let init = model.init_states().remove(0);
    // Each frame: a state, its successors still to visit, and the step that led to it.
    let mut stack: Vec<(State, Vec<Step>, Option<Step>)> = Vec::new();
    let successors = |s: &State| {
        let mut actions = Vec::new();
        model.actions(s, &mut actions);
        actions
    };
    marks.insert(init.clone(), Mark::OnPath);
    stack.push((init.clone(), successors(&init), None));
    while let Some((state, pending, _)) = stack.last_mut() {
        let Some(step) = pending.pop() else {
            marks.insert(state.clone(), Mark::Done);
            stack.pop();
            continue;
        };
        let next = model
            .next_state(state, step)
            .expect("every enabled step has a successor");
        match marks.get(&next) {
            Some(Mark::OnPath) => {
                let mut path: Vec<Step> = stack.iter().filter_map(|f| f.2).collect();
                path.push(step);
                return Some(path);
            }
            Some(Mark::Done) => {}
            None => {
                marks.insert(next.clone(), Mark::OnPath);
                let succ = successors(&next);
                stack.push((next, succ, Some(step)));
            }
        }
    }
    None
}

#[test]
fn the_state_graph_has_no_cycles() {
    let configs = more_configs();
    for config in configs {
        for variant in Variant::ALL {
            let model = EmmModel::new(variant, config);
            assert_eq!(find_cycle(&model), None, "{variant} {}", config.to_flags());
        }
    }
}
