//! Every execution of a litmus test under [`crate::lkmm`], explored state by state.

use super::ast::{Atom, BinOp, Expr, Ins, Litmus, Prop, ReadKind, Value, WriteKind};
use crate::lkmm::{Rmw, RmwOrder, World};
use emm_proofs::Barrier;
use std::collections::{BTreeSet, HashSet};

/// The domain number of RCU itself; `srcu_struct` at location `l` is domain `l + 1`.
const RCU: usize = 0;

/// One thread's control state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Control {
    pc: usize,
    registers: Vec<Value>,
    /// `rcu_read_lock()` nesting depth.
    rcu_depth: u8,
    /// The read-side sections this thread has open: (domain, section id).
    sections: Vec<(usize, u16)>,
    /// The sections the grace period it is in waits for: (domain, the sections).
    waiting: Option<(usize, Vec<u16>)>,
}

/// A state of the exploration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    world: World<Value>,
    threads: Vec<Control>,
    next_section: u16,
}

/// A final state: every register of every thread, and every location's final value.
pub(super) type Final = (Vec<Vec<Value>>, Vec<Value>);

/// What the exploration found.
#[derive(Debug)]
pub struct Explored {
    /// The distinct final states, filtered by the test's `filter`: every register of every
    /// thread, and every location's final value.
    pub finals: BTreeSet<(Vec<Vec<Value>>, Vec<Value>)>,
    /// States explored.
    pub states: usize,
    /// States where no thread could move and some had not finished (a grace period waiting
    /// on its own section, a lock never released).
    pub stuck: usize,
}

/// Why a test could not be run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RunError {
    /// A thread used a value as a pointer that is not one.
    NotAPointer { thread: usize, pc: usize },
    /// `srcu_read_unlock` of a section that is not open.
    NoSuchSection { thread: usize },
    /// The exploration passed the state limit.
    StateLimit(usize),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::NotAPointer { thread, pc } => write!(
                f,
                "P{thread}, instruction {pc}: dereferences a value that is not a location's address"
            ),
            RunError::NoSuchSection { thread } => {
                write!(
                    f,
                    "P{thread}: srcu_read_unlock() of a section that is not open"
                )
            }
            RunError::StateLimit(n) => write!(f, "more than {n} states: stopped"),
        }
    }
}

fn eval(e: &Expr, regs: &[Value]) -> Value {
    match e {
        Expr::Const(v) => *v,
        Expr::Reg(r) => regs[*r],
        Expr::Not(e) => Value::Int(i64::from(!eval(e, regs).truthy())),
        Expr::Binary(op, a, b) => {
            let (va, vb) = (eval(a, regs), eval(b, regs));
            let (x, y) = (va.as_int(), vb.as_int());
            let bool = |b: bool| Value::Int(i64::from(b));
            match op {
                BinOp::Eq => bool(va == vb),
                BinOp::Ne => bool(va != vb),
                BinOp::And => bool(va.truthy() && vb.truthy()),
                BinOp::Or => bool(va.truthy() || vb.truthy()),
                BinOp::Lt => bool(x < y),
                BinOp::Le => bool(x <= y),
                BinOp::Gt => bool(x > y),
                BinOp::Ge => bool(x >= y),
                // Address arithmetic `p + 0` (a fake dependency) keeps the address.
                BinOp::Add | BinOp::Sub if matches!(va, Value::Loc(_)) && y == 0 => va,
                BinOp::BitAnd if matches!(va, Value::Loc(_)) && y == -1 => va,
                BinOp::Add => Value::Int(x.wrapping_add(y)),
                BinOp::Sub => Value::Int(x.wrapping_sub(y)),
                BinOp::Mul => Value::Int(x.wrapping_mul(y)),
                BinOp::BitAnd => Value::Int(x & y),
                BinOp::BitOr => Value::Int(x | y),
                BinOp::BitXor => Value::Int(x ^ y),
            }
        }
    }
}

/// Whether final state `f` satisfies `p`.
pub(super) fn holds(p: &Prop, f: &Final) -> bool {
    match p {
        Prop::Const(b) => *b,
        Prop::Not(p) => !holds(p, f),
        Prop::And(a, b) => holds(a, f) && holds(b, f),
        Prop::Or(a, b) => holds(a, f) || holds(b, f),
        Prop::Atom(Atom::Register {
            thread,
            register,
            value,
        }) => f.0[*thread][*register] == *value,
        Prop::Atom(Atom::Location { location, value }) => f.1[*location as usize] == *value,
    }
}

impl State {
    fn location(&self, t: usize, e: &Expr) -> Result<u8, RunError> {
        match eval(e, &self.threads[t].registers) {
            Value::Loc(l) => Ok(l),
            Value::Int(_) => Err(RunError::NotAPointer {
                thread: t,
                pc: self.threads[t].pc,
            }),
        }
    }

