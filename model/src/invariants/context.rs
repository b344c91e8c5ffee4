//! One state of one model seen by the invariants: the chain's reachability worked out once, and
//! the conjuncts every correct variant shares (`chain`, `pcs`, `started`, `walks`, `frames`,
//! `drivers`, and the KVM drivers' `in_progress`, `mirrors` and `faults`).

use super::layout::{phase, At, Layout, Phase, RoleLayout, NONE};
use super::{bit, ensure, Check};
use crate::config::MAX_NOTIFIERS;
use crate::model::EmmModel;
use crate::program::{LockKind, Op};
use crate::state::{flags, State, Thread, WalkPc, NIL, PPREV_HEAD, PPREV_NULL, SNAP_EMPTY};
use emm_proofs::{Callback, Role};

/// One state of one model, with the chain's reachability worked out once.
pub(super) struct Ctx<'a> {
    pub(super) m: &'a EmmModel,
    pub(super) s: &'a State,
    pub(super) lay: &'a Layout,
    /// Notifiers in the configuration.
    pub(super) nc: usize,
    /// Bit mask of every notifier of the configuration.
    pub(super) all: u8,
    /// `L`: the notifiers reachable from `head`.
    pub(super) linked: u8,
    /// `reach[n]`: the notifiers reachable from `n`, `n` included.
    pub(super) reach: [u8; MAX_NOTIFIERS],
    /// The thread that unregisters each notifier ([`NONE`] if none does).
    pub(super) unregistrar: [u8; MAX_NOTIFIERS],
}

impl<'a> Ctx<'a> {
    /// Checks the conjunct `chain` (every link is `NULL` or a notifier, and following `next`
    /// from any notifier reaches `NULL`) and works out reachability.
    pub(super) fn new(m: &'a EmmModel, s: &'a State) -> Result<Ctx<'a>, &'static str> {
        let nc = s.notifier_count as usize;
        let node = |x: u8| x == NIL || (x as usize) < nc;
        ensure!(
            node(s.head)
                && s.next[..nc].iter().all(|&x| node(x))
                && s.next[nc..].iter().all(|&x| x == NIL),
            "chain"
        );
        let mut reach = [0u8; MAX_NOTIFIERS];
        for (n, r) in reach.iter_mut().enumerate().take(nc) {
            let mut x = n as u8;
            while x != NIL {
                ensure!(*r & bit(x) == 0, "chain");
                *r |= bit(x);
                x = s.next[x as usize];
            }
        }
        let linked = if s.head == NIL {
            0
        } else {
            reach[s.head as usize]
        };
        let mut unregistrar = [NONE; MAX_NOTIFIERS];
        for (t, a) in m.actors().iter().enumerate() {
            if a.id.role == Role::Unreg {
                let e = m.own(s, t);
                ensure!((e as usize) < nc, "unregister");
                unregistrar[e as usize] = t as u8;
            }
        }
        Ok(Ctx {
            m,
            s,
            lay: &m.layout,
            nc,
            all: ((1u16 << nc) - 1) as u8,
            linked,
            reach,
            unregistrar,
        })
    }

    pub(super) fn threads(&self) -> std::ops::Range<usize> {
        0..self.m.actors().len()
    }

    pub(super) fn role(&self, t: usize) -> Role {
        self.m.actors()[t].id.role
    }

