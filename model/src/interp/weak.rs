//! The weak part of a state under `--memory lkmm`: which locations carry message histories,
//! and how each step's access of one follows the rules of [`crate::lkmm`].
//!
//! # States
//!
//! A location is weak when some step of the configuration's programs reads it without the
//! lock its writers hold:
//!
//! | location | written | read lock-free by |
//! |---|---|---|
//! | `emm_active` | `atomic_inc`/`atomic_dec` (the drain's gate) | `atomic_read` in the drain's wait |
//! | `emm_stopping` | `WRITE_ONCE` by register and unregister | `READ_ONCE` in the gate and its wait |
//! | `head`, each node's `next` | the list operations: `rcu_assign_pointer` for a publish (a release), plain or `WRITE_ONCE` stores otherwise | the walks' `rcu_dereference` (an acquire here) |
//! | the PTE | zaps, under the page table lock | `get_user_pages_fast()`, `hmm_range_fault()` |
//! | a KVM driver's `mmu_notifier_seq` | its callbacks, under `mmu_lock` | the fault's snapshot |
//! | the interval `invalidate_seq` | the interval code, under its lock | `wait_event()` in `read_begin` and `remove` |
//!
//! Every lock of the model is a lock location too (`mmap_sem`, the `anon_vma` lock, the
//! notifier lock, the VMA lock, the page table lock, each driver's `mmu_lock`): a step that
//! takes one acquires it, a step that drops one releases it, with LKMM's po-unlock-lock-po.
//! Which locks a step takes and drops is read off the sequentially consistent state, which
//! keeps enforcing their exclusion. Read-side sections and grace periods follow the RCU rules
//! (one domain: RCU before v3.7, SRCU after). The rest of the state (`pprev`, which only the
//! notifier lock's holder reads; the drivers' `in_progress`, read under `mmu_lock`) stays
//! sequentially consistent, and that state always holds each location's last store.
//!
//! # Operations
//!
//! Every store is placed last in its location's coherence order: each weak location has one
//! writer at a time (a lock's holder, the one registrar that holds `mmap_sem`, or an atomic
//! RMW, which must follow the last store anyway), so no other order is possible. A lock-free
//! load is the step's choice ([`Step::read`](crate::Step)): any store at or after the
//! thread's view of the location, `0` the last, `1` the one before, and so on. A `wait_event`
//! on a weak location is such a load, enabled for the stores that satisfy its condition
//! (`wait_event()` tests the condition once before any barrier). A walk does not read a stale
//! link that leads back to a node it has called: it would go round until the newer store
//! reached it. After each step the threads that have finished drop their views (a register's
//! pass to its driver first: the driver faults after register returned), and the stores
//! below every live thread's view are collected, so that equal futures are equal states; a
//! history keeps at most [`HISTORY_CAP`] stores.

use crate::config::Memory;
use crate::lkmm::World;
use crate::model::{EmmModel, Step};
use crate::state::{State, WalkPc, NIL};
use emm_proofs::{Barrier, Op, Role};

/// The most stores a weak location keeps. Only a loop that stores on every turn (a walk
/// around a corrupted, cyclic chain) reaches it: without the cap, a thread that has not
/// started yet could read any of them, and the histories would grow without end.
pub const HISTORY_CAP: usize = 8;

/// `mm->emm_active`.
pub const ACTIVE: u8 = 0;
/// `mm->emm_stopping`.
pub const STOPPING: u8 = 1;
/// The page's PTE.
pub const PTE: u8 = 2;
/// The page table lock.
pub const PTL: u8 = 3;
/// `mmap_sem`.
pub const MMAP_SEM: u8 = 4;
/// The page's `anon_vma` lock (all of them, for `mm_take_all_locks()`).
pub const RMAP: u8 = 5;
/// The notifier list's spinlock (or the interval `subscriptions->lock`).
pub const SPIN: u8 = 6;
/// The VMA's lock.
pub const VMA: u8 = 7;
/// The interval notifiers' `subscriptions->invalidate_seq`.
pub const ITREE_SEQ: u8 = 8;

