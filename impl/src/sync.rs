//! The sync facade: the only module that names a concurrency backend.
//!
//! Every lock, atomic, fence and thread operation of the crate goes through here, so that the
//! same code runs on three backends:
//!
//! | build                                   | backend                                    |
//! |-----------------------------------------|--------------------------------------------|
//! | default                                 | `std`                                      |
//! | `RUSTFLAGS="--cfg loom"`                | loom: every interleaving up to a bound     |
//! | `--features shuttle` (without loom)     | shuttle: random and PCT schedules          |
//!
//! Notifier handles are `std::sync::Arc` in every build: reference counts are not a
//! synchronisation point of any protocol here, and loom's `Arc` cannot hold a `dyn Notifier`.
//!
//! Loom models `SeqCst` loads and stores only as acquire/release (loom#180), so code that
//! needs a store-load order ("publish mine, then read theirs") writes it with an explicit
//! [`fence`]`(SeqCst)`, which loom does model.
//!
//! The lock wrappers recover a poisoned lock instead of propagating the poison: every
//! critical section of this crate leaves its data consistent before it calls out to a
//! notifier, so a panic in a callback leaves nothing half-done behind it.

#[cfg(loom)]
use loom as backend;
#[cfg(all(feature = "shuttle", not(loom)))]
use shuttle as backend;
#[cfg(not(any(loom, feature = "shuttle")))]
use std as backend;

pub use backend::sync::atomic::{
    fence, AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};
pub use backend::thread;

use std::fmt;

/// Which backend this build runs on, as its crate name.
pub const BACKEND: &str = if cfg!(loom) {
    "loom"
} else if cfg!(feature = "shuttle") {
    "shuttle"
} else {
    "std"
};

/// A mutual-exclusion lock whose `lock` cannot fail.
pub struct Mutex<T>(backend::sync::Mutex<T>);

/// The guard of a [`Mutex`].
pub type MutexGuard<'a, T> = backend::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex(backend::sync::Mutex::new(value))
    }

    /// Locks, waiting while another thread holds the lock.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl<T> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mutex { .. }")
    }
}

#[cfg(not(any(loom, feature = "shuttle")))]
pub use backend_rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(any(loom, feature = "shuttle"))]
pub use checked_rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

#[cfg(not(any(loom, feature = "shuttle")))]
mod backend_rwlock {
    use super::backend;
    use std::fmt;

    /// A reader-writer lock whose `read` and `write` cannot fail.
    pub struct RwLock<T>(backend::sync::RwLock<T>);

    /// A shared guard of a [`RwLock`].
    pub type RwLockReadGuard<'a, T> = backend::sync::RwLockReadGuard<'a, T>;
    /// An exclusive guard of a [`RwLock`].
    pub type RwLockWriteGuard<'a, T> = backend::sync::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        /// A new unlocked lock holding `value`.
        pub fn new(value: T) -> Self {
            RwLock(backend::sync::RwLock::new(value))
        }

        /// Takes the lock shared, waiting while a writer holds it.
        #[inline]
        pub fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(|poison| poison.into_inner())
        }

        /// Takes the lock exclusively, waiting while anyone holds it.
        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(|poison| poison.into_inner())
        }
    }

    impl<T> fmt::Debug for RwLock<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("RwLock { .. }")
        }
    }
}

/// Under loom and shuttle the lock is built from the checker's `Mutex` and `Condvar`, with
/// std's policy: a new reader waits while a writer holds the lock *or waits for it* (std's
/// futex `RwLock` prefers writers), so a thread that takes the read lock twice while another
/// thread's writer queues deadlocks here as it does on std, and the checkers report the
/// deadlocks std can produce. (Loom 0.7.3's own `RwLock` also panics, "expected to be able to
/// acquire write lock", when a writer it woke finds a reader got in first; shuttle 0.9's fails
/// any read lock taken by a thread that already holds one, "tried to acquire a RwLock it
/// already holds", even with no writer waiting, where std lets the second reader in.) The
/// value itself sits in a `std` lock that the checkers do not see: the checker-level protocol
/// already excludes a writer from readers, so that lock is never contended (the checkers run
/// one thread at a time, and a contended `std` lock there would hang, not race). A panic while
/// a guard is held poisons that `std` lock; the poison is ignored, as every lock of this facade
/// ignores it.
#[cfg(any(loom, feature = "shuttle"))]
mod checked_rwlock {
    use std::fmt;
    use std::ops::{Deref, DerefMut};

