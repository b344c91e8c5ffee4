//! The hot paths of the registry against the baselines a user would otherwise write.
//!
//! `cargo bench -p emm` measures, in one run:
//!
//! * `walk/1-thread/{take-all-locks,bare-vec,rwlock-vec}/N`: one invalidation (the
//!   `invalidate_start` walk, then the `invalidate_end` walk) over N = 1, 4, 16 notifiers.
//!   `bare-vec` is a loop over a `Vec<Arc<dyn Notifier>>` with no registry at all (the floor:
//!   it cannot register safely); `rwlock-vec` is the registry a user would write by hand, an
//!   `RwLock<Vec<Arc<dyn Notifier>>>` whose read lock spans both walks.
//!   `interval-seq-path` and `drain-path` are the hot paths of the two other protocols the
//!   model proves correct, over the same vector: `interval-seq` takes the subscriptions lock
//!   to count the invalidation in (`active += 1`, `seq |= 1`) and again to count it out
//!   (`mn_itree_inv_start_range()`/`mn_itree_inv_end()`); `emm-stop-drain-start` increments
//!   and decrements one mm-wide count of open walk windows and checks the stopping flag. They
//!   are sketches of the walk's cost, for choosing the production protocol, not registries.
//! * `walk/2-threads/...`: the same while a second thread invalidates the same registry
//!   without pause.
//! * `fault/read_begin+read_retry`: the driver's collision check (snapshot, lock, check).
//! * `register+unregister/{take-all-locks,rcu-window}`: one registration and its
//!   unregistration while a second thread invalidates without pause.
//! * `walk-under-churn/...`: an invalidation over four notifiers while a second thread
//!   registers and unregisters without pause.
//! * After criterion: the latency of single invalidations over four notifiers (median and p99
//!   of [`LATENCY_SAMPLES`], each timed on its own), calm and while a second thread registers
//!   and unregisters without pause, for both protocols.
//!
//! The notifiers are secondary MMUs that mirror a range the benchmarked invalidations do not
//! touch (the common case: most invalidations hit memory a given device does not map), so each
//! callback is a range check and the walk's own cost is what is measured.
//!
//! After criterion's own report, the run prints the ratios that the README quotes, from the
//! medians criterion saved under `target/criterion`.

use criterion::{criterion_group, BenchmarkId, Criterion};
use emm::{AddressSpace, Chain, Notifier, Range, RcuWindow, Secondary, TakeAllLocks};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::Duration;

const SIZES: [usize; 3] = [1, 4, 16];

/// The range every benchmarked invalidation covers.
const ZAPPED: Range = Range {
    start: 0x10_0000,
    end: 0x10_1000,
};

/// A secondary MMU mirroring one page outside [`ZAPPED`].
struct Mirror {
    range: Range,
    tlb: Secondary<Option<u64>>,
}

impl Mirror {
    fn new(i: usize) -> Arc<Mirror> {
        let start = 0x1000 * (i as u64 + 1);
        Arc::new(Mirror {
            range: Range::new(start, start + 0x1000),
            tlb: Secondary::new(Some(i as u64)),
        })
    }
}

impl Notifier for Mirror {
    fn invalidate_start(&self, range: Range) {
        if range.overlaps(&self.range) {
            *self.tlb.invalidate_start() = None;
        }
    }
    fn invalidate_end(&self, range: Range) {
        if range.overlaps(&self.range) {
            self.tlb.invalidate_end();
        }
    }
}

/// The three registries under comparison.
trait Registry: Send + Sync + 'static {
    const NAME: &'static str;
    fn with(n: usize) -> Self;
    fn invalidate(&self, range: Range);
}

/// A protocol of the crate, holding its registrations for the benchmark's lifetime.
struct Production<C: Chain = TakeAllLocks> {
    mm: Arc<AddressSpace<C>>,
    _registrations: Vec<emm::Registration<C>>,
}

/// The name a protocol's rows carry.
trait Named {
    const NAME: &'static str;
}

impl Named for TakeAllLocks {
    const NAME: &'static str = "take-all-locks";
}