/// The chain's head (`mm->emm_notifier`, `list.first`).
pub const HEAD: u8 = 9;

/// The first notifier's locations: each notifier has three.
const NOTIFIERS: u8 = 10;

/// Notifier `n`'s `next`.
pub const fn next(n: u8) -> u8 {
    NOTIFIERS + 3 * n
}

/// Driver `n`'s `mmu_notifier_seq`.
pub const fn seq(n: u8) -> u8 {
    NOTIFIERS + 3 * n + 1
}

/// Driver `n`'s `mmu_lock`.
pub const fn mmu_lock(n: u8) -> u8 {
    NOTIFIERS + 3 * n + 2
}

/// The number of weak locations with `notifiers` notifiers.
const fn locations(notifiers: usize) -> usize {
    NOTIFIERS as usize + 3 * notifiers
}

/// Whether `x` is a lock: every access of it is a read-modify-write of its last store, so
/// only that store is ever read.
pub fn is_lock(x: u8) -> bool {
    matches!(x, PTL | MMAP_SEM | RMAP | SPIN | VMA) || (x >= NOTIFIERS && (x - NOTIFIERS) % 3 == 2)
}

/// Whether `x` is a link of the chain (`head`, a `next`): its values are nodes.
pub fn is_link(x: u8) -> bool {
    x == HEAD || (x >= NOTIFIERS && (x - NOTIFIERS).is_multiple_of(3))
}

/// A location's name in traces.
pub fn location_name(x: u8) -> String {
    match x {
        ACTIVE => "emm_active".into(),
        STOPPING => "emm_stopping".into(),
        PTE => "PTE".into(),
        PTL => "PTL".into(),
        MMAP_SEM => "mmap_sem".into(),
        RMAP => "anon_vma lock".into(),
        SPIN => "notifier lock".into(),
        VMA => "VMA lock".into(),
        ITREE_SEQ => "invalidate_seq".into(),
        HEAD => "head".into(),
        x => {
            let n = (x - NOTIFIERS) / 3;
            match (x - NOTIFIERS) % 3 {
                0 => format!("n{n}->next"),
                1 => format!("n{n}.seq"),
                _ => format!("n{n}.mmu_lock"),
            }
        }
    }
}

/// Which groups of weak locations a model's programs need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WeakLocations {
    /// The drain's `emm_active` and `emm_stopping`.
    pub gate: bool,
    /// The PTE and the page table lock: some fault reads the PTE lock-free.
    pub pte: bool,
    /// The drivers' `mmu_notifier_seq` and `mmu_lock`: the KVM fault snapshots the seq
    /// lock-free.
    pub seq: bool,
    /// The interval notifiers' `invalidate_seq`: `wait_event()`s read it lock-free.
    pub itree_seq: bool,
    /// The chain's `head` and `next` links: walks load them with `rcu_dereference()`.
    pub chain: bool,
}

impl WeakLocations {
    /// The groups `ops` need under `memory` (none under sequential consistency).
    pub fn of<'a>(memory: Memory, ops: impl IntoIterator<Item = &'a Op>) -> WeakLocations {
        let mut w = WeakLocations::default();
        if memory == Memory::Sc {
            return w;
        }
        for op in ops {
            match op {
                Op::GateEnter | Op::GateCheck | Op::GateDrain | Op::GateStop => w.gate = true,
                Op::ReadPte => w.pte = true,
                Op::Snapshot => w.seq = true,
                Op::ReadBeginWait | Op::ItreeRemoveWait => w.itree_seq = true,
                Op::Walk { .. } => w.chain = true,
                _ => {}
            }
        }
        w
    }
}

/// A condition a load's value must meet for the step to go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Any value: a load that branches on what it reads.
    Any,
    /// `wait_event(x == 0)`.
    Zero,
    /// `wait_event(x != v)`.
    Not(u8),
    /// A walk's link: an older store may be read unless it leads back to a node the walk
    /// has called (bit mask); the last store always may.
    Link(u8),
}

