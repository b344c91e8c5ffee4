//! A whole state in words, as the Explorer shows it.

use super::words::{describe, frame, node};
use crate::config::Variant;
use crate::model::EmmModel;
use crate::state::{State, NIL};
use emm_proofs::{Callback, Family};
use std::fmt::Write as _;

/// `state` as the Explorer shows it: the chain (`head -> n0 -> n1 -> NULL`), the page, the
/// locks of the variant, each driver's mirror, counters and flags, each actor's next kernel
/// step, and the properties broken in this state.
pub fn readable(model: &EmmModel, s: &State) -> String {
    let mut out = String::new();
    let notifiers = model.config.total_notifiers();
    // The chain, followed from head; the walk is bounded so a corrupted chain cannot loop.
    let mut chain = String::from("head");
    let mut n = s.head;
    let mut seen = 0u8;
    for _ in 0..=notifiers {
        chain.push_str(" -> ");
        chain.push_str(&node(n));
        if n == NIL || seen & (1 << n) != 0 {
            break;
        }
        seen |= 1 << n;
        n = s.next[n as usize];
    }
    let _ = writeln!(out, "chain     {chain}");
    let outside: Vec<String> = (0..notifiers as u8)
        .filter(|&n| seen & (1 << n) == 0)
        .map(|n| format!("n{n}->next = {}", node(s.next[n as usize])))
        .collect();
    if !outside.is_empty() {
        let _ = writeln!(out, "off chain {}", outside.join(", "));
    }
    let freed: Vec<String> = (0..8u8)
        .filter(|f| s.freed & (1 << f) != 0)
        .map(|f| format!("f{f}"))
        .collect();
    let _ = writeln!(
        out,
        "page      PTE -> {}; freed: {}",
        frame(s.pte),
        if freed.is_empty() {
            "none".into()
        } else {
            freed.join(", ")
        }
    );
    let held = |on: bool| if on { "held" } else { "free" };
    let t = model.traits();
    let mut locks = vec![format!(
        "mmap_sem {}{}{}",
        held(s.mmap_sem),
        if s.mmap_readers > 0 {
            format!(", {} readers", s.mmap_readers)
        } else {
            String::new()
        },
        if s.mmap_waiting > 0 {
            format!(", {} writers queued", s.mmap_waiting)
        } else {
            String::new()
        }
    )];
    locks.push(format!(
        "rmap holders {}{}{}",
        s.rmap_readers,
        if s.rmap_writer {
            ", all taken (mm_take_all_locks)"
        } else {
            ""
        },
        if s.rmap_waiting > 0 {
            ", a writer queued"
        } else {
            ""
        }
    ));
    if t.vma_locks {
        locks.push(format!(
            "VMA readers {}{}",
            s.vma_readers,
            if s.vma_locked { ", write-locked" } else { "" }
        ));
    }
    if let Some(rs) = t.read_side {
        let readers: Vec<String> = model
            .actors()
            .iter()
            .enumerate()
            .filter(|&(u, _)| s.threads[u].depth > 0)
            .map(|(u, a)| {
                let gp = s.threads[u].gp;
                format!(
                    "{}{}",
                    a.id,
                    if gp != 0 {
                        " (a grace period waits)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        locks.push(format!(
            "{rs} readers: {}",
            if readers.is_empty() {
                "none".into()
            } else {
                readers.join(", ")
            }
        ));
    }
    if t.family == Family::Interval {
        locks.push(format!(
            "subscriptions lock {}; invalidate_seq {}{}; active {}",
            held(s.spin),
            s.itree_seq,
            if s.itree_seq & 1 == 1 {
                " (invalidating)"
            } else {
                ""
            },
            s.itree_active
        ));
    } else if t.read_side.is_some() {
        locks.push(format!("notifier lock {}", held(s.spin)));
    }
    if model.variant == Variant::OursEmmStopDrainStart {
        locks.push(format!(
            "emm_active {}; emm_stopping {}",
            s.emm_active, s.emm_stopping as u8
        ));
    }
    let locks = locks.join("; ");
    let _ = writeln!(out, "locks     {locks}");
    for n in 0..notifiers {
        let d = &s.drivers[n];
        let mut flags = Vec::new();
        if s.registered & (1 << n) != 0 {
            flags.push("registered");
        }
        if d.stopped {
            flags.push("stopped");
        }
        if d.released {
            flags.push("released");
        }
        if d.installed {
            flags.push("installed by fault");
        }
        if s.deferred_insert & (1 << n) != 0 {
            flags.push("insert deferred");
        }
        if s.deferred_remove & (1 << n) != 0 {
            flags.push("remove deferred");
        }
        if s.freed_nodes & (1 << n) != 0 {
            flags.push("freed by its owner");
        }
        let stops = if model.programs().delivers(Callback::Stop) {
            format!(", stops {}, starts {}", d.stops, d.starts)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:<9} n{n}: mirror {}, in_progress {}, seq {}{stops}, releases {}{}{}",
            if n == 0 { "drivers" } else { "" },
            frame(d.mirror),
            d.in_progress,
            d.seq,
            d.releases,
            if flags.is_empty() { "" } else { "; " },
            flags.join(", ")
        );
    }
    for (t, a) in model.actors().iter().enumerate() {
        let done = s.threads[t].pc as usize >= model.program(t).len();
        let oopsed = s.threads[t].fault_kind().is_some();
        let at = if done {
            "finished".to_string()
        } else if oopsed {
            describe(model, s, t)
        } else if model.enabled(s, t) {
            format!("next: {}", describe(model, s, t))
        } else {
            format!("blocked at: {}", describe(model, s, t))
        };
        let _ = writeln!(
            out,
            "{:<9} {:<8} {at}",
            if t == 0 { "actors" } else { "" },
            a.id.to_string()
        );
    }
    let view = model.view(s);
    let broken: Vec<String> = emm_proofs::violations(&view)
        .into_iter()
        .filter(|v| model.applies(v.property))
        .map(|v| format!("{}: {}", v.property, v.reason))
        .collect();
    if broken.is_empty() {
        let _ = writeln!(out, "violated  none");
    }
    for (i, b) in broken.iter().enumerate() {
        let _ = writeln!(out, "{:<9} {b}", if i == 0 { "VIOLATED" } else { "" });
    }
    out
}