    #[derive(Default)]
    struct Holders {
        readers: usize,
        writer: bool,
        /// Writers waiting for the lock: new readers queue behind them.
        waiting_writers: usize,
    }

    /// A reader-writer lock whose `read` and `write` cannot fail.
    pub struct RwLock<T> {
        holders: super::Mutex<Holders>,
        changed: super::Condvar,
        value: std::sync::RwLock<T>,
    }

    impl<T> RwLock<T> {
        /// A new unlocked lock holding `value`.
        pub fn new(value: T) -> Self {
            RwLock {
                holders: super::Mutex::new(Holders::default()),
                changed: super::Condvar::new(),
                value: std::sync::RwLock::new(value),
            }
        }

        /// Takes the lock shared, waiting while a writer holds it or waits for it.
        #[inline]
        pub fn read(&self) -> RwLockReadGuard<'_, T> {
            let mut holders = self
                .changed
                .wait_while(self.holders.lock(), |h| h.writer || h.waiting_writers > 0);
            holders.readers += 1;
            drop(holders);
            RwLockReadGuard {
                guard: Some(self.value.read().unwrap_or_else(|p| p.into_inner())),
                lock: self,
            }
        }

        /// Takes the lock exclusively, waiting while anyone holds it.
        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            let mut holders = self.holders.lock();
            holders.waiting_writers += 1;
            let mut holders = self
                .changed
                .wait_while(holders, |h| h.writer || h.readers > 0);
            holders.waiting_writers -= 1;
            holders.writer = true;
            drop(holders);
            RwLockWriteGuard {
                guard: Some(self.value.write().unwrap_or_else(|p| p.into_inner())),
                lock: self,
            }
        }
    }

    impl<T> fmt::Debug for RwLock<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("RwLock { .. }")
        }
    }

    /// A shared guard of a [`RwLock`].
    pub struct RwLockReadGuard<'a, T> {
        guard: Option<std::sync::RwLockReadGuard<'a, T>>,
        lock: &'a RwLock<T>,
    }

    /// An exclusive guard of a [`RwLock`].
    pub struct RwLockWriteGuard<'a, T> {
        guard: Option<std::sync::RwLockWriteGuard<'a, T>>,
        lock: &'a RwLock<T>,
    }

    impl<T> Deref for RwLockReadGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.guard.as_ref().expect("held until drop")
        }
    }

    impl<T> Deref for RwLockWriteGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.guard.as_ref().expect("held until drop")
        }
    }

    impl<T> DerefMut for RwLockWriteGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.guard.as_mut().expect("held until drop")
        }
    }

    impl<T> Drop for RwLockReadGuard<'_, T> {
        fn drop(&mut self) {
            // The std guard goes first: the loom release below may switch to a writer.
            self.guard = None;
            self.lock.holders.lock().readers -= 1;
            self.lock.changed.notify_all();
        }
    }

    impl<T> Drop for RwLockWriteGuard<'_, T> {
        fn drop(&mut self) {
            self.guard = None;
            self.lock.holders.lock().writer = false;
            self.lock.changed.notify_all();
        }
    }

    impl<T> fmt::Debug for RwLockReadGuard<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("RwLockReadGuard { .. }")
        }
    }

    impl<T> fmt::Debug for RwLockWriteGuard<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("RwLockWriteGuard { .. }")
        }
    }
}

/// A condition variable for [`Mutex`].
pub struct Condvar(backend::sync::Condvar);

impl Condvar {
    /// A new condition variable with no waiters.
    pub fn new() -> Self {
        Condvar(backend::sync::Condvar::new())
    }

    /// Waits on `guard`'s mutex until `condition` is false, re-checking after each wake-up.
    pub fn wait_while<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut guard) {
            guard = self
                .0
                .wait(guard)
                .unwrap_or_else(|poison| poison.into_inner());
        }
        guard
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Condvar { .. }")
    }
}

