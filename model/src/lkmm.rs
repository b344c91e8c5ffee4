//! The kernel's memory model (LKMM), operationally: per-location message histories and
//! per-thread views, promise-free, after `../shared/domain/memory-model.md`.
//!
//! # States
//!
//! * **Memory.** Each location is a list of messages `⟨value, view, glued⟩` in coherence
//!   order; a message's timestamp is its rank in the list (rank 0 is the initial value). A
//!   message's view says, for every location, the rank up to which a thread that acquires the
//!   message has seen it. `glued` marks the write of a read-modify-write, which nothing may
//!   come between it and the message it read.
//! * **Each thread.** `cur` bounds what it may read and where it may write; `acq` is everything
//!   that has propagated to it (`cur ≤ acq`), the views of its relaxed reads included; `rel`
//!   is the view its relaxed writes carry; `unlock_cur`/`unlock_acq` are `cur` and `acq` at its
//!   last `spin_unlock`.
//! * **Global.** `sc` is the view of the full barriers; per RCU domain (RCU itself, or one
//!   `srcu_struct`) `gp` is the join of the views of the grace periods that have started and
//!   `exits` the join of the views at which read-side sections ended.
//!
//! Timestamps are dense ranks: writing at rank `r` shifts the messages from `r` on and bumps
//! every view's component of that location from `r` on, so equal histories are equal states.
//!
//! # Operations
//!
//! | primitive | rule |
//! |---|---|
//! | `READ_ONCE` | read a rank `i ≥ cur[x]`; `cur[x] := i`; `acq ⊔= V_i ⊔ x:i` |
//! | `smp_load_acquire`, `rcu_dereference` | the same, and `cur ⊔= V_i` |
//! | `WRITE_ONCE` | write at a free rank `r > cur[x]` (not inside a glued pair), carrying `rel ⊔ x:r` |
//! | `smp_store_release`, `rcu_assign_pointer` | write at `r > acq[x]`, carrying `acq ⊔ x:r` (LKMM's A-cumulative release, not C11's) |
//! | `smp_wmb` / `smp_rmb` | `rel ⊔= cur` / `cur ⊔= acq` |
//! | `smp_mb` and the `smp_mb__*` | `W := acq ⊔ sc`; `cur = acq = rel = sc := W` |
//! | `atomic_inc` and the other non-returning RMWs | a relaxed RMW: read rank `i ≥ cur[x]` whose successor is not glued, write glued at `i + 1`, carrying `rel ⊔ V_i` |
//! | value-returning RMWs | `smp_mb`; RMW; `smp_mb` (`_acquire`, `_release`, `_relaxed`: the matching half); a failed `cmpxchg` is a `READ_ONCE` |
//! | `spin_lock` | RMW of the last message, 0 to 1, as an acquire; then `cur ⊔= unlock_acq`, `rel ⊔= V_unlock ⊔ unlock_cur` (po-unlock-lock-po) |
//! | `spin_unlock` | a release write of 0; `unlock_cur := cur`, `unlock_acq := acq` |
//! | a lock whose exclusion the caller keeps (the protocol model's rwsems and spinlocks) | taken: `spin_lock`'s rule on the last message; dropped: a release RMW of it (so the next holder acquires every release before it), then as `spin_unlock` |
//! | `rcu_read_lock` (outermost) | `cur, acq ⊔= gp` |
//! | `rcu_read_unlock` (outermost) | `exits ⊔= cur` |
//! | `synchronize_rcu` | `smp_mb`; `gp ⊔= cur`; wait for the sections open now; `cur, acq ⊔= exits`; `smp_mb` |
//!
//! SRCU follows the RCU rules per `srcu_struct`, one section per `srcu_read_lock`.
//!
//! What this is and is not: promise-free, so load buffering (`LB+poonceonces`) is forbidden,
//! which LKMM allows; `rcu_dereference` is an acquire, stronger than the address dependency
//! LKMM orders by; plain C accesses are `READ_ONCE`/`WRITE_ONCE`, without LKMM's data-race
//! check. `emm-check help memory` says the same to users.

