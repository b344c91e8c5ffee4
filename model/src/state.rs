//! The model's state: the chain, the page table, the locks, each driver and each thread.
//!
//! Everything is a small fixed-size array of bytes, so that a state clones with one copy and
//! hashes in a few dozen nanoseconds: the checker stores only its 8-byte fingerprint, but it
//! builds and hashes every successor.

use crate::config::{
    MAX_INVALIDATORS, MAX_NOTIFIERS, MAX_REGISTRATIONS, MAX_UNREGISTRATIONS, MAX_VMA_FAULTS,
};
use crate::lkmm::World;
use emm_proofs::{Callback, FaultKind};
use std::hash::Hash;

/// "No node" (`NULL`) and "no frame".
pub const NIL: u8 = u8::MAX;

/// A window's snapshot of an empty chain (a [`Thread::snap`] that was taken and is `NULL`).
pub const SNAP_EMPTY: u8 = u8::MAX - 1;

/// An hlist node's `pprev`, UNHASHED: `NULL`.
pub const PPREV_NULL: u8 = u8::MAX;
/// An hlist node's `pprev`, POISONED: `LIST_POISON2`.
pub const PPREV_POISON: u8 = u8::MAX - 1;
/// An hlist node's `pprev`, LINKED first: `&h->first`. Any other value `k` is `&nk->next`.
pub const PPREV_HEAD: u8 = u8::MAX - 2;

/// The most threads of one configuration: VM threads, registrars, unregistrars, the drivers of
/// the new notifiers, teardown, aging, the page faults and the OOM reaper.
pub const MAX_THREADS: usize =
    MAX_INVALIDATORS + 2 * MAX_REGISTRATIONS + MAX_UNREGISTRATIONS + MAX_VMA_FAULTS + 3;

/// Bits of [`Thread::flags`].
pub mod flags {
    /// Queued for a write lock (`mmap_sem`, the `anon_vma` rwsem, the VMA lock): the second
    /// phase of the step takes it.
    pub const QUEUED: u8 = 1;
    /// The fault holds the VMA read lock (not `mmap_sem`).
    pub const HOLDS_VMA: u8 = 2;
    /// A non-blocking start of this invalidation returned `-EAGAIN`.
    pub const START_FAILED: u8 = 4;
    /// The thread's step dereferenced bad memory: it oopsed and runs no more. The kind is in
    /// the high bits ([`fault_kind`](super::Thread::fault_kind)).
    pub const FAULTED: u8 = 8;
}

/// Where a thread is inside a walk over the chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WalkPc {
    /// Not walking, and no walk finished yet.
    #[default]
    Idle,
    /// Holds a pointer to `cursor`; the next step calls its callback.
    Call,
    /// Inside `emm_stop(cursor)`, waiting for its open `invalidate_start`s to end.
    Wait,
    /// Called `cursor`; the next step loads `cursor->next`.
    LoadNext,
    /// The last walk reached the end of the chain.
    Done,
}

/// One thread: its program counter, its walk, and its few local variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Thread {
    /// Index of the next op of its program; the program's length once finished.
    pub pc: u8,
    /// Position in the current (or last) walk.
    pub wpc: WalkPc,
    /// The node the walk stands on.
    pub cursor: u8,
    /// The callback the current (or last) walk delivers.
    pub callback: Callback,
    /// Notifiers the walk has called (bit mask).
    pub called: u8,
    /// Notifiers linked when the walk loaded `head` and linked ever since (bit mask).
    pub must: u8,
    /// Frames zapped by the outer (0) and nested (1) invalidation, until freed.
    pub old: [u8; 2],
    /// The thread's one register: its SRCU index, a fault's seq snapshot, an interval
    /// invalidation's `cur_seq`, or the seq an interval remove waits to see move on.
    pub slot: u8,
    /// What a fault read from the PTE.
    pub pte_read: u8,
    /// [`flags`] bits, and for a faulted thread what it dereferenced (bits 4..8: 0 `NULL`,
    /// 1 poison, 2 + n freed notifier `n`).
    pub flags: u8,
    /// Nesting depth of the thread's read-side sections (RCU or SRCU).
    pub depth: u8,
    /// The grace periods that wait for this thread's current read-side section: bit `b` for
    /// the synchronizer of slot `b` ([`EmmModel::grace_period_slot`](crate::EmmModel)).
    pub gp: u8,
    /// For the versions whose invalidation window walks one snapshot of the chain
    /// (`ours@rcu-window`): the head its read-side section at depth `d + 1` loaded
    /// ([`SNAP_EMPTY`] for an empty chain), `NIL` before the window's first walk and after the
    /// section ends.
    pub snap: [u8; 2],
}

