//! An invalidation-notifier registry for secondary MMUs: anything that mirrors a page table
//! (a VMM's view of guest memory, an RDMA or GPU registration cache, a cache of translations)
//! and must drop its copy before the primary frees a frame.
//!
//! This is the checked reference implementation of the emm project: the same protocols as the
//! `emm-model` stateright model, run as real concurrent code and explored with loom and
//! shuttle against the spec's properties in `emm-proofs`.
//!
//! # The protocol, as states and operations
//!
//! ```text
//!  VM side (AddressSpace)                     secondary MMU side (Notifier + Secondary)
//!  ----------------------                     ----------------------------------------
//!  let inv = mm.invalidate_range_start(r) --> invalidate_start(r): in_progress += 1, drop r
//!  zap the primary PTEs of r
//!  drop(inv)                              --> invalidate_end(r):   seq += 1, in_progress -= 1
//!  free the old frames
//!                                             fault: s = read_begin(); pte = read primary;
//!                                                    lock; if read_retry(s) retry; install
//!  mm.register(n) -> Registration             every invalidation not yet started reaches n
//!  registration.unregister() / drop           returns once no callback of n runs or can start
//!  mm.clear_young(r)                      --> clear_young(r) on every notifier
//!  mm.teardown()                          --> release() on every notifier, then unlinked
//! ```
//!
//! The driver's fault is safe only if its notifier receives every `invalidate_start` of every
//! invalidation whose zap happens while it is registered, including invalidations already
//! walking the chain when it registers. That is the registration race, and what the protocol
//! behind [`AddressSpace`] must close.
//!
//! # Protocols
//!
//! * [`RcuWindow`] (`ours@rcu-window`; the default, and the one to use): each invalidation one
//!   read-side section walking one snapshot of an RCU list; register and unregister publish,
//!   then wait for a grace period. Walkers take no lock and never wait, so a registration
//!   never stalls an invalidation. Proved in the model (`proofs/proofs/rcu-window.md`), its
//!   orderings explored by loom. Chosen by measurement (`impl/benches/README.md`): its walk
//!   costs what `TakeAllLocks`'s does, and while another thread registers and unregisters
//!   its invalidations keep their latency where `TakeAllLocks`'s wait behind the write locks.
//! * [`TakeAllLocks`]: the kernel's `mm_take_all_locks()` registration (`mmu-notifier@v5.12`)
//!   over per-CPU read sides. The model proves it (`emm-check check --variant mmu-notifier@v5.12`, `proofs/proofs/mmu-notifier-v5.12.md`),
//!   and its module documentation says why it was chosen over interval notifiers and the
//!   corrected stop/start: walks on different CPUs share no cache line.
//! * [`historical::EmmStopStart`] and [`historical::RcuPublish`]: the 2008 EMM patches as they
//!   read, kept only so that the tests show their bug in real code. **Do not use them.**
//!
//! # Example
//!
//! ```
//! use emm::{AddressSpace, Notifier, Range, Secondary};
//! use std::sync::Arc;
//! # if emm::sync::BACKEND != "std" { return; } // loom's and shuttle's locks run only under their checkers
//!
//! struct Tlb(Secondary<Option<u64>>); // a one-entry mirror of page 0x1000
//!
//! impl Notifier for Tlb {
//!     fn invalidate_start(&self, range: Range) {
//!         let mut mirror = self.0.invalidate_start();
//!         if range.contains(0x1000) {
//!             *mirror = None;
//!         }
//!     }
//!     fn invalidate_end(&self, _: Range) {
//!         self.0.invalidate_end();
//!     }
//! }
//!
//! let mm: Arc<AddressSpace> = AddressSpace::new(); // the default protocol, RcuWindow
//! let tlb = Arc::new(Tlb(Secondary::new(Some(7))));
//! let registration = mm.register(tlb.clone()).unwrap();
//! mm.invalidate(Range::new(0x1000, 0x2000), |_| { /* zap the primary PTE */ });
//! assert_eq!(*tlb.0.lock(), None);
//! registration.unregister();
//! ```
//!
//! # Backends
//!
//! [`sync`] is the only module that names std, loom (`RUSTFLAGS="--cfg loom"`) or shuttle
//! (`--features shuttle`). The only `unsafe` is [`RcuWindow`]'s (its nodes are shared by raw
//! pointer and freed after a grace period), each block with its argument, all of it explored
//! by the loom suite.
//!
//! # Tracing
//!
//! With the `trace` feature (and always under loom and shuttle), an address space made by
//! [`AddressSpace::with_tracer`] records each step its protocol takes as the model's trace
//! event, for [`trace`]'s users: the trace validation of the loom and shuttle suites, and the
//! replay of the model's counterexamples on this code (`emm-check replay --on-impl`). Without
//! the feature the recording points compile to nothing.

// `unsafe` only in `rcu_window` and the historical list's links, where each block says why it
// is sound (and the loom suite exercises every one).
#![deny(unsafe_code)]

/// Runs `$body` with the tracer of `$hook` (an `Option` of one) when tracing is compiled in
/// and a tracer is installed; compiles to nothing (the arguments are not even evaluated)
/// otherwise.
#[cfg(any(loom, feature = "trace"))]
macro_rules! traced {
    ($hook:expr, |$t:ident| $body:expr) => {
        if let Some($t) = &$hook {
            $body;
        }
    };
}

#[cfg(not(any(loom, feature = "trace")))]
macro_rules! traced {
    ($hook:expr, |$t:ident| $body:expr) => {};
}

#[cfg(any(loom, feature = "check"))]
pub mod harness;
#[cfg(any(loom, feature = "check"))]
pub mod historical;
mod notifier;
mod rcu_window;
mod secondary;
mod space;
pub mod sync;
mod take_all_locks;
#[cfg(any(loom, feature = "trace"))]
pub mod trace;

pub use notifier::{Notifier, Range};
#[cfg(loom)]
pub use rcu_window::RcuWindowRelaxedPublish;
pub use rcu_window::{RcuWindow, Section};
pub use secondary::{ReadSeq, Secondary, SecondaryGuard};
pub use space::{
    AddressSpace, Chain, Invalidation, NestedInvalidation, Registration, RegistrationId, TornDown,
    Window,
};
pub use take_all_locks::{TakeAllLocks, Walks};