impl Condition {
    /// Whether `v` meets it.
    pub fn holds(self, v: u8) -> bool {
        match self {
            Condition::Any => true,
            Condition::Zero => v == 0,
            Condition::Not(w) => v != w,
            Condition::Link(called) => v == NIL || called & 1 << v == 0,
        }
    }
}

impl EmmModel {
    /// The weak world of the initial state `s`: each location's first store is `s`'s value.
    pub(crate) fn initial_world(&self, s: &State) -> World<u8> {
        let notifiers = s.notifier_count as usize;
        let mut initial = vec![0; locations(notifiers)];
        initial[PTE as usize] = s.pte;
        initial[ITREE_SEQ as usize] = s.itree_seq;
        initial[HEAD as usize] = s.head;
        for n in 0..notifiers {
            initial[next(n as u8) as usize] = s.next[n];
        }
        for n in 0..notifiers {
            initial[seq(n as u8) as usize] = s.drivers[n].seq;
        }
        World::new(&initial, self.actors().len(), 1)
    }

    /// The weak location thread `t`'s next step loads lock-free, and the condition its value
    /// must meet for the step to go on, if it has one.
    pub(crate) fn weak_load(&self, s: &State, t: usize) -> Option<(u8, Condition)> {
        s.weak.as_ref()?;
        let op = *self.program(t).get(s.threads[t].pc as usize)?;
        let slot = s.threads[t].slot;
        Some(match op {
            Op::GateCheck => (STOPPING, Condition::Any),
            Op::GateWait => (STOPPING, Condition::Zero),
            Op::GateDrain => (ACTIVE, Condition::Zero),
            Op::Snapshot => {
                let n = self.own(s, t);
                if s.drivers[n as usize].released {
                    return None;
                }
                (seq(n), Condition::Any)
            }
            Op::ReadPte => (PTE, Condition::Any),
            Op::ReadBeginWait => (ITREE_SEQ, Condition::Not(slot)),
            Op::Walk { .. } => self.walk_load(s, t)?,
            // A remove that found nothing to wait for reads nothing.
            Op::ItreeRemoveWait if slot != 0 => (ITREE_SEQ, Condition::Not(slot)),
            _ => return None,
        })
    }

    /// The link a walk's next step loads (`rcu_dereference()`), if it loads one: the head
    /// at its start (not for a walk that resumes, or one that starts from its section's
    /// snapshot), its node's `next` after a call (not from a freed node: that step faults).
    fn walk_load(&self, s: &State, t: usize) -> Option<(u8, Condition)> {
        let th = &s.threads[t];
        let Some(&Op::Walk {
            resume, snapshot, ..
        }) = self.program(t).get(th.pc as usize)
        else {
            return None;
        };
        match th.wpc {
            WalkPc::Idle | WalkPc::Done if resume => None,
            WalkPc::Idle | WalkPc::Done => {
                let taken = snapshot
                    && th
                        .depth
                        .checked_sub(1)
                        .and_then(|d| th.snap.get(d as usize))
                        .is_some_and(|&x| x != NIL);
                (!taken).then_some((HEAD, Condition::Any))
            }
            WalkPc::LoadNext if s.freed_nodes & 1 << th.cursor == 0 => {
                Some((next(th.cursor), Condition::Link(th.called)))
            }
            _ => None,
        }
    }

    /// Whether thread `t` may load a value of `x` that meets `condition`: under sequential
    /// consistency whether the last store does (`last`), under lkmm whether any store its
    /// view allows does.
    pub(super) fn may_load(
        &self,
        s: &State,
        t: usize,
        x: u8,
        condition: Condition,
        last: bool,
    ) -> bool {
        match &s.weak {
            None => last,
            Some(w) => w
                .readable(t, x)
                .into_iter()
                .any(|(_, v)| condition.holds(v)),
        }
    }