impl Default for Thread {
    fn default() -> Self {
        Thread {
            pc: 0,
            wpc: WalkPc::Idle,
            cursor: NIL,
            callback: Callback::InvalidateStart,
            called: 0,
            must: 0,
            old: [NIL; 2],
            slot: 0,
            pte_read: NIL,
            flags: 0,
            depth: 0,
            gp: 0,
            snap: [NIL; 2],
        }
    }
}

impl Thread {
    /// Whether the thread has taken a step.
    pub fn started(&self) -> bool {
        self.pc > 0 || self.wpc != WalkPc::Idle || self.flags != 0
    }

    /// What a faulted thread's step dereferenced.
    pub fn fault_kind(&self) -> Option<FaultKind> {
        if self.flags & flags::FAULTED == 0 {
            return None;
        }
        Some(match self.flags >> 4 {
            0 => FaultKind::Null,
            1 => FaultKind::Poison,
            k => FaultKind::Freed((k - 2) as usize),
        })
    }

    /// Marks the thread faulted on `kind`.
    pub fn set_fault(&mut self, kind: FaultKind) {
        let code = match kind {
            FaultKind::Null => 0,
            FaultKind::Poison => 1,
            FaultKind::Freed(n) => 2 + n as u8,
        };
        self.flags = (self.flags & 0x0f) | flags::FAULTED | code << 4;
    }
}

/// A notifier's driver: the secondary MMU's state, changed by callbacks (under its lock) and
/// by its own fault path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Driver {
    /// The frame the mirror maps, or [`NIL`].
    pub mirror: u8,
    /// KVM's `mmu_invalidate_in_progress`.
    pub in_progress: i8,
    /// KVM's `mmu_invalidate_seq`, or the interval notifier's `invalidate_seq`.
    pub seq: u8,
    /// `emm_stop`s received.
    pub stops: u8,
    /// `emm_start`s received.
    pub starts: u8,
    /// `release`s received.
    pub releases: u8,
    /// Between `emm_stop` and `emm_start`: blocks `invalidate_start`, `clear_young`, faults.
    pub stopped: bool,
    /// Released: drops its mirror and never installs again.
    pub released: bool,
    /// The mirror was installed by the driver's own fault.
    pub installed: bool,
}

impl Default for Driver {
    fn default() -> Self {
        Driver {
            mirror: NIL,
            in_progress: 0,
            seq: 0,
            stops: 0,
            starts: 0,
            releases: 0,
            stopped: false,
            released: false,
            installed: false,
        }
    }
}