use std::hash::Hash;

/// The most locations a world has: views are fixed arrays, so that a state with its views
/// clones without allocating one per view.
pub const MAX_LOCATIONS: usize = 32;

/// A view: for each location, the rank of a message (the locations past the world's own stay
/// 0).
pub type View = [u8; MAX_LOCATIONS];

/// `a ⊔= b`, pointwise.
fn join(a: &mut View, b: &View) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = (*x).max(*y);
    }
}

/// One message of a location's history.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message<V> {
    /// The value written.
    pub value: V,
    /// What a thread that acquires this message has seen.
    pub view: View,
    /// The write of a read-modify-write, glued to the message before it.
    pub glued: bool,
}

pub use emm_proofs::Barrier;

/// What a read-modify-write computes from the value it reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rmw<E> {
    /// `+= e` (`atomic_inc` is `Add(1)`, `atomic_sub(i)` is `Add(-i)`).
    Add(E),
    /// `= e`, returning the old value (`xchg`).
    Xchg(E),
    /// `if (old == a) = b` (`cmpxchg`); fails, as a plain read, otherwise.
    Cmpxchg(E, E),
    /// `if (old != u) += a` (`atomic_add_unless`); fails otherwise.
    AddUnless(E, E),
}

/// The ordering half a read-modify-write has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RmwOrder {
    /// Non-returning atomics and the `_relaxed` variants.
    Relaxed,
    /// The `_acquire` variants: the read is an acquire.
    Acquire,
    /// The `_release` variants: the write is a release.
    Release,
    /// Value-returning atomics: `smp_mb()` on both sides.
    Full,
}

/// One thread's views.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Views {
    /// What it may read, and above which it writes.
    pub cur: View,
    /// Everything that has propagated to it.
    pub acq: View,
    /// What its relaxed writes carry.
    pub rel: View,
    /// `cur` at its last `spin_unlock`.
    pub unlock_cur: View,
    /// `acq` at its last `spin_unlock`.
    pub unlock_acq: View,
}

/// One RCU domain: RCU itself, or one `srcu_struct`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain {
    /// The join of the views of the grace periods that have started.
    pub gp: View,
    /// The join of the views at which read-side sections ended.
    pub exits: View,
}

/// The weak part of a state: every location's history, every thread's views, the barrier
/// view and the RCU domains.
///
/// `Hash` is written by hand: it hashes each view's components of the world's own locations
/// only (the rest are always 0), which halves what the checker hashes per state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World<V> {
    /// Each location's messages, in coherence order.
    pub memory: Vec<Vec<Message<V>>>,
    /// Each thread's views.
    pub threads: Vec<Views>,
    /// The view of the full barriers.
    pub sc: View,
    /// The RCU domains, by number (the caller's numbering).
    pub domains: Vec<Domain>,
}

impl<V: Hash> Hash for World<V> {
    fn hash<H: std::hash::Hasher>(&self, hasher: &mut H) {
        let n = self.memory.len();
        for history in &self.memory {
            hasher.write_usize(history.len());
            for m in history {
                m.value.hash(hasher);
                hasher.write(&m.view[..n]);
                hasher.write_u8(m.glued as u8);
            }
        }
        for th in &self.threads {
            for v in [&th.cur, &th.acq, &th.rel, &th.unlock_cur, &th.unlock_acq] {
                hasher.write(&v[..n]);
            }
        }
        hasher.write(&self.sc[..n]);
        for d in &self.domains {
            hasher.write(&d.gp[..n]);
            hasher.write(&d.exits[..n]);
        }
    }
}