/// A cell whose accesses loom checks for causality: under loom, reading or writing the value
/// when the access is not ordered after the cell's creation or its last write (or a write
/// not ordered after a read) fails the execution. So a walker that reads a node before the
/// node's initialisation is visible to it, or a reclaimer that retires a node a walker may
/// still read, is a loom failure, not silent undefined behaviour. Outside loom it is
/// `std::cell::UnsafeCell` with loom's closure API.
pub mod cell {
    #[cfg(loom)]
    pub use loom::cell::UnsafeCell;

    /// `std::cell::UnsafeCell` with loom's `with`/`with_mut` API.
    #[cfg(not(loom))]
    #[derive(Debug)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        /// A cell holding `value`.
        pub fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a pointer to the value, for reading.
        #[inline]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a pointer to the value, for writing.
        #[inline]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// One turn of a wait for other threads (a grace period): under loom and shuttle a yield to
/// the scheduler, which then runs another thread; under std a yield of the CPU.
#[inline]
pub fn wait_turn() {
    thread::yield_now();
}

/// The identity of the calling thread, as the backend knows it.
pub fn current_thread() -> thread::ThreadId {
    thread::current().id()
}

/// A small number that stays the same for the calling thread, used to spread threads over the
/// read-side shards of a registry. Any value is correct; a stable, well-spread one is fast.
#[cfg(not(any(loom, feature = "shuttle")))]
#[inline]
pub fn thread_hint() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
    static NEXT: StdAtomicUsize = StdAtomicUsize::new(0);
    thread_local! {
        static HINT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    HINT.with(|hint| {
        if hint.get() == usize::MAX {
            // Relaxed: the counter only hands out distinct numbers; nothing is published.
            hint.set(NEXT.fetch_add(1, StdOrdering::Relaxed));
        }
        hint.get()
    })
}

/// A small number that stays the same for the calling thread, used to spread threads over the
/// read-side shards of a registry. Any value is correct; under a model checker it is the
/// checker's thread number, the same in every execution it explores (loom hashes its thread ids
/// together with the execution's, so their hash would differ from one execution to the next).
#[cfg(any(loom, feature = "shuttle"))]
#[inline]
pub fn thread_hint() -> usize {
    format!("{:?}", current_thread())
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0usize, |n, d| {
            n.wrapping_mul(10).wrapping_add(usize::from(d - b'0'))
        })
}

/// The number of read-side shards for a new registry: four per CPU, at least 8, rounded up to
/// a power of two (threads take shards in the order they first invalidate, so a few spare
/// shards keep two busy threads apart after others came and went); two under a model checker
/// (enough for a writer to take several locks).
pub fn default_shards() -> usize {
    if cfg!(any(loom, feature = "shuttle")) {
        2
    } else {
        std::thread::available_parallelism()
            .map_or(2, usize::from)
            .saturating_mul(4)
            .max(8)
            .next_power_of_two()
    }
}

// The read side the calling thread is inside, by the address of its chain (0: none). Set by a
// chain's read side while it is open, so that a register, unregister or teardown on the same
// chain from inside it (from a notifier callback, or with an invalidation open) can refuse
// clearly instead of waiting for the thread's own read side for ever.
#[cfg(not(any(loom, feature = "shuttle")))]
std::thread_local! {
    static READ_SIDE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static READ_SIDE: std::cell::Cell<usize> = std::cell::Cell::new(0);
}

#[cfg(all(feature = "shuttle", not(loom)))]
shuttle::thread_local! {
    static READ_SIDE: std::cell::Cell<usize> = std::cell::Cell::new(0);
}

/// Marks the calling thread as inside a read side of the chain at address `chain`; returns the
/// previous mark, for [`restore_read_side`] when the read side closes.
#[inline]
pub(crate) fn mark_read_side(chain: usize) -> usize {
    READ_SIDE.with(|side| side.replace(chain))
}

/// Restores the mark that [`mark_read_side`] replaced.
#[inline]
pub(crate) fn restore_read_side(previous: usize) {
    READ_SIDE.with(|side| side.set(previous));
}

/// Whether the calling thread is inside a read side of the chain at address `chain`.
pub(crate) fn in_read_side(chain: usize) -> bool {
    READ_SIDE.with(|side| side.get() == chain)
}