/// One state of the model.
///
/// `Hash` is written by hand: the derived one feeds the hasher one byte-sized field at a time
/// (about 200 calls, each a full mixing round), which made hashing half of the checker's time;
/// this one copies the fields into a buffer and hashes it in one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// How many of `threads` are VM threads (they come first); symmetry sorts them.
    pub vm_count: u8,
    /// How many of `threads` the configuration uses (the rest stay at their default).
    pub thread_count: u8,
    /// How many of `drivers` (and `next`) the configuration uses.
    pub notifier_count: u8,
    /// How many notifiers are registered at the start (they come first).
    pub initial_notifiers: u8,
    /// The notifier each unregistrar takes ([`NIL`] for unused slots): fixed in the initial
    /// state, one initial state per choice.
    pub targets: [u8; MAX_UNREGISTRATIONS],
    /// The chain's head (`mm->emm_notifier`, `mm->mmu_notifier_mm->list.first`, or the
    /// interval tree's first node), or [`NIL`].
    pub head: u8,
    /// Each notifier's `next`.
    pub next: [u8; MAX_NOTIFIERS],
    /// Each notifier's hlist `pprev`: [`PPREV_HEAD`], `k` for `&nk->next`, [`PPREV_NULL`],
    /// [`PPREV_POISON`].
    pub pprev: [u8; MAX_NOTIFIERS],
    /// Notifiers registered and not yet unlinked by their unregister (ghost, bit mask).
    pub registered: u8,
    /// Notifiers their owners have freed (bit mask).
    pub freed_nodes: u8,
    /// The page's PTE: the frame it maps, or [`NIL`].
    pub pte: u8,
    /// The frame the next zap maps: frames are never reused.
    pub next_frame: u8,
    /// Freed frames (bit mask).
    pub freed: u8,
    /// `mmap_sem` held for write.
    pub mmap_sem: bool,
    /// Readers of `mmap_sem`.
    pub mmap_readers: u8,
    /// Writers queued for `mmap_sem`.
    pub mmap_waiting: u8,
    /// Holders of the reverse-map lock as reclaim and aging take it (for read; at most one
    /// where it is exclusive).
    pub rmap_readers: u8,
    /// The reverse-map locks are held for write (`mm_take_all_locks`).
    pub rmap_writer: bool,
    /// Writers queued for the `anon_vma` rwsem.
    pub rmap_waiting: u8,
    /// Readers of the VMA lock (`vma_start_read`).
    pub vma_readers: u8,
    /// The VMA is write-locked (`vm_lock_seq == mm_lock_seq`).
    pub vma_locked: bool,
    /// A `vma_start_write()` waits for the VMA's readers.
    pub vma_waiting: bool,
    /// The notifier list's spinlock (or the interval `subscriptions->lock`) is held.
    pub spin: bool,
    /// Drain: open walk windows (`mm->emm_active`).
    pub emm_active: u8,
    /// Drain: a register or unregister is stopping the mm (`mm->emm_stopping`).
    pub emm_stopping: bool,
    /// Interval: `subscriptions->invalidate_seq`.
    pub itree_seq: u8,
    /// Interval: `subscriptions->active_invalidate_ranges`.
    pub itree_active: u8,
    /// Interval: notifiers on the deferred list waiting to be inserted (bit mask).
    pub deferred_insert: u8,
    /// Interval: notifiers on the deferred list waiting to be removed (bit mask).
    pub deferred_remove: u8,
    /// Each notifier's driver.
    pub drivers: [Driver; MAX_NOTIFIERS],
    /// Each thread.
    pub threads: [Thread; MAX_THREADS],
    /// Under `--memory lkmm`, the weak locations' message histories and every thread's views
    /// of them ([`crate::interp::weak`]); `None` under sequential consistency. The fields
    /// above always hold each location's last store, so the two agree on what is newest.
    pub weak: Option<Box<World<u8>>>,
}

/// Bytes of [`State::encode`]'s output.
const ENCODED_BYTES: usize =
    27 + MAX_UNREGISTRATIONS + 2 * MAX_NOTIFIERS + 7 * MAX_NOTIFIERS + 14 * MAX_THREADS;

impl std::hash::Hash for State {
    fn hash<H: std::hash::Hasher>(&self, hasher: &mut H) {
        let mut buf = [0u8; ENCODED_BYTES];
        let n = self.encode(&mut buf);
        hasher.write(&buf[..n]);
        // Nothing more under sequential consistency: its fingerprints stay as they were.
        if let Some(world) = &self.weak {
            world.hash(hasher);
        }
    }
}