    fn domain(&self, t: usize, e: &Option<Expr>) -> Result<usize, RunError> {
        match e {
            None => Ok(RCU),
            Some(e) => Ok(self.location(t, e)? as usize + 1),
        }
    }

    /// The successors of thread `t`'s next step; empty when it is blocked.
    fn step(&self, t: usize, code: &[Ins]) -> Result<Vec<State>, RunError> {
        let th = &self.threads[t];
        let ins = &code[th.pc];
        let mut next = self.clone();
        next.threads[t].pc += 1;
        let regs = th.registers.clone();
        let mut out = Vec::new();
        match ins {
            Ins::Assign { dst, value } => {
                next.threads[t].registers[*dst] = eval(value, &regs);
                out.push(next);
            }
            Ins::Read { dst, ptr, kind } => {
                let x = self.location(t, ptr)?;
                for (i, _) in self.world.readable(t, x) {
                    let mut s = next.clone();
                    let v = s.world.read(t, x, i, *kind == ReadKind::Acquire);
                    s.threads[t].registers[*dst] = v;
                    out.push(s);
                }
            }
            Ins::Write { ptr, value, kind } => {
                let x = self.location(t, ptr)?;
                let v = eval(value, &regs);
                let release = *kind == WriteKind::Release;
                for r in self.world.writable(t, x, release) {
                    let mut s = next.clone();
                    s.world.write(t, x, r, v, release);
                    out.push(s);
                }
            }
            Ins::Rmw {
                dst,
                ptr,
                op,
                order,
                returns_new,
            } => {
                let x = self.location(t, ptr)?;
                let (acquire, release, full) = match order {
                    RmwOrder::Relaxed => (false, false, false),
                    RmwOrder::Acquire => (true, false, false),
                    RmwOrder::Release => (false, true, false),
                    RmwOrder::Full => (false, false, true),
                };
                let mut fenced = next.clone();
                if full {
                    fenced.world.fence(t, Barrier::Mb);
                }
                // Successful RMWs, after the full barrier if the primitive has one.
                for (i, old) in fenced.world.rmw_readable(t, x, release) {
                    let new = match op {
                        Rmw::Add(e) => Some(Value::Int(old.as_int() + eval(e, &regs).as_int())),
                        Rmw::Xchg(e) => Some(eval(e, &regs)),
                        Rmw::Cmpxchg(a, b) => (old == eval(a, &regs)).then(|| eval(b, &regs)),
                        Rmw::AddUnless(a, u) => (old != eval(u, &regs))
                            .then(|| Value::Int(old.as_int() + eval(a, &regs).as_int())),
                    };
                    let Some(new) = new else { continue };
                    let mut s = fenced.clone();
                    s.world.rmw(t, x, i, new, acquire, release);
                    if full {
                        s.world.fence(t, Barrier::Mb);
                    }
                    if let Some(dst) = dst {
                        s.threads[t].registers[*dst] = match op {
                            Rmw::AddUnless(..) => Value::Int(1),
                            _ if *returns_new => new,
                            _ => old,
                        };
                    }
                    out.push(s);
                }
                // A failed cmpxchg or add_unless is a READ_ONCE (an acquire for `_acquire`).
                if matches!(op, Rmw::Cmpxchg(..) | Rmw::AddUnless(..)) {
                    for (i, old) in self.world.readable(t, x) {
                        let fails = match op {
                            Rmw::Cmpxchg(a, _) => old != eval(a, &regs),
                            Rmw::AddUnless(_, u) => old == eval(u, &regs),
                            _ => false,
                        };
                        if !fails {
                            continue;
                        }
                        let mut s = next.clone();
                        s.world.read(t, x, i, acquire);
                        if let Some(dst) = dst {
                            s.threads[t].registers[*dst] = match op {
                                Rmw::AddUnless(..) => Value::Int(0),
                                _ => old,
                            };
                        }
                        out.push(s);
                    }
                }
            }
            Ins::Barrier(f) => {
                next.world.fence(t, *f);
                out.push(next);
            }
            Ins::Lock(ptr) => {
                let l = self.location(t, ptr)?;
                if self.world.lock_free(l, Value::Int(0)) {
                    next.world.lock(t, l, Value::Int(1));
                    out.push(next);
                }
            }
            Ins::Unlock(ptr) => {
                let l = self.location(t, ptr)?;
                next.world.unlock(t, l, Value::Int(0));
                out.push(next);
            }
            Ins::TryLock { dst, ptr } => {
                let l = self.location(t, ptr)?;
                if self.world.lock_free(l, Value::Int(0)) {
                    let mut s = next.clone();
                    s.world.lock(t, l, Value::Int(1));
                    s.threads[t].registers[*dst] = Value::Int(1);
                    out.push(s);
                }
                for (i, v) in self.world.readable(t, l) {
                    if v != Value::Int(0) {
                        let mut s = next.clone();
                        s.world.read(t, l, i, false);
                        s.threads[t].registers[*dst] = Value::Int(0);
                        out.push(s);
                    }
                }
            }
            Ins::IsLocked { dst, ptr } => {
                let l = self.location(t, ptr)?;
                for (i, v) in self.world.readable(t, l) {
                    let mut s = next.clone();
                    s.world.read(t, l, i, false);
                    s.threads[t].registers[*dst] = Value::Int(i64::from(v != Value::Int(0)));
                    out.push(s);
                }
            }
            Ins::ReadLock { domain, dst } => {
                let d = self.domain(t, domain)?;
                let me = &mut next.threads[t];
                if d == RCU {
                    me.rcu_depth += 1;
                    if me.rcu_depth == 1 {
                        me.sections.push((RCU, next.next_section));
                        next.next_section += 1;
                        next.world.read_lock(t, RCU);
                    }
                } else {
                    let id = next.next_section;
                    me.sections.push((d, id));
                    if let Some(dst) = dst {
                        me.registers[*dst] = Value::Int(i64::from(id));
                    }
                    next.next_section += 1;
                    next.world.read_lock(t, d);
                }
                out.push(next);
            }
            Ins::ReadUnlock { domain, index } => {
                let d = self.domain(t, domain)?;
                let me = &mut next.threads[t];
                if d == RCU {
                    me.rcu_depth = me.rcu_depth.saturating_sub(1);
                    if me.rcu_depth == 0 {
                        me.sections.retain(|(dd, _)| *dd != RCU);
                        next.world.read_unlock(t, RCU);
                    }
                } else {
                    let id = index.as_ref().map(|e| eval(e, &regs).as_int());
                    let at = me
                        .sections
                        .iter()
                        .position(|&(dd, s)| dd == d && id.is_none_or(|id| id == i64::from(s)))
                        .ok_or(RunError::NoSuchSection { thread: t })?;
                    me.sections.remove(at);
                    next.world.read_unlock(t, d);
                }
                out.push(next);
            }
            Ins::Synchronize { domain } => {
                let d = self.domain(t, domain)?;
                next.world.grace_period_start(t, d);
                let open: Vec<u16> = next
                    .threads
                    .iter()
                    .flat_map(|c| c.sections.iter())
                    .filter(|(dd, _)| *dd == d)
                    .map(|&(_, id)| id)
                    .collect();
                next.threads[t].waiting = Some((d, open));
                out.push(next);
            }
            Ins::SynchronizeWait => {
                let (d, ids) = th.waiting.clone().expect("a grace period started");
                let still_open = self
                    .threads
                    .iter()
                    .flat_map(|c| c.sections.iter())
                    .any(|&(dd, id)| dd == d && ids.contains(&id));
                if !still_open {
                    next.world.grace_period_end(t, d);
                    next.threads[t].waiting = None;
                    out.push(next);
                }
            }
            Ins::JumpUnless { cond, target } => {
                if !eval(cond, &regs).truthy() {
                    next.threads[t].pc = *target;
                }
                out.push(next);
            }
            Ins::Jump { target } => {
                next.threads[t].pc = *target;
                out.push(next);
            }
        }
        Ok(out)
    }
}