    /// Pushes the steps thread `t` can take in `s` (it is [`enabled`](Self::enabled)): one,
    /// or under lkmm one per store its lock-free load may read.
    pub fn push_steps(&self, s: &State, t: usize, steps: &mut Vec<Step>) {
        let thread = t as u8;
        let (Some((x, condition)), Some(w)) = (self.weak_load(s, t), s.weak.as_ref()) else {
            steps.push(Step { thread, read: 0 });
            return;
        };
        let last = w.memory[x as usize].len() - 1;
        // A stale link that would close a cycle would keep the walk going round until the
        // newer store reached it: it reads the newer one (the last store is always allowed).
        let link = matches!(condition, Condition::Link(_));
        for (rank, value) in w.readable(t, x).into_iter().rev() {
            if condition.holds(value) || link && rank as usize == last {
                steps.push(Step {
                    thread,
                    read: (last - rank as usize) as u8,
                });
            }
        }
    }

    /// Thread `t` loads `x` lock-free (a `READ_ONCE()`), taking the store `back` before the
    /// last; `last` is its value (what sequential consistency reads).
    pub(super) fn load(s: &mut State, t: usize, x: u8, back: u8, last: u8) -> u8 {
        Self::load_as(s, t, x, back, last, false)
    }

    /// A walk's `rcu_dereference()` of link `x`: [`load`](Self::load) as an acquire.
    pub(super) fn load_link(s: &mut State, t: usize, x: u8, back: u8, last: u8) -> u8 {
        Self::load_as(s, t, x, back, last, true)
    }

    fn load_as(s: &mut State, t: usize, x: u8, back: u8, last: u8, acquire: bool) -> u8 {
        match s.weak.as_deref_mut() {
            None => last,
            Some(w) => {
                let rank = w.memory[x as usize].len() - 1 - back as usize;
                w.read(t, x, rank as u8, acquire)
            }
        }
    }

    /// Thread `t` stores `value` to `x` (a `WRITE_ONCE`, or a plain store inside a lock).
    pub(super) fn store(s: &mut State, t: usize, x: u8, value: u8) {
        if let Some(w) = s.weak.as_deref_mut() {
            let rank = w.memory[x as usize].len() as u8;
            w.write(t, x, rank, value, false);
        }
    }

    /// Thread `t`'s non-returning atomic on `x`, which leaves `value` (`atomic_inc`,
    /// `atomic_dec`: unordered).
    pub(super) fn atomic(s: &mut State, t: usize, x: u8, value: u8) {
        if let Some(w) = s.weak.as_deref_mut() {
            let rank = (w.memory[x as usize].len() - 1) as u8;
            w.rmw(t, x, rank, value, false, false);
        }
    }

    /// A barrier on thread `t`.
    pub(super) fn barrier(s: &mut State, t: usize, b: Barrier) {
        if let Some(w) = s.weak.as_deref_mut() {
            w.fence(t, b);
        }
    }

    /// `spin_lock(l)` by thread `t` (the step that holds it is one step: the lock is free).
    pub(super) fn lock(s: &mut State, t: usize, l: u8) {
        if let Some(w) = s.weak.as_deref_mut() {
            w.lock(t, l, 1);
        }
    }

    /// `spin_unlock(l)` by thread `t`.
    pub(super) fn unlock(s: &mut State, t: usize, l: u8) {
        if let Some(w) = s.weak.as_deref_mut() {
            w.unlock(t, l, 0);
        }
    }

    /// Thread `t`, holding the subscriptions lock, has left `invalidate_seq` at `s`'s value
    /// (it was `before`).
    pub(super) fn store_itree_seq(&self, s: &mut State, t: usize, before: u8) {
        if self.weak_locations().itree_seq && s.itree_seq != before {
            let value = s.itree_seq;
            Self::store(s, t, ITREE_SEQ, value);
        }
    }

    /// Thread `t` writes the PTE `value` under the page table lock.
    pub(super) fn store_pte(&self, s: &mut State, t: usize, value: u8) {
        if self.weak_locations().pte {
            Self::lock(s, t, PTL);
            Self::store(s, t, PTE, value);
            Self::unlock(s, t, PTL);
        }
    }