impl State {
    /// Writes every field into `buf` and returns the length: equal states give equal bytes,
    /// different states different bytes (each field has a fixed place). Written as a few
    /// block copies, since it runs once or twice for every state the checker generates.
    fn encode(&self, buf: &mut [u8; ENCODED_BYTES]) -> usize {
        // The configuration fixes the counts, so the unused tails (always at their defaults)
        // need not be hashed.
        let shared = [
            self.vm_count,
            self.thread_count,
            self.notifier_count,
            self.initial_notifiers,
            self.head,
            self.registered,
            self.pte,
            self.next_frame,
            self.freed,
            self.freed_nodes,
            self.mmap_sem as u8 | (self.vma_locked as u8) << 1 | (self.vma_waiting as u8) << 2,
            self.mmap_readers,
            self.mmap_waiting,
            self.rmap_readers,
            self.rmap_writer as u8,
            self.rmap_waiting,
            self.vma_readers,
            self.spin as u8,
            self.emm_active,
            self.emm_stopping as u8,
            self.itree_seq,
            self.itree_active,
            self.deferred_insert,
            self.deferred_remove,
        ];
        let mut i = 0;
        let mut put = |bytes: &[u8]| {
            buf[i..i + bytes.len()].copy_from_slice(bytes);
            i += bytes.len();
        };
        put(&shared);
        put(&self.targets);
        let notifiers = self.notifier_count as usize;
        put(&self.next[..notifiers]);
        put(&self.pprev[..notifiers]);
        for d in &self.drivers[..notifiers] {
            put(&[
                d.mirror,
                d.in_progress as u8,
                d.seq,
                d.stops,
                d.starts,
                d.releases,
                d.stopped as u8 | (d.released as u8) << 1 | (d.installed as u8) << 2,
            ]);
        }
        for t in &self.threads[..self.thread_count as usize] {
            put(&[
                t.pc,
                t.wpc as u8 | (t.callback as u8) << 4,
                t.cursor,
                t.called,
                t.must,
                t.old[0],
                t.old[1],
                t.slot,
                t.pte_read,
                t.flags,
                t.depth,
                t.gp,
                t.snap[0],
                t.snap[1],
            ]);
        }
        i
    }

    /// Notifiers reachable from `head` (bit mask). The walk is bounded, so a corrupted chain
    /// cannot make it loop.
    pub fn linked(&self) -> u8 {
        self.reachable_from(self.head)
    }

    /// Notifiers reachable from node `x` by `next`, `x` included (bit mask); bounded like
    /// [`linked`](Self::linked).
    pub fn reachable_from(&self, x: u8) -> u8 {
        let mut mask = 0u8;
        let mut n = x;
        for _ in 0..MAX_NOTIFIERS {
            if n == NIL || mask & (1 << n) != 0 {
                break;
            }
            mask |= 1 << n;
            n = self.next[n as usize];
        }
        mask
    }

    /// The representative of this state's class: a state that behaves the same and satisfies
    /// the same properties, so the checker need only explore one of each class.
    ///
    /// Three reductions, each sound on its own:
    /// * The `next` of an initial notifier that is out of the chain and that no walk holds is
    ///   never read again (only stores reach it, and initial notifiers are never linked
    ///   again), so it is set to `NULL`.
    /// * The notifiers registered at the start are names only: nothing in the programs refers
    ///   to one by number (unregistrars find theirs in `targets`), so renaming them
    ///   consistently everywhere gives an equivalent state. They are renamed in chain order,
    ///   then those out of the chain in their old order.
    /// * The VM threads run the same program and nothing shared names one, so they are sorted.
    ///
    /// Not every class gets a single representative (two unlinked notifiers keep their order),
    /// so this is a reduction, not a canonical form; each representative is still a member of
    /// its class, which is what soundness needs.
    pub fn representative(&self) -> State {
        let mut s = self.clone();
        match &mut s.weak {
            None => {
                s.rename_initial_notifiers();
                s.threads[..self.vm_count as usize].sort_unstable();
            }
            // Under lkmm the notifiers name locations of the weak part too (their drivers'
            // seqs and locks): they keep their names, and the VM threads sort with their
            // views.
            Some(world) => {
                let vms = self.vm_count as usize;
                let mut order: Vec<usize> = (0..vms).collect();
                order.sort_unstable_by(|&a, &b| {
                    (&self.threads[a], &world.threads[a])
                        .cmp(&(&self.threads[b], &world.threads[b]))
                });
                let views: Vec<_> = order.iter().map(|&i| world.threads[i].clone()).collect();
                for (k, (&i, v)) in order.iter().zip(views).enumerate() {
                    s.threads[k] = self.threads[i];
                    world.threads[k] = v;
                }
            }
        }
        s
    }