impl Named for RcuWindow {
    const NAME: &'static str = "rcu-window";
}

impl<C: Chain + Named> Registry for Production<C> {
    const NAME: &'static str = C::NAME;
    fn with(n: usize) -> Self {
        let mm = AddressSpace::<C>::new();
        let registrations = (0..n)
            .map(|i| mm.register(Mirror::new(i)).expect("live address space"))
            .collect();
        Production {
            mm,
            _registrations: registrations,
        }
    }
    fn invalidate(&self, range: Range) {
        self.mm.invalidate(range, |inv| black_box(inv.range()));
    }
}

/// The floor: a plain vector, no registration protocol at all.
struct BareVec(Vec<Arc<dyn Notifier>>);

impl Registry for BareVec {
    const NAME: &'static str = "bare-vec";
    fn with(n: usize) -> Self {
        BareVec(
            (0..n)
                .map(|i| Mirror::new(i) as Arc<dyn Notifier>)
                .collect(),
        )
    }
    fn invalidate(&self, range: Range) {
        for n in &self.0 {
            n.invalidate_start(range);
        }
        black_box(range);
        for n in &self.0 {
            n.invalidate_end(range);
        }
    }
}

/// What a user would write by hand: one `RwLock` over the vector, read-locked across both
/// walks so that a registration (write lock) cannot fall between them.
struct RwLockVec(RwLock<Vec<Arc<dyn Notifier>>>);

impl Registry for RwLockVec {
    const NAME: &'static str = "rwlock-vec";
    fn with(n: usize) -> Self {
        RwLockVec(RwLock::new(
            (0..n)
                .map(|i| Mirror::new(i) as Arc<dyn Notifier>)
                .collect(),
        ))
    }
    fn invalidate(&self, range: Range) {
        let chain = self.0.read().unwrap();
        for n in chain.iter() {
            n.invalidate_start(range);
        }
        black_box(range);
        for n in chain.iter() {
            n.invalidate_end(range);
        }
    }
}

/// `interval-seq`'s walk: the subscriptions lock around counting the invalidation in and out.
struct IntervalSeqPath {
    subscriptions: std::sync::Mutex<Subscriptions>,
    chain: Vec<Arc<dyn Notifier>>,
}

struct Subscriptions {
    active: u64,
    invalidate_seq: u64,
}

impl Registry for IntervalSeqPath {
    const NAME: &'static str = "interval-seq-path";
    fn with(n: usize) -> Self {
        IntervalSeqPath {
            subscriptions: std::sync::Mutex::new(Subscriptions {
                active: 0,
                invalidate_seq: 0,
            }),
            chain: BareVec::with(n).0,
        }
    }
    fn invalidate(&self, range: Range) {
        {
            let mut subs = self.subscriptions.lock().unwrap();
            subs.active += 1;
            subs.invalidate_seq |= 1;
        }
        for n in &self.chain {
            n.invalidate_start(range);
        }
        black_box(range);
        for n in &self.chain {
            n.invalidate_end(range);
        }
        let mut subs = self.subscriptions.lock().unwrap();
        subs.active -= 1;
        if subs.active == 0 {
            subs.invalidate_seq += 1;
        }
    }
}

/// `emm-stop-drain-start`'s walk: one mm-wide count of open windows, and the stopping flag.
struct DrainPath {
    emm_active: AtomicUsize,
    emm_stopping: AtomicBool,
    chain: Vec<Arc<dyn Notifier>>,
}

impl Registry for DrainPath {
    const NAME: &'static str = "drain-path";
    fn with(n: usize) -> Self {
        DrainPath {
            emm_active: AtomicUsize::new(0),
            emm_stopping: AtomicBool::new(false),
            chain: BareVec::with(n).0,
        }
    }
    fn invalidate(&self, range: Range) {
        self.emm_active.fetch_add(1, Ordering::SeqCst);
        // A registration would set the flag; the walk would back off. None does here.
        black_box(self.emm_stopping.load(Ordering::SeqCst));
        for n in &self.chain {
            n.invalidate_start(range);
        }
        black_box(range);
        for n in &self.chain {
            n.invalidate_end(range);
        }
        self.emm_active.fetch_sub(1, Ordering::Release);
    }
}