    pub(super) fn layout(&self, t: usize) -> &'a RoleLayout {
        &self.lay.roles[self.lay.thread_role[t] as usize]
    }

    pub(super) fn at(&self, t: usize) -> At {
        self.layout(t).at[self.s.threads[t].pc as usize]
    }

    pub(super) fn done(&self, t: usize) -> bool {
        self.s.threads[t].pc >= self.layout(t).len
    }

    /// The notifiers a walk will still call if they stay reachable: from its cursor if it is
    /// about to call it, from the cursor's `next` if it has called it.
    pub(super) fn ahead(&self, th: &Thread) -> u8 {
        let from = |x: u8| self.reach.get(x as usize).copied().unwrap_or(0);
        match th.wpc {
            WalkPc::Call => from(th.cursor),
            WalkPc::Wait | WalkPc::LoadNext => {
                from(self.s.next.get(th.cursor as usize).copied().unwrap_or(NIL))
            }
            WalkPc::Idle | WalkPc::Done => 0,
        }
    }

    /// The notifiers reachable from thread `th`'s snapshot at nesting `level`
    /// (`ours@rcu-window`): `None` if that window has taken none, empty for a snapshot of an
    /// empty chain.
    pub(super) fn snapshot_reach(&self, th: &Thread, level: u8) -> Option<u8> {
        match th.snap.get(level as usize).copied()? {
            NIL => None,
            SNAP_EMPTY => Some(0),
            x => Some(self.reach.get(x as usize).copied().unwrap_or(0)),
        }
    }

    /// `unregister` and `srcu_grace_period` for unregistrar `t` of `e`, the clauses the
    /// mmu-notifier-style unregisters share (`mmu-notifier@v5.12`, `ours@rcu-window`): `e`
    /// registered until past `hlist_del_init_rcu(e)`, released once past `->release(e)`, out of
    /// the chain and the registered set after the unlink; once it waits for its grace period,
    /// only threads other than `t` that carry its bit may still reach `e` (`held` says what
    /// a thread may still reach), and none once it is past.
    pub(super) fn unregister_clauses(&self, t: usize, held: impl Fn(&Thread) -> u8) -> Check {
        let (m, s) = (self.m, self.s);
        let th = &s.threads[t];
        let marks = self.layout(t).marks;
        let e = m.own(s, t);
        let (release, del, wait) = (marks.release, marks.unlink, marks.sync_wait);
        ensure!(th.pc > del || s.registered & bit(e) != 0, "unregister");
        ensure!(
            th.pc <= release || s.drivers[e as usize].released,
            "unregister"
        );
        ensure!(
            th.pc <= del || (s.registered | self.linked) & bit(e) == 0,
            "unregister"
        );
        if th.pc >= wait {
            let slot = bit(m.grace_period_slot(t));
            for u in self.threads() {
                let other = &s.threads[u];
                if held(other) & bit(e) != 0 {
                    ensure!(
                        th.pc == wait && u != t && other.gp & slot != 0,
                        "srcu_grace_period"
                    );
                }
            }
        }
        Ok(())
    }

    /// The notifiers a walk holds or may still hold: its cursor and what lies ahead of it.
    pub(super) fn holdable(&self, th: &Thread) -> u8 {
        match th.wpc {
            WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext => bit(th.cursor) | self.ahead(th),
            WalkPc::Idle | WalkPc::Done => 0,
        }
    }

    /// Whether every notifier in `set` has received `release`.
    pub(super) fn all_released(&self, set: u8) -> bool {
        (0..self.nc).all(|n| set >> n & 1 == 0 || self.s.drivers[n].released)
    }

    /// The thread that registers notifier `n`, if a registrar does.
    pub(super) fn registrar_of(&self, n: u8) -> Option<usize> {
        let t = self.lay.registrar[n as usize];
        (t != NONE).then_some(t as usize)
    }

    /// The thread that unregisters notifier `n`, if an unregistrar does.
    pub(super) fn unregistrar_of(&self, n: u8) -> Option<usize> {
        let t = self.unregistrar[n as usize];
        (t != NONE).then_some(t as usize)
    }

    /// Conjuncts every proved version shares, in the order they are checked: `pcs`, `threads`,
    /// `read_side`, `freed`, `pprev`, `started`, `walks`, `frames`, `drivers`.
    pub(super) fn common(&self) -> Check {
        let s = self.s;
        for t in self.threads() {
            ensure!(s.threads[t].pc <= self.layout(t).len, "pcs");
        }
        self.threads_flags()?;
        self.read_side()?;
        self.freed()?;
        self.pprev()?;
        // started: a new notifier's driver faults only once its register has returned, and
        // teardown runs only once every register has (the model's enabling conditions).
        for t in self.threads() {
            if !s.threads[t].started() {
                continue;
            }
            match self.role(t) {
                Role::Drv => {
                    let reg = self.registrar_of(self.m.actors()[t].notifier);
                    ensure!(reg.is_none_or(|r| self.done(r)), "started");
                }
                Role::Teardown => {
                    let registrars = self.lay.registrar[..self.nc].iter().filter(|&&r| r != NONE);
                    ensure!(
                        registrars.into_iter().all(|&r| self.done(r as usize)),
                        "started"
                    );
                }
                _ => {}
            }
        }
        self.walks()?;
        self.frames()?;
        let stop_start = self.m.programs().delivers(Callback::Stop);
        for d in &s.drivers[..self.nc] {
            // drivers: release, stop and start as the callbacks count them.
            ensure!(d.released == (d.releases > 0), "drivers");
            ensure!(
                d.starts <= d.stops
                    && d.stops <= d.starts + 1
                    && d.stopped == (d.stops == d.starts + 1),
                "drivers"
            );
            ensure!(stop_start || d.stops == 0, "drivers");
        }
        Ok(())
    }

    /// `threads`: no thread has oopsed; a window's snapshot is taken exactly from its start
    /// walk's head load to the end of its read side (`ours@rcu-window`; never elsewhere); a
    /// thread is queued for a write lock only at the op that takes it, and the locks' counts of
    /// queued writers are those threads; the VMAs are
    /// write-locked iff one thread's pc holds them (v6.4's register), no fault holds a VMA
    /// read lock and no start has failed (the proofs cover no page fault and no OOM reaper).
    pub(super) fn threads_flags(&self) -> Check {
        let s = self.s;
        let (mut mmap, mut rmap, mut vma) = (0u8, 0u8, 0u8);
        for t in self.threads() {
            let th = &s.threads[t];
            vma += self.at(t).vma_write;
            // A window's snapshot is taken by its start walk's head load and dropped with its
            // read side, just after its end walk; it names a notifier, or the empty chain.
            for level in 0..2u8 {
                let window = self
                    .layout(t)
                    .windows
                    .iter()
                    .find(|w| w.snapshot && w.slot == level);
                let taken = window.is_some_and(|w| {
                    let end = w.end_walk.unwrap_or(w.close);
                    phase(th, w.walk, None) != Phase::NotStarted && th.pc <= end + 1
                });
                let snap = th.snap[level as usize];
                ensure!(
                    (snap != NIL) == taken
                        && (snap == NIL || snap == SNAP_EMPTY || (snap as usize) < self.nc),
                    "threads"
                );
            }
            let op = self.m.program(t).get(th.pc as usize).copied();
            ensure!(th.flags & !flags::QUEUED == 0, "threads");
            if th.flags & flags::QUEUED != 0 {
                match op {
                    Some(Op::MmapSemLock) => mmap += 1,
                    Some(Op::TakeAllLocks) if self.m.traits().rmap == LockKind::Rwsem => rmap += 1,
                    _ => return Err("threads"),
                }
            }
        }
        ensure!(
            s.mmap_waiting == mmap
                && s.rmap_waiting == rmap
                && s.mmap_readers == 0
                && s.vma_readers == 0
                && vma <= 1
                && s.vma_locked == (vma == 1)
                && !s.vma_waiting,
            "threads"
        );
        Ok(())
    }

    /// `read_side`: a thread's read-side depth is the read-side locks its pc holds; only a
    /// thread inside a read side carries grace-period bits, and bit `b` only while the
    /// synchronizer of slot `b` waits (between its two halves).
    pub(super) fn read_side(&self) -> Check {
        let s = self.s;
        let mut waiting = 0u8;
        for t in self.threads() {
            if self.at(t).srcu_sync > 0 {
                waiting |= bit(self.m.grace_period_slot(t));
            }
        }
        for t in self.threads() {
            let th = &s.threads[t];
            ensure!(th.depth == self.at(t).srcu_read, "read_side");
            ensure!(th.gp == 0 || th.depth > 0, "read_side");
            ensure!(th.gp & !waiting == 0, "read_side");
        }
        Ok(())
    }

    /// `freed`: a notifier is freed only once its unregister has returned; a freed notifier is
    /// neither linked nor registered, and no thread holds it.
    pub(super) fn freed(&self) -> Check {
        let s = self.s;
        for n in 0..self.nc as u8 {
            let freed = s.freed_nodes & bit(n) != 0;
            let returned = self.unregistrar_of(n).is_some_and(|u| {
                let lay = self.layout(u);
                s.threads[u].pc > lay.marks.owner_free
            });
            ensure!(freed == returned, "freed");
            if freed {
                ensure!((self.linked | s.registered) & bit(n) == 0, "freed");
                for t in self.threads() {
                    ensure!(self.holdable(&s.threads[t]) & bit(n) == 0, "freed");
                }
            }
        }
        Ok(())
    }

    /// `pprev` (hlist versions): a linked node's `pprev` is `&h->first` for the first node and
    /// its predecessor's `&next` for the others; a node out of the list is unhashed, but for
    /// one that a registrar has initialised and not yet published (`pprev = &h->first`,
    /// `next = first`).
    pub(super) fn pprev(&self) -> Check {
        let s = self.s;
        if !self.m.traits().hlist {
            return Ok(());
        }
        let mut prev = PPREV_HEAD;
        let mut n = s.head;
        while n != NIL {
            ensure!(s.pprev[n as usize] == prev, "pprev");
            prev = n;
            n = s.next[n as usize];
        }
        for n in 0..self.nc as u8 {
            if self.linked & bit(n) != 0 {
                continue;
            }
            let initialised = self.registrar_of(n).is_some_and(|r| {
                let lay = self.layout(r);
                let pc = s.threads[r].pc;
                pc > lay.marks.link_init && pc <= lay.marks.link
            });
            if initialised {
                ensure!(
                    s.pprev[n as usize] == PPREV_HEAD && s.next[n as usize] == s.head,
                    "pprev"
                );
            } else {
                ensure!(s.pprev[n as usize] == PPREV_NULL, "pprev");
            }
        }
        Ok(())
    }

    /// `walks`: a walk is under way only at a walk op of its program, stands on a notifier,
    /// has called nothing that lies ahead of it, and has called or will reach every notifier
    /// it must call; `must` only holds linked notifiers.
    pub(super) fn walks(&self) -> Check {
        for t in self.threads() {
            let th = &self.s.threads[t];
            let at = self.at(t);
            ensure!(
                (th.called | th.must) & !self.all == 0 && th.must & !self.linked == 0,
                "walks"
            );
            match th.wpc {
                WalkPc::Idle => ensure!(th.called == 0 && th.must == 0 && !at.busy, "walks"),
                WalkPc::Done => ensure!(
                    at.done == Some(th.callback) && th.cursor == NIL && th.must & !th.called == 0,
                    "walks"
                ),
                WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext => {
                    // Every walk of a version with a read side runs inside it.
                    ensure!(self.m.traits().read_side.is_none() || th.depth > 0, "walks");
                    ensure!(
                        at.walk == Some(th.callback)
                            && (th.cursor as usize) < self.nc
                            && (!at.call_only || th.wpc == WalkPc::Call)
                            && (th.wpc != WalkPc::Wait || th.callback == Callback::Stop),
                        "walks"
                    );
                    let called_cursor = th.called & bit(th.cursor) != 0;
                    ensure!(called_cursor == (th.wpc != WalkPc::Call), "walks");
                    let ahead = self.ahead(th);
                    ensure!(
                        th.called & ahead == 0 && th.must & !(th.called | ahead) == 0,
                        "walks"
                    );
                }
            }
        }
        Ok(())
    }

    /// `frames`: every frame handed out so far is exactly one of: the frame the PTE maps, the
    /// old frame of one invalidation between its zap and its free, or freed; no later frame
    /// is any of these.
    pub(super) fn frames(&self) -> Check {
        let s = self.s;
        ensure!(s.next_frame <= 8, "frames");
        let mut seen = [0u8; 8];
        let mut note = |f: u8| -> Check {
            ensure!(f < s.next_frame, "frames");
            seen[f as usize] += 1;
            Ok(())
        };
        if s.pte != NIL {
            note(s.pte)?;
        }
        for t in self.threads() {
            let th = &s.threads[t];
            for level in 0..2u8 {
                let f = th.old[level as usize];
                if f == NIL {
                    continue;
                }
                // Only between the zap that set it and the free that clears it.
                let live = self.layout(t).windows.iter().any(|w| {
                    w.level == level
                        && w.zap.is_some_and(|z| th.pc > z)
                        && w.free.is_some_and(|fr| th.pc <= fr)
                });
                ensure!(live, "frames");
                note(f)?;
            }
        }
        for (f, &n) in seen.iter().enumerate() {
            let freed = s.freed & (1 << f) != 0;
            let count = n + freed as u8;
            ensure!(count == (f < s.next_frame as usize) as u8, "frames");
        }
        Ok(())
    }

    /// For KVM-style variants, `O(n)` for every `n`: the invalidations whose
    /// `invalidate_start` reached `n` and whose `invalidate_end` has not, as far as the state
    /// shows it. A window contributes `n` while its start walk has called `n`; between its
    /// start walk and its end walk if `n` is linked (for a snapshot window, if `n` is reachable
    /// from its snapshot: what its end walk will call); during its end walk if `n` lies ahead.
    pub(super) fn open_starts(&self) -> [i32; MAX_NOTIFIERS] {
        let mut open = [0i32; MAX_NOTIFIERS];
        for t in self.threads() {
            let th = &self.s.threads[t];
            for w in &self.layout(t).windows {
                let Some(end) = w.end_walk else { continue };
                let between = if w.snapshot {
                    // The end walk starts from the window's snapshot.
                    self.snapshot_reach(th, w.slot).unwrap_or(0)
                } else {
                    self.linked
                };
                let mask = match (phase(th, w.walk, None), phase(th, end, None)) {
                    (Phase::InProgress, _) => th.called,
                    (Phase::Complete, Phase::NotStarted) => between,
                    (_, Phase::InProgress) => self.ahead(th),
                    _ => 0,
                };
                for (n, o) in open.iter_mut().enumerate().take(self.nc) {
                    *o += (mask >> n & 1) as i32;
                }
            }
        }
        open
    }

    /// `in_progress` and `mirrors` for KVM-style drivers. Each driver's `in_progress` is
    /// `O(n)`, or more if `lost_ends` allows it and the notifier is released (its ends were
    /// lost when it left the chain). A mapped mirror maps the PTE's frame, through a notifier
    /// that `may_map`, unreleased, with no invalidation open on it.
    pub(super) fn kvm_drivers(&self, lost_ends: bool, may_map: impl Fn(u8) -> bool) -> Check {
        let s = self.s;
        let open = self.open_starts();
        for (n, &o) in open.iter().enumerate().take(self.nc) {
            let d = &s.drivers[n];
            let count = d.in_progress as i32;
            ensure!(
                count == o || (lost_ends && d.released && count > o),
                "in_progress"
            );
            if d.mirror != NIL {
                ensure!(
                    d.mirror == s.pte && may_map(n as u8) && !d.released && d.in_progress == 0,
                    "mirrors"
                );
            }
        }
        Ok(())
    }

    /// `faults` for the KVM fault path (`Snapshot`, `ReadPte`, `CheckInstall`): the snapshot
    /// is never ahead of `seq`, and a fault whose check would pass read the frame the PTE
    /// maps now.
    pub(super) fn kvm_faults(&self) -> Check {
        let s = self.s;
        for t in self.threads() {
            if self.role(t) != Role::Drv {
                continue;
            }
            let th = &s.threads[t];
            let d = &s.drivers[self.m.actors()[t].notifier as usize];
            let marks = self.layout(t).marks;
            if th.pc == marks.snapshot {
                ensure!(th.slot == 0 && th.pte_read == NIL, "faults");
            } else if th.pc == marks.read_pte {
                ensure!(th.slot <= d.seq && th.pte_read == NIL, "faults");
            } else if th.pc == marks.check_install {
                ensure!(th.slot <= d.seq, "faults");
                let passes = !d.released && d.in_progress == 0 && d.seq == th.slot;
                ensure!(!passes || th.pte_read == s.pte, "faults");
            }
        }
        Ok(())
    }
}