impl<V: Copy + Eq + Hash> World<V> {
    /// Locations holding `initial`, `threads` threads with empty views, `domains` domains.
    pub fn new(initial: &[V], threads: usize, domains: usize) -> World<V> {
        assert!(
            initial.len() <= MAX_LOCATIONS,
            "at most {MAX_LOCATIONS} locations"
        );
        let bottom = [0; MAX_LOCATIONS];
        let views = Views {
            cur: bottom,
            acq: bottom,
            rel: bottom,
            unlock_cur: bottom,
            unlock_acq: bottom,
        };
        World {
            memory: initial
                .iter()
                .map(|&value| {
                    vec![Message {
                        value,
                        view: bottom,
                        glued: false,
                    }]
                })
                .collect(),
            threads: vec![views; threads],
            sc: bottom,
            domains: vec![
                Domain {
                    gp: bottom,
                    exits: bottom,
                };
                domains
            ],
        }
    }

    /// The value of `x`'s last message: its final value once every thread is done.
    pub fn last(&self, x: u8) -> V {
        self.memory[x as usize]
            .last()
            .expect("the initial message")
            .value
    }

    /// The ranks thread `t` may read at `x`, with their values.
    pub fn readable(&self, t: usize, x: u8) -> Vec<(u8, V)> {
        let from = self.threads[t].cur[x as usize];
        self.memory[x as usize]
            .iter()
            .enumerate()
            .skip(from as usize)
            .map(|(i, m)| (i as u8, m.value))
            .collect()
    }

    /// Thread `t` reads rank `i` of `x` (one of [`readable`](Self::readable)); `acquire` for
    /// `smp_load_acquire` and `rcu_dereference`.
    pub fn read(&mut self, t: usize, x: u8, i: u8, acquire: bool) -> V {
        let message = &self.memory[x as usize][i as usize];
        let (value, view) = (message.value, message.view);
        let th = &mut self.threads[t];
        th.cur[x as usize] = th.cur[x as usize].max(i);
        join(&mut th.acq, &view);
        th.acq[x as usize] = th.acq[x as usize].max(i);
        if acquire {
            join(&mut th.cur, &view);
        }
        value
    }

    /// The rank above which thread `t` writes `x`: `cur[x]`, or `acq[x]` for a release
    /// (which must come after everything that has propagated to the thread).
    fn floor(&self, t: usize, x: u8, release: bool) -> u8 {
        let th = &self.threads[t];
        if release {
            th.acq[x as usize]
        } else {
            th.cur[x as usize]
        }
    }

    /// The ranks at which thread `t` may write `x`: above `cur[x]` (above `acq[x]` for a
    /// release), not between a glued message and the one before it.
    pub fn writable(&self, t: usize, x: u8, release: bool) -> Vec<u8> {
        let above = self.floor(t, x, release);
        let history = &self.memory[x as usize];
        (above as usize + 1..=history.len())
            .filter(|&r| r == history.len() || !history[r].glued)
            .map(|r| r as u8)
            .collect()
    }

    /// Makes room for a message at rank `r` of `x`: later messages move up one rank, and so
    /// does every view's component of `x` that is at `r` or above.
    fn insert_rank(&mut self, x: u8, r: u8) {
        let x = x as usize;
        self.each_view(|v| {
            if v[x] >= r {
                v[x] += 1;
            }
        });
    }

    /// Applies `f` to every view of the world: the messages', the threads', the barriers'
    /// and the RCU domains'.
    fn each_view(&mut self, mut f: impl FnMut(&mut View)) {
        for history in &mut self.memory {
            for m in history.iter_mut() {
                f(&mut m.view);
            }
        }
        for th in &mut self.threads {
            for v in [
                &mut th.cur,
                &mut th.acq,
                &mut th.rel,
                &mut th.unlock_cur,
                &mut th.unlock_acq,
            ] {
                f(v);
            }
        }
        f(&mut self.sc);
        for d in &mut self.domains {
            f(&mut d.gp);
            f(&mut d.exits);
        }
    }

    /// Thread `t` writes `value` to `x` at rank `r` (one of [`writable`](Self::writable)).
    pub fn write(&mut self, t: usize, x: u8, r: u8, value: V, release: bool) {
        self.put(t, x, r, value, release, None);
    }