    /// Thread `t`'s section under driver `n`'s `mmu_lock` has left the driver's seq at
    /// `value` (it was `before`).
    pub(super) fn driver_section(&self, s: &mut State, t: usize, n: u8, before: u8) {
        if self.weak_locations().seq && n != NIL {
            Self::lock(s, t, mmu_lock(n));
            let value = s.drivers[n as usize].seq;
            if value != before {
                Self::store(s, t, seq(n), value);
            }
            Self::unlock(s, t, mmu_lock(n));
        }
    }

    /// What follows thread `t`'s step from `before` to `s` under lkmm: the locks it took
    /// acquire and the locks it dropped release, its read-side sections and grace periods
    /// follow the RCU rules, a register that returned passes what it has seen to its driver
    /// (and to teardown, which waits for every register), finished threads drop their views,
    /// and the stores no live thread can read any more go.
    pub(super) fn settle(&self, before: &State, s: &mut State, t: usize, op: Op) {
        let Some(mut w) = s.weak.take() else {
            return;
        };
        let (a, b) = (before, &*s);
        // The links the step stored, before the locks it dropped release them: a publish
        // with rcu_assign_pointer() releases, the other stores (list.h's plain ones,
        // WRITE_ONCE() in hlist_del_rcu()) are relaxed.
        if self.weak_locations().chain {
            let release = matches!(op, Op::Publish | Op::HlistAddPublish { rcu: true });
            let links = std::iter::once((HEAD, a.head, b.head)).chain(
                (0..b.notifier_count as usize).map(|n| (next(n as u8), a.next[n], b.next[n])),
            );
            for (x, was, is) in links {
                if was != is {
                    let rank = w.memory[x as usize].len() as u8;
                    w.write(t, x, rank, is, release);
                }
            }
        }
        // Each lock as the count of its holders, a writer counting as one.
        let holders = [
            (
                MMAP_SEM,
                a.mmap_sem as u8 + a.mmap_readers,
                b.mmap_sem as u8 + b.mmap_readers,
            ),
            (
                RMAP,
                a.rmap_writer as u8 + a.rmap_readers,
                b.rmap_writer as u8 + b.rmap_readers,
            ),
            (SPIN, a.spin as u8, b.spin as u8),
            (
                VMA,
                a.vma_locked as u8 + a.vma_readers,
                b.vma_locked as u8 + b.vma_readers,
            ),
        ];
        for (l, was, is) in holders {
            if is > was {
                w.acquire(t, l);
            } else if is < was {
                w.release(t, l);
            }
        }
        // A one-step section under the subscriptions lock.
        if matches!(op, Op::ReadBegin | Op::ItreeRemoveWaitLocked) {
            w.lock(t, SPIN, 1);
            w.unlock(t, SPIN, 0);
        }
        let (was, is) = (a.threads[t].depth, b.threads[t].depth);
        if was == 0 && is > 0 {
            w.read_lock(t, 0);
        } else if was > 0 && is == 0 {
            w.read_unlock(t, 0);
        }
        match op {
            Op::SynchronizeStart => w.grace_period_start(t, 0),
            Op::SynchronizeWait => w.grace_period_end(t, 0),
            _ => {}
        }
        let actors = self.actors();
        if self.done(s, t) && actors[t].id.role == Role::Reg {
            let mine = w.threads[t].acq;
            for (u, a) in actors.iter().enumerate() {
                let receives = match a.id.role {
                    Role::Drv => a.notifier == actors[t].notifier,
                    Role::Teardown => true,
                    _ => false,
                };
                if receives && !s.threads[u].started() {
                    w.receive(u, &mine);
                }
            }
        }
        let mut live = [false; crate::state::MAX_THREADS];
        for (u, alive) in live.iter_mut().enumerate().take(actors.len()) {
            *alive = !self.done(s, u);
        }
        if w.collect(
            &live[..actors.len()],
            |x| is_lock(x as u8),
            Some(HISTORY_CAP),
        ) {
            self.note_capped();
        }
        s.weak = Some(w);
    }
}
