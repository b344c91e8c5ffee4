//! A secondary MMU mirroring a small page table from several threads.
//!
//! `cargo run -p emm --example mirror`
//!
//! The primary is a page table of 16 pages, each mapping a frame. VM threads keep remapping
//! pages (a copy-on-write: invalidate, point the PTE at a fresh frame, end, free the old frame).
//! Device threads keep faulting pages into their own mirror with the collision check
//! (snapshot, read the PTE, lock, retry check, install), and every access they make through
//! the mirror checks that the frame is still allocated. A device registers after the VM
//! threads started, and one unregisters halfway through. At the end the example prints how
//! many faults, retries and remaps ran, and that no device ever used a freed frame.

use emm::{AddressSpace, Notifier, Range, Secondary};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PAGES: u64 = 16;
const PAGE_SIZE: u64 = 0x1000;

/// The primary: PTEs and the frame allocator, which remembers what it freed.
struct Primary {
    ptes: Mutex<Vec<u64>>,
    next_frame: AtomicU64,
    freed: Mutex<std::collections::HashSet<u64>>,
}

impl Primary {
    fn read_pte(&self, page: u64) -> u64 {
        self.ptes.lock().unwrap()[page as usize]
    }
    fn is_freed(&self, frame: u64) -> bool {
        self.freed.lock().unwrap().contains(&frame)
    }
}

/// A device: its mirror of page -> frame, behind the collision check.
struct Device {
    tlb: Secondary<HashMap<u64, u64>>,
    faults: AtomicUsize,
    retries: AtomicUsize,
}

impl Notifier for Device {
    fn invalidate_start(&self, range: Range) {
        let mut mirror = self.tlb.invalidate_start();
        mirror.retain(|page, _| !range.contains(page * PAGE_SIZE));
    }
    fn invalidate_end(&self, _: Range) {
        self.tlb.invalidate_end();
    }
    fn release(&self) {
        self.tlb.release().clear();
    }
}

impl Device {
    /// The driver's fault: the few lines the contract asks for.
    fn fault(&self, primary: &Primary, page: u64) -> Option<u64> {
        loop {
            let s = self.tlb.read_begin();
            let frame = primary.read_pte(page);
            let mut mirror = self.tlb.lock();
            if mirror.is_released() {
                return None;
            }
            if mirror.read_retry(s) {
                self.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            mirror.insert(page, frame);
            self.faults.fetch_add(1, Ordering::Relaxed);
            return Some(frame);
        }
    }

    /// A device access through the mirror: the frame must still be allocated.
    fn access(&self, primary: &Primary, page: u64) {
        let mirror = self.tlb.lock();
        if let Some(&frame) = mirror.get(&page) {
            assert!(
                !primary.is_freed(frame),
                "device used frame {frame} of page {page} after it was freed"
            );
        }
    }
}

fn main() {
    let primary = Arc::new(Primary {
        ptes: Mutex::new((0..PAGES).collect()),
        next_frame: AtomicU64::new(PAGES),
        freed: Mutex::new(Default::default()),
    });
    let mm: Arc<AddressSpace> = AddressSpace::new(); // RcuWindow, the default protocol
    let stop = Arc::new(AtomicBool::new(false));
    let remaps = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_millis(500);

    let mut vms = Vec::new();
    for vm in 0..2u64 {
        let (mm, primary, stop, remaps) =
            (mm.clone(), primary.clone(), stop.clone(), remaps.clone());
        vms.push(thread::spawn(move || {
            let mut page = vm;
            while !stop.load(Ordering::Relaxed) {
                page = (page * 7 + 3) % PAGES;
                let range = Range::new(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
                let old = mm.invalidate(range, |_| {
                    let fresh = primary.next_frame.fetch_add(1, Ordering::Relaxed);
                    std::mem::replace(&mut primary.ptes.lock().unwrap()[page as usize], fresh)
                });
                // Only once the end walk is done may the old frame go.
                primary.freed.lock().unwrap().insert(old);
                remaps.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut devices = Vec::new();
    for d in 0..3u64 {
        let (mm, primary, stop) = (mm.clone(), primary.clone(), stop.clone());
        devices.push(thread::spawn(move || {
            let device = Arc::new(Device {
                tlb: Secondary::new(HashMap::new()),
                faults: AtomicUsize::new(0),
                retries: AtomicUsize::new(0),
            });
            // Registers while the VM threads are already remapping.
            let registration = mm.register(device.clone()).expect("live address space");
            let mut page = d;
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                page = (page + 5) % PAGES;
                device.fault(&primary, page);
                device.access(&primary, page);
                round += 1;
                if d == 2 && round == 10_000 {
                    break; // this device unregisters halfway through
                }
            }
            registration.unregister();
            (
                device.faults.load(Ordering::Relaxed),
                device.retries.load(Ordering::Relaxed),
            )
        }));
    }

    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for vm in vms {
        vm.join().expect("VM thread");
    }
    for (d, device) in devices.into_iter().enumerate() {
        let (faults, retries) = device.join().expect("device thread");
        println!("device {d}: {faults} faults installed, {retries} retried on a collision");
    }
    mm.teardown();
    println!(
        "{} remaps, {} frames freed; no device used a freed frame",
        remaps.load(Ordering::Relaxed),
        primary.freed.lock().unwrap().len()
    );
}