/// A second thread that invalidates `registry` until dropped.
struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Background {
    fn invalidating<R: Registry>(registry: &Arc<R>) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (registry, stop) = (Arc::clone(registry), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    registry.invalidate(ZAPPED);
                }
            })
        };
        Background {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("background invalidator");
        }
    }
}

fn walk<R: Registry>(c: &mut Criterion, threads: usize) {
    let mut group = c.benchmark_group(format!(
        "walk/{threads}-thread{}",
        if threads > 1 { "s" } else { "" }
    ));
    for n in SIZES {
        let registry = Arc::new(R::with(n));
        let _background = (threads > 1).then(|| Background::invalidating(&registry));
        group.bench_with_input(BenchmarkId::new(R::NAME, n), &n, |b, _| {
            b.iter(|| registry.invalidate(black_box(ZAPPED)));
        });
    }
    group.finish();
}

fn walks(c: &mut Criterion) {
    for threads in [1, 2] {
        walk::<Production>(c, threads);
        walk::<Production<RcuWindow>>(c, threads);
        walk::<BareVec>(c, threads);
        walk::<RwLockVec>(c, threads);
        walk::<IntervalSeqPath>(c, threads);
        walk::<DrainPath>(c, threads);
    }
}

fn fault(c: &mut Criterion) {
    let tlb = Secondary::new(Some(1u64));
    c.bench_function("fault/read_begin+read_retry", |b| {
        b.iter(|| {
            let s = tlb.read_begin();
            let mirror = tlb.lock();
            black_box(mirror.read_retry(s))
        });
    });
}

/// register + unregister of one notifier while another thread invalidates without pause.
fn register_with<C: Chain + Named>(c: &mut Criterion) {
    let registry = Arc::new(Production::<C>::with(4));
    let _background = Background::invalidating(&registry);
    let notifier = Mirror::new(100);
    c.bench_function(&format!("register+unregister/{}", C::NAME), |b| {
        b.iter(|| {
            let registration = registry
                .mm
                .register(Arc::clone(&notifier) as Arc<dyn Notifier>)
                .expect("live address space");
            registration.unregister();
        });
    });
}

/// A second thread that registers and unregisters a notifier on `registry` until dropped.
fn churning<C: Chain + Named>(registry: &Arc<Production<C>>) -> Background {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (registry, stop) = (Arc::clone(registry), Arc::clone(&stop));
        thread::spawn(move || {
            let notifier = Mirror::new(100);
            while !stop.load(Ordering::Relaxed) {
                let registration = registry
                    .mm
                    .register(Arc::clone(&notifier) as Arc<dyn Notifier>)
                    .expect("live address space");
                registration.unregister();
            }
        })
    };
    Background {
        stop,
        thread: Some(thread),
    }
}

/// An invalidation over four notifiers while another thread registers and unregisters
/// without pause: TakeAllLocks's walks wait behind the registration's write locks;
/// RcuWindow's never wait.
fn walk_under_churn<C: Chain + Named>(c: &mut Criterion) {
    let registry = Arc::new(Production::<C>::with(4));
    let _churn = churning(&registry);
    c.bench_function(&format!("walk-under-churn/{}", C::NAME), |b| {
        b.iter(|| registry.invalidate(black_box(ZAPPED)));
    });
}

fn register(c: &mut Criterion) {
    register_with::<TakeAllLocks>(c);
    register_with::<RcuWindow>(c);
    walk_under_churn::<TakeAllLocks>(c);
    walk_under_churn::<RcuWindow>(c);
}

/// Invalidations timed one by one for each latency figure.
const LATENCY_SAMPLES: usize = 400_000;