    fn rename_initial_notifiers(&mut self) {
        let n = self.initial_notifiers as usize;
        // One walk down the chain gives both the linked set and the new names (chain order).
        let mut rename: [u8; MAX_NOTIFIERS] = std::array::from_fn(|i| i as u8);
        let mut linked = 0u8;
        let mut new = 0u8;
        let mut cur = self.head;
        while cur != NIL && linked & (1 << cur) == 0 {
            linked |= 1 << cur;
            if (cur as usize) < n {
                rename[cur as usize] = new;
                new += 1;
            }
            cur = self.next[cur as usize];
        }
        let mut held = 0u8;
        for th in &self.threads[..self.thread_count as usize] {
            // A window's snapshot is where its next walk starts: its `next` is still read.
            for x in [th.cursor, th.snap[0], th.snap[1]] {
                if x < SNAP_EMPTY {
                    held |= 1 << x;
                }
            }
        }
        let mut identity = true;
        for (old, name) in rename[..n].iter_mut().enumerate() {
            if linked & (1 << old) == 0 {
                if held & (1 << old) == 0 {
                    self.next[old] = NIL;
                }
                *name = new;
                new += 1;
            }
            identity &= *name == old as u8;
        }
        if identity {
            return;
        }
        let node = |x: u8| if x == NIL { NIL } else { rename[x as usize] };
        let mask = |m: u8| {
            (0..MAX_NOTIFIERS).fold(0u8, |acc, old| {
                if m & (1 << old) != 0 {
                    acc | 1 << rename[old]
                } else {
                    acc
                }
            })
        };
        // A pprev names a node only below PPREV_HEAD (&nk->next); the rest are markers.
        let pprev_of = |x: u8| {
            if x < PPREV_HEAD {
                rename[x as usize]
            } else {
                x
            }
        };
        let (next, pprev, drivers) = (self.next, self.pprev, self.drivers);
        for old in 0..self.notifier_count as usize {
            let new = rename[old] as usize;
            self.next[new] = node(next[old]);
            self.pprev[new] = pprev_of(pprev[old]);
            self.drivers[new] = drivers[old];
        }
        self.head = node(self.head);
        self.registered = mask(self.registered);
        self.freed_nodes = mask(self.freed_nodes);
        self.deferred_insert = mask(self.deferred_insert);
        self.deferred_remove = mask(self.deferred_remove);
        for t in self.targets.iter_mut() {
            *t = node(*t);
        }
        for th in self.threads[..self.thread_count as usize].iter_mut() {
            th.cursor = node(th.cursor);
            th.snap = th.snap.map(|x| {
                if x < SNAP_EMPTY {
                    rename[x as usize]
                } else {
                    x
                }
            });
            th.called = mask(th.called);
            th.must = mask(th.must);
            if let Some(emm_proofs::FaultKind::Freed(n)) = th.fault_kind() {
                th.set_fault(emm_proofs::FaultKind::Freed(rename[n] as usize));
            }
        }
    }
}

impl stateright::Representative for State {
    fn representative(&self) -> Self {
        State::representative(self)
    }
}
