//! What a C litmus test says, after parsing: its threads as instruction lists over the
//! primitives of [`crate::lkmm`], its initial state and its final condition.

use crate::lkmm::{Rmw, RmwOrder};
use emm_proofs::Barrier;

/// A value: an integer, or the address of a shared location (`&x`, a pointer parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// An `int`.
    Int(i64),
    /// The address of shared location number `n` (see [`Litmus::locations`]).
    Loc(u8),
}

impl Value {
    /// C truth: nonzero integers and every address are true.
    pub fn truthy(self) -> bool {
        !matches!(self, Value::Int(0))
    }

    /// The integer, with an address read as itself plus a large offset (only compared).
    pub fn as_int(self) -> i64 {
        match self {
            Value::Int(v) => v,
            Value::Loc(l) => 1_000_000 + i64::from(l),
        }
    }
}

/// An expression over a thread's registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A constant.
    Const(Value),
    /// Register number `n` of the thread.
    Reg(usize),
    /// A binary operator: `+ - * & | ^ == != < <= > >= && ||`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `!e`.
    Not(Box<Expr>),
}

/// The binary operators of [`Expr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    BitAnd,
    BitOr,
    BitXor,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

/// How a read orders what follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// `READ_ONCE()`, `atomic_read()`, a plain C read.
    Once,
    /// `smp_load_acquire()`, `atomic_read_acquire()`, `rcu_dereference()` (a stand-in for the
    /// address dependency; see `emm-check help memory`).
    Acquire,
}

/// How a write orders what came before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// `WRITE_ONCE()`, `atomic_set()`, a plain C write.
    Once,
    /// `smp_store_release()`, `rcu_assign_pointer()`, `atomic_set_release()`.
    Release,
}

/// One step of a thread. Pointer operands (`ptr`, `domain`) are expressions that evaluate to
/// a location's address; `dst` is the register that receives the step's value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Ins {
    /// `dst = value`.
    Assign { dst: usize, value: Expr },
    /// `dst = READ_ONCE(*ptr)` and the like.
    Read {
        dst: usize,
        ptr: Expr,
        kind: ReadKind,
    },
    /// `WRITE_ONCE(*ptr, value)` and the like.
    Write {
        ptr: Expr,
        value: Expr,
        kind: WriteKind,
    },
    /// A read-modify-write; `dst` gets the value the primitive returns, if it returns one:
    /// the new value where `returns_new` (`atomic_add_return`), else the old one
    /// (`atomic_fetch_add`, `xchg`, `cmpxchg`).
    Rmw {
        dst: Option<usize>,
        ptr: Expr,
        op: Rmw<Expr>,
        order: RmwOrder,
        returns_new: bool,
    },
    /// A barrier.
    Barrier(Barrier),
    /// `spin_lock(ptr)`.
    Lock(Expr),
    /// `spin_unlock(ptr)`.
    Unlock(Expr),
    /// `dst = spin_trylock(ptr)`.
    TryLock { dst: usize, ptr: Expr },
    /// `dst = spin_is_locked(ptr)`.
    IsLocked { dst: usize, ptr: Expr },
    /// `rcu_read_lock()` (no `domain`), or `dst = srcu_read_lock(domain)`.
    ReadLock {
        domain: Option<Expr>,
        dst: Option<usize>,
    },
    /// `rcu_read_unlock()`, or `srcu_read_unlock(domain, index)`.
    ReadUnlock {
        domain: Option<Expr>,
        index: Option<Expr>,
    },
    /// The start of `synchronize_rcu()`, or `synchronize_srcu(domain)` (the rest is
    /// [`Ins::SynchronizeWait`], the next instruction).
    Synchronize { domain: Option<Expr> },
    /// The wait of the grace period started by the instruction before.
    SynchronizeWait,
    /// Jumps to `target` unless `cond` holds.
    JumpUnless { cond: Expr, target: usize },
    /// Jumps to `target`.
    Jump { target: usize },
}

/// One thread `Pn`.
#[derive(Clone, Debug, Default)]
pub struct Thread {
    /// Register names, by number.
    pub registers: Vec<String>,
    /// The initial value of each register (`0:r1=1` in the init block; 0 otherwise).
    pub initial: Vec<Value>,
    /// The thread's code.
    pub code: Vec<Ins>,
}

/// An atom of the final condition.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Atom {
    /// `T:r=v`: register `r` of thread `T`.
    Register {
        thread: usize,
        register: usize,
        value: Value,
    },
    /// `x=v`: the final value of shared location `x`.
    Location { location: u8, value: Value },
}

/// A proposition over final states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prop {
    /// `true` or `false`.
    Const(bool),
    /// An equality.
    Atom(Atom),
    /// `~p`.
    Not(Box<Prop>),
    /// `p /\ q`.
    And(Box<Prop>, Box<Prop>),
    /// `p \/ q`.
    Or(Box<Prop>, Box<Prop>),
}

/// The quantifier of the final condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantifier {
    /// `exists p`: some final state satisfies `p`.
    Exists,
    /// `~exists p`: none does.
    NotExists,
    /// `forall p`: every one does.
    Forall,
}

/// herd7's verdict on the condition's proposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// No final state satisfies it.
    Never,
    /// Some do, some do not.
    Sometimes,
    /// Every final state does.
    Always,
}

impl Observation {
    /// The word herd7 prints.
    pub fn name(self) -> &'static str {
        match self {
            Observation::Never => "Never",
            Observation::Sometimes => "Sometimes",
            Observation::Always => "Always",
        }
    }
}

/// The result a test's comment states (`Result: Never`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stated {
    /// One of herd7's observations.
    Observation(Observation),
    /// `Result: DEADLOCK`: no execution completes (herd7: `Never 0 0`), as the kernel's
    /// `judgelitmus.sh` reads it.
    Deadlock,
}

impl Stated {
    /// The word the test states.
    pub fn name(self) -> &'static str {
        match self {
            Stated::Observation(o) => o.name(),
            Stated::Deadlock => "DEADLOCK",
        }
    }
}

/// A parsed litmus test.
#[derive(Clone, Debug)]
pub struct Litmus {
    /// The name of the header line (`C NAME`).
    pub name: String,
    /// The `Result:` its comment states, if any.
    pub result: Option<Stated>,
    /// Shared locations, by number: every name of the init block and every pointer
    /// parameter.
    pub locations: Vec<String>,
    /// Each location's initial value.
    pub initial: Vec<Value>,
    /// The threads, `P0` first.
    pub threads: Vec<Thread>,
    /// Locations whose final value the output lists (`locations [x; y]`).
    pub shown: Vec<u8>,
    /// `filter p`: only final states satisfying it count.
    pub filter: Option<Prop>,
    /// The final condition.
    pub quantifier: Quantifier,
    /// Its proposition.
    pub condition: Prop,
}