/// The median and the 99th percentile of `LATENCY_SAMPLES` invalidations over four notifiers,
/// each timed on its own (so each includes one clock read, about 20 ns, in both protocols
/// alike), with or without a second thread registering and unregistering in a loop.
fn latency<C: Chain + Named>(churn: bool) -> (u64, u64) {
    let registry = Arc::new(Production::<C>::with(4));
    let _churn = churn.then(|| churning(&registry));
    for _ in 0..LATENCY_SAMPLES / 10 {
        registry.invalidate(black_box(ZAPPED));
    }
    let mut samples: Vec<u64> = (0..LATENCY_SAMPLES)
        .map(|_| {
            let start = std::time::Instant::now();
            registry.invalidate(black_box(ZAPPED));
            u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
        .collect();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

/// Prints the invalidation latencies, calm and under churn, and the p99 ratio of the two.
fn latencies() {
    println!("\ninvalidation latency, n=4 ({LATENCY_SAMPLES} invalidations each):");
    fn row<C: Chain + Named>() {
        let (calm_median, calm_p99) = latency::<C>(false);
        let (churn_median, churn_p99) = latency::<C>(true);
        println!(
            "  {:>14}: calm median {calm_median} ns, p99 {calm_p99} ns; under register/unregister \
             churn median {churn_median} ns, p99 {churn_p99} ns = {:.2}x the calm p99",
            C::NAME,
            churn_p99 as f64 / calm_p99.max(1) as f64
        );
    }
    row::<TakeAllLocks>();
    row::<RcuWindow>();
}

/// The median of benchmark `id` in nanoseconds, from criterion's saved estimates.
fn median_ns(id: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion")
        .join(id)
        .join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints the ratios the README quotes.
fn ratios() {
    println!("\nratios (medians of this run):");
    for threads in ["1-thread", "2-threads"] {
        for n in SIZES {
            let get = |name: &str| median_ns(&format!("walk_{threads}/{name}/{n}"));
            if let (Some(ours), Some(bare), Some(rw)) =
                (get("take-all-locks"), get("bare-vec"), get("rwlock-vec"))
            {
                let other = |name: &str| {
                    get(name).map_or_else(|| "-".to_owned(), |t| format!("{:.2}x", t / ours))
                };
                println!(
                    "  {threads:>9} n={n:<2}  take-all-locks {ours:5.1} ns = {:4.2}x bare-vec; \
                     per walk, rwlock-vec costs {:4.2}x, interval-seq-path {}, drain-path {}",
                    ours / bare,
                    rw / ours,
                    other("interval-seq-path"),
                    other("drain-path"),
                );
            }
        }
    }
    for threads in ["1-thread", "2-threads"] {
        for n in SIZES {
            let get = |name: &str| median_ns(&format!("walk_{threads}/{name}/{n}"));
            if let (Some(rcu), Some(tal), Some(bare)) =
                (get("rcu-window"), get("take-all-locks"), get("bare-vec"))
            {
                println!(
                    "  {threads:>9} n={n:<2}  rcu-window {rcu:5.1} ns = {:4.2}x bare-vec, {:4.2}x \
                     take-all-locks",
                    rcu / bare,
                    rcu / tal
                );
            }
        }
    }
    for name in ["take-all-locks", "rcu-window"] {
        if let (Some(churn), Some(calm)) = (
            median_ns(&format!("walk-under-churn_{name}")),
            median_ns(&format!("walk_2-threads/{name}/4")),
        ) {
            println!(
                "  {name}: n=4 walk under register/unregister churn {churn:.1} ns = {:.2}x the \
                 walk beside a second invalidator",
                churn / calm
            );
        }
        if let Some(r) = median_ns(&format!("register+unregister_{name}")) {
            println!(
                "  {name}: register + unregister under a continuous invalidator: {:.1} us",
                r / 1000.0
            );
        }
    }
    if let Some(f) = median_ns("fault_read_begin+read_retry") {
        println!("  fault path (read_begin + lock + read_retry): {f:.1} ns");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = walks, fault, register
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench -- --test` (and `cargo test --benches`) only checks that each benchmark runs.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    ratios();
    latencies();
}