    /// The write of [`write`](Self::write) and [`rmw`](Self::rmw): a message at rank `r`
    /// carrying the thread's `rel` view (its `acq` view for a release), joined with the view
    /// of the message an RMW read, to which it is then glued.
    fn put(&mut self, t: usize, x: u8, r: u8, value: V, release: bool, read: Option<View>) {
        self.insert_rank(x, r);
        let th = &self.threads[t];
        let mut view = if release { th.acq } else { th.rel };
        if let Some(read) = &read {
            join(&mut view, read);
        }
        view[x as usize] = r;
        self.memory[x as usize].insert(
            r as usize,
            Message {
                value,
                view,
                glued: read.is_some(),
            },
        );
        let th = &mut self.threads[t];
        th.cur[x as usize] = r;
        th.acq[x as usize] = th.acq[x as usize].max(r);
    }

    /// The ranks thread `t` may read-modify-write at `x`: readable, and not already followed
    /// by a glued write.
    pub fn rmw_readable(&self, t: usize, x: u8, release: bool) -> Vec<(u8, V)> {
        let from = self.floor(t, x, release);
        let history = &self.memory[x as usize];
        (from as usize..history.len())
            .filter(|&i| history.get(i + 1).is_none_or(|next| !next.glued))
            .map(|i| (i as u8, history[i].value))
            .collect()
    }

    /// Thread `t`'s read-modify-write of `x`: reads rank `i` (one of
    /// [`rmw_readable`](Self::rmw_readable)) and writes `value` glued right after it.
    /// `acquire` and `release` give the read and the write their halves.
    pub fn rmw(&mut self, t: usize, x: u8, i: u8, value: V, acquire: bool, release: bool) {
        let read_view = self.memory[x as usize][i as usize].view;
        self.read(t, x, i, acquire);
        self.put(t, x, i + 1, value, release, Some(read_view));
    }

    /// A barrier on thread `t`.
    pub fn fence(&mut self, t: usize, fence: Barrier) {
        let th = &mut self.threads[t];
        match fence {
            Barrier::Wmb => {
                let cur = th.cur;
                join(&mut th.rel, &cur);
            }
            Barrier::Rmb => {
                let acq = th.acq;
                join(&mut th.cur, &acq);
            }
            _ => {
                let mut w = th.acq;
                join(&mut w, &self.sc);
                th.cur.clone_from(&w);
                th.acq.clone_from(&w);
                th.rel.clone_from(&w);
                self.sc = w;
            }
        }
    }

    /// Whether lock `l` can be taken now: its last message is `unlocked`.
    pub fn lock_free(&self, l: u8, unlocked: V) -> bool {
        self.last(l) == unlocked
    }

    /// `spin_lock(l)`, once [`lock_free`](Self::lock_free): the RMW of the last message, as
    /// an acquire, then po-unlock-lock-po.
    pub fn lock(&mut self, t: usize, l: u8, locked: V) {
        let i = (self.memory[l as usize].len() - 1) as u8;
        let unlock_view = self.memory[l as usize][i as usize].view;
        self.rmw(t, l, i, locked, true, false);
        let th = &mut self.threads[t];
        // (`acq` already holds `unlock_acq`: it only grows.)
        let a = th.unlock_acq;
        join(&mut th.cur, &a);
        join(&mut th.rel, &unlock_view);
        let u = th.unlock_cur;
        join(&mut th.rel, &u);
    }

    /// `spin_unlock(l)`: a release write of `unlocked` at the end of `l`'s history.
    pub fn unlock(&mut self, t: usize, l: u8, unlocked: V) {
        let r = self.memory[l as usize].len() as u8;
        self.write(t, l, r, unlocked, true);
        let th = &mut self.threads[t];
        th.unlock_cur.clone_from(&th.cur);
        th.unlock_acq.clone_from(&th.acq);
    }

    /// A lock taken by thread `t` whose word's value the caller keeps (an rwsem's count of
    /// holders, a lock the caller knows is free): the acquire of [`lock`](Self::lock), with
    /// po-unlock-lock-po, on `l`'s last message.
    pub fn acquire(&mut self, t: usize, l: u8) {
        let value = self.last(l);
        self.lock(t, l, value);
    }

