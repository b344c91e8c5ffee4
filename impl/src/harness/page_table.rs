//! The primary page table of the harness: one page, whose zap maps a fresh frame and whose freed
//! frames are marked, never reused.

use super::ghost::Ghost;
use crate::sync::Mutex;
use emm_proofs::{Event, FrameId};
use std::sync::Arc;

/// A primary page table of one page ([`PAGE`](super::PAGE)). Zapping it maps a fresh frame (as a
/// copy-on-write or a migration does); frames are numbered from 0 and never reused, and
/// freeing one only marks it in the ghost, so a stale mirror is detected, not crashed on.
///
/// Each operation is a step of the model and records its event under the page table's lock.
#[derive(Debug)]
pub struct PageTable {
    pub(super) pte: Mutex<Pte>,
    pub(super) ghost: Arc<Ghost>,
}

#[derive(Debug)]
pub(super) struct Pte {
    pub(super) frame: Option<FrameId>,
    pub(super) next_frame: FrameId,
}

impl PageTable {
    /// A page table mapping frame 0.
    pub fn new(ghost: Arc<Ghost>) -> PageTable {
        ghost.update(|s| s.freed = vec![false]);
        PageTable {
            pte: Mutex::new(Pte {
                frame: Some(0),
                next_frame: 1,
            }),
            ghost,
        }
    }

    /// Reads the PTE (a fault's read).
    pub fn read(&self) -> Option<FrameId> {
        self.ghost.point();
        let pte = self.pte.lock();
        self.ghost.record(&[Event::ReadPte { frame: pte.frame }]);
        pte.frame
    }

    /// Replaces the mapped frame by a fresh one for the invalidation at nesting `level`;
    /// returns the old frame, to be freed once the invalidation around the zap has ended.
    pub fn zap(&self, level: u8) -> Option<FrameId> {
        self.ghost.point();
        let mut pte = self.pte.lock();
        let old = pte.frame;
        if old.is_some() {
            pte.frame = Some(pte.next_frame);
            pte.next_frame += 1;
            self.ghost.update(|s| s.freed.push(false));
        }
        self.ghost.record(&[Event::Zap {
            level,
            frame: pte.frame,
        }]);
        old
    }

    /// Frees a frame that [`zap`](PageTable::zap) at `level` returned.
    pub fn free(&self, level: u8, frame: Option<FrameId>) {
        self.ghost.point();
        let _pte = self.pte.lock();
        if let Some(f) = frame {
            self.ghost.update(|s| s.freed[f] = true);
        }
        self.ghost.record(&[Event::Free { level, frame }]);
    }

    /// Teardown's `unmap_vmas()` and free: clears the PTE and frees its frame.
    pub fn free_all(&self) {
        self.ghost.point();
        let mut pte = self.pte.lock();
        let frame = pte.frame.take();
        self.ghost.update(|s| {
            if let Some(f) = frame {
                s.freed[f] = true;
            }
            s.teardown_freed = true;
        });
        self.ghost.record(&[Event::FreeFrames]);
    }
}