/// Explores every execution of `test`, up to `max_states` states.
pub fn explore(test: &Litmus, max_states: usize) -> Result<Explored, RunError> {
    let domains = test.locations.len() + 1;
    let initial = State {
        world: World::new(&test.initial, test.threads.len(), domains),
        threads: test
            .threads
            .iter()
            .map(|th| Control {
                pc: 0,
                registers: th.initial.clone(),
                rcu_depth: 0,
                sections: Vec::new(),
                waiting: None,
            })
            .collect(),
        next_section: 0,
    };
    let mut seen = HashSet::new();
    let mut stack = vec![initial.clone()];
    seen.insert(initial);
    let mut finals = BTreeSet::new();
    let mut stuck = 0;
    while let Some(s) = stack.pop() {
        let mut moved = false;
        let mut done = true;
        for (t, th) in test.threads.iter().enumerate() {
            if s.threads[t].pc >= th.code.len() {
                continue;
            }
            done = false;
            for n in s.step(t, &th.code)? {
                moved = true;
                if seen.len() >= max_states {
                    return Err(RunError::StateLimit(max_states));
                }
                if seen.insert(n.clone()) {
                    stack.push(n);
                }
            }
        }
        if done {
            let f: Final = (
                s.threads.iter().map(|c| c.registers.clone()).collect(),
                (0..test.locations.len() as u8)
                    .map(|x| s.world.last(x))
                    .collect(),
            );
            if test.filter.as_ref().is_none_or(|p| holds(p, &f)) {
                finals.insert(f);
            }
        } else if !moved {
            stuck += 1;
        }
    }
    Ok(Explored {
        finals,
        states: seen.len(),
        stuck,
    })
}