    /// A lock dropped by thread `t` (as [`acquire`](Self::acquire) takes it): a release
    /// read-modify-write of `l`'s last message, so that the next holder acquires every
    /// release before it (an rwsem's readers each release into the writer that follows).
    pub fn release(&mut self, t: usize, l: u8) {
        let i = (self.memory[l as usize].len() - 1) as u8;
        let value = self.last(l);
        self.rmw(t, l, i, value, false, true);
        let th = &mut self.threads[t];
        th.unlock_cur = th.cur;
        th.unlock_acq = th.acq;
    }

    /// Thread `t` acquires `view` from outside the memory (a hand-off the programs do not
    /// spell out: a driver that faults once its register returned).
    pub fn receive(&mut self, t: usize, view: &View) {
        let th = &mut self.threads[t];
        join(&mut th.cur, view);
        join(&mut th.acq, view);
    }

    /// Garbage collection: the threads not `live` drop their views, and at each location the
    /// messages below every live thread's `cur` go (none of them can be read again, and a
    /// view's component below the new first rank joins to no change in a live thread's), so
    /// that states with equal futures are equal. At a location `last_only` says is read only
    /// by read-modify-writes of its last message (a lock), only that message stays. With a
    /// `cap`, a location keeps at most that many messages: older ones go even if a live
    /// thread could still read them (an under-approximation, which the return value reports).
    pub fn collect(
        &mut self,
        live: &[bool],
        last_only: impl Fn(usize) -> bool,
        cap: Option<usize>,
    ) -> bool {
        let mut capped = false;
        let bottom = [0; MAX_LOCATIONS];
        for (th, &alive) in self.threads.iter_mut().zip(live) {
            if !alive {
                *th = Views {
                    cur: bottom,
                    acq: bottom,
                    rel: bottom,
                    unlock_cur: bottom,
                    unlock_acq: bottom,
                };
            }
        }
        for x in 0..self.memory.len() {
            let last = self.memory[x].len() - 1;
            let low = self
                .threads
                .iter()
                .zip(live)
                .filter(|(_, &alive)| alive)
                .map(|(th, _)| th.cur[x] as usize)
                .min()
                .unwrap_or(last)
                .min(last);
            let low = if last_only(x) { last } else { low };
            let low = match cap {
                Some(cap) if self.memory[x].len() - low > cap => {
                    capped = true;
                    self.memory[x].len() - cap
                }
                _ => low,
            };
            if low == 0 {
                continue;
            }
            self.memory[x].drain(..low);
            self.memory[x][0].glued = false;
            let low = low as u8;
            self.each_view(|v| v[x] = v[x].saturating_sub(low));
        }
        capped
    }

    /// The outermost `rcu_read_lock()` (or a `srcu_read_lock()`) of domain `d`.
    pub fn read_lock(&mut self, t: usize, d: usize) {
        let gp = self.domains[d].gp;
        let th = &mut self.threads[t];
        join(&mut th.cur, &gp);
        join(&mut th.acq, &gp);
    }

    /// The outermost `rcu_read_unlock()` (or a `srcu_read_unlock()`) of domain `d`.
    pub fn read_unlock(&mut self, t: usize, d: usize) {
        let cur = self.threads[t].cur;
        join(&mut self.domains[d].exits, &cur);
    }

    /// The start of `synchronize_rcu()` (or `synchronize_srcu()`) of domain `d`; the caller
    /// then waits for the sections open now, and calls [`grace_period_end`](Self::grace_period_end).
    pub fn grace_period_start(&mut self, t: usize, d: usize) {
        self.fence(t, Barrier::Mb);
        let cur = self.threads[t].cur;
        join(&mut self.domains[d].gp, &cur);
    }

    /// The end of a grace period of domain `d`, once the sections it waited for have ended.
    pub fn grace_period_end(&mut self, t: usize, d: usize) {
        let exits = self.domains[d].exits;
        let th = &mut self.threads[t];
        join(&mut th.cur, &exits);
        join(&mut th.acq, &exits);
        self.fence(t, Barrier::Mb);
    }
}
