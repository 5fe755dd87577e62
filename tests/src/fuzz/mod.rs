//! A structure-aware fuzz driver for every decoder a peer or a file reaches, on the stable
//! toolchain: valid seed encodings built with the real encoders are mutated (see [`mutate`]) and
//! fed to each decoder under `catch_unwind`. A case fails if the decoder panics, if an input it
//! accepted does not round-trip where the format is canonical, if it takes longer than a second,
//! or if it allocates far more than its input justifies. Failing inputs are written to files
//! that `fedledger-fuzz --reproduce FILE` replays.
//!
//! Used by the `fedledger-fuzz` binary (millions of cases, outside CI) and by
//! `tests/fuzz_short.rs` (a few thousand per target, in CI).

pub mod alloc;
pub mod mutate;
pub mod targets;

use mutate::Rng;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// How a target's inputs are mutated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Binary: bit flips, varints, length prefixes, ranges, splices.
    Binary,
    /// Text: token-level edits plus some byte-level ones.
    Text,
}

/// What a decoder did with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Decoded (and round-tripped where the format is canonical).
    Accepted,
    /// Refused with an error.
    Rejected,
    /// Decoded, but encoding it again gave other bytes (or re-decoding gave another value).
    RoundTrip(String),
}

/// One decoder under test.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name for `--target`.
    pub name: &'static str,
    /// What it decodes, for the listing.
    pub about: &'static str,
    /// How its inputs are mutated.
    pub format: Format,
    /// Largest input generated.
    pub max_len: usize,
    /// Valid encodings to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Run the decoder (and its round-trip check) on one input.
    pub run: fn(&[u8]) -> Outcome,
}

/// Why a case failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The decoder panicked (message and location).
    Panic(String),
    /// An accepted input did not round-trip.
    RoundTrip(String),
    /// One case took longer than the limit.
    Slow(Duration),
    /// One case allocated this many bytes at its peak, far beyond its input.
    Alloc(usize),
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::Panic(m) => write!(f, "panic: {m}"),
            FailureKind::RoundTrip(m) => write!(f, "round-trip violation: {m}"),
            FailureKind::Slow(d) => write!(f, "slow case: {:.2} s", d.as_secs_f64()),
            FailureKind::Alloc(n) => write!(f, "allocated {n} bytes at peak"),
        }
    }
}

/// A failing case and the file holding its input.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Target name.
    pub target: &'static str,
    /// What went wrong.
    pub kind: FailureKind,
    /// Where the input was written.
    pub file: PathBuf,
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Cases per target (over all threads).
    pub cases: u64,
    /// Base seed; each thread and target derives its own.
    pub seed: u64,
    /// Worker threads per target.
    pub threads: usize,
    /// Where failing inputs go.
    pub crash_dir: PathBuf,
    /// A case slower than this fails.
    pub slow: Duration,
    /// Allocation budget of a case: `alloc_base + alloc_per_byte * input length`.
    pub alloc_base: usize,
    /// See `alloc_base`.
    pub alloc_per_byte: usize,
    /// Stop at the first failure of any kind (panics always stop the target).
    pub stop_on_failure: bool,
    /// Stop a target after this long even if its cases are not done (the report says how many
    /// ran).
    pub time_limit: Option<Duration>,
}

impl RunConfig {
    /// Defaults: 1 s per case, 16 MiB plus 64 bytes per input byte.
    pub fn new(cases: u64, seed: u64, threads: usize, crash_dir: PathBuf) -> Self {
        RunConfig {
            cases,
            seed,
            threads: threads.max(1),
            crash_dir,
            slow: Duration::from_secs(1),
            alloc_base: 16 << 20,
            alloc_per_byte: 64,
            stop_on_failure: false,
            time_limit: None,
        }
    }
}

/// Figures of one target's run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Target name.
    pub target: &'static str,
    /// Cases run.
    pub cases: u64,
    /// Of which the decoder accepted.
    pub accepted: u64,
    /// Wall time.
    pub seconds: f64,
    /// Failures (at most a few per kind are kept).
    pub failures: Vec<Failure>,
    /// The slowest case.
    pub slowest: Duration,
    /// The largest allocation peak of a case.
    pub peak_alloc: usize,
}

impl Report {
    /// Cases per second.
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.seconds.max(1e-9)
    }
}

thread_local! {
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replace the panic hook (once) with one that records where a panic happened instead of
/// printing it: the driver reports panics itself, with the input file.
pub fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let _ = PANIC_AT.try_with(|p| *p.borrow_mut() = Some(at));
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into());
    let at = PANIC_AT
        .try_with(|p| p.borrow_mut().take())
        .ok()
        .flatten()
        .unwrap_or_default();
    format!("{msg} at {at}")
}

/// The measured result of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The outcome, or the panic message.
    pub outcome: Result<Outcome, String>,
    /// Wall time.
    pub time: Duration,
    /// Peak bytes allocated (0 without the counting allocator).
    pub alloc: usize,
}

/// Run `target` on `input` once, catching a panic and measuring time and allocation.
pub fn run_case(target: &Target, input: &[u8]) -> CaseResult {
    let base = alloc::start();
    let t0 = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(input)))
        .map_err(|p| panic_message(p.as_ref()));
    CaseResult {
        outcome,
        time: t0.elapsed(),
        alloc: alloc::peak_since(base),
    }
}

/// FNV-1a, for crash file names (stable across runs and platforms).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn save(dir: &Path, target: &str, tag: &str, input: &[u8]) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let file = dir.join(format!("{target}-{tag}-{:016x}.bin", fnv(input)));
    if let Err(e) = std::fs::write(&file, input) {
        eprintln!("cannot write {}: {e}", file.display());
    }
    file
}

/// Judge one case's result; `Some` if it failed.
fn judge(cfg: &RunConfig, r: &CaseResult, len: usize) -> Option<(FailureKind, &'static str)> {
    let budget = cfg
        .alloc_base
        .saturating_add(cfg.alloc_per_byte.saturating_mul(len));
    match &r.outcome {
        Err(m) => Some((FailureKind::Panic(m.clone()), "panic")),
        Ok(Outcome::RoundTrip(m)) => Some((FailureKind::RoundTrip(m.clone()), "roundtrip")),
        Ok(_) if r.time > cfg.slow => Some((FailureKind::Slow(r.time), "slow")),
        Ok(_) if r.alloc > budget => Some((FailureKind::Alloc(r.alloc), "alloc")),
        Ok(_) => None,
    }
}

/// Shared progress of a target's workers.
#[derive(Debug, Default)]
pub struct Progress {
    /// Cases done.
    pub done: AtomicU64,
    /// Set when a worker hit a failure that stops the target.
    pub stop: AtomicBool,
}

struct Worker {
    accepted: u64,
    failures: Vec<Failure>,
    slowest: Duration,
    peak_alloc: usize,
}

fn worker(
    target: &Target,
    cfg: &RunConfig,
    seeds: &[Vec<u8>],
    cases: u64,
    seed: u64,
    progress: &Progress,
) -> Worker {
    let mut rng = Rng::new(seed);
    // Inputs the decoder accepted join the corpus: mutating them reaches deeper than mutating
    // the seeds alone (no coverage feedback on stable, so acceptance is the signal).
    let mut corpus: Vec<Vec<u8>> = seeds.to_vec();
    let fixed = corpus.len();
    let mut w = Worker {
        accepted: 0,
        failures: Vec::new(),
        slowest: Duration::ZERO,
        peak_alloc: 0,
    };
    // Warm up on the seeds: one-time initialisation (caches, thread pools, thread-locals) is not
    // the first case's allocation.
    for s in seeds {
        let _ = run_case(target, s);
    }
    let mut kinds_seen = std::collections::BTreeMap::<&'static str, usize>::new();
    let mut input = Vec::new();
    let t0 = Instant::now();
    for i in 0..cases {
        if i % 256 == 0
            && (progress.stop.load(Ordering::Relaxed)
                || cfg.time_limit.is_some_and(|l| t0.elapsed() >= l))
        {
            break;
        }
        input.clear();
        if corpus.is_empty() || rng.one_in(64) {
            // Plain random bytes (or text).
            let n = rng.below(target.max_len.min(4096) + 1);
            input.extend((0..n).map(|_| rng.next_u64() as u8));
        } else {
            let start: &Vec<u8> = rng.pick(&corpus);
            input.extend_from_slice(start);
            // A valid seed now and then: they must be accepted and round-trip.
            if !rng.one_in(100) {
                let other: Vec<u8> = rng.pick(&corpus).clone();
                match target.format {
                    Format::Binary => {
                        mutate::mutate_bytes(&mut rng, &mut input, &other, target.max_len)
                    }
                    Format::Text => {
                        mutate::mutate_text(&mut rng, &mut input, &other, target.max_len)
                    }
                }
            }
        }
        let r = run_case(target, &input);
        w.slowest = w.slowest.max(r.time);
        w.peak_alloc = w.peak_alloc.max(r.alloc);
        if r.outcome == Ok(Outcome::Accepted) {
            w.accepted += 1;
            if corpus.len() < fixed + 512 {
                corpus.push(input.clone());
            } else {
                let k = fixed + rng.below(512);
                corpus[k].clone_from(&input);
            }
        }
        if let Some((kind, tag)) = judge(cfg, &r, input.len()) {
            let n = kinds_seen.entry(tag).or_default();
            *n += 1;
            let is_panic = matches!(kind, FailureKind::Panic(_));
            if *n <= 3 {
                let file = save(&cfg.crash_dir, target.name, tag, &input);
                w.failures.push(Failure {
                    target: target.name,
                    kind,
                    file,
                });
            }
            if is_panic || cfg.stop_on_failure {
                progress.stop.store(true, Ordering::Relaxed);
                progress.done.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    w
}

/// Run `cfg.cases` cases of `target` on `cfg.threads` threads; `tick` is called about every
/// `every` with the cases done so far and the elapsed time.
pub fn run_target(
    target: &Target,
    cfg: &RunConfig,
    every: Duration,
    tick: &mut dyn FnMut(u64, Duration),
) -> Report {
    quiet_panics();
    let seeds = (target.seeds)();
    let progress = Arc::new(Progress::default());
    let t0 = Instant::now();
    let name_seed = fnv(target.name.as_bytes());
    let results: Mutex<Vec<Worker>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..cfg.threads {
            let share = cfg.cases / cfg.threads as u64
                + u64::from((t as u64) < cfg.cases % cfg.threads as u64);
            let (seeds, progress, results) = (&seeds, &progress, &results);
            let seed = cfg.seed ^ name_seed ^ (t as u64).wrapping_mul(0x9e37_79b9);
            s.spawn(move || {
                let w = worker(target, cfg, seeds, share, seed, progress);
                if let Ok(mut r) = results.lock() {
                    r.push(w);
                }
            });
        }
        let mut last = Instant::now();
        while progress.done.load(Ordering::Relaxed) < cfg.cases
            && !progress.stop.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(50).min(every));
            if last.elapsed() >= every {
                tick(progress.done.load(Ordering::Relaxed), t0.elapsed());
                last = Instant::now();
            }
            // All workers finished early (a stop, or a short run).
            if results.lock().map(|r| r.len()).unwrap_or(0) == cfg.threads {
                break;
            }
        }
    });
    let seconds = t0.elapsed().as_secs_f64();
    let workers = results.into_inner().unwrap_or_default();
    Report {
        target: target.name,
        cases: progress.done.load(Ordering::Relaxed),
        accepted: workers.iter().map(|w| w.accepted).sum(),
        seconds,
        failures: workers.iter().flat_map(|w| w.failures.clone()).collect(),
        slowest: workers.iter().map(|w| w.slowest).max().unwrap_or_default(),
        peak_alloc: workers.iter().map(|w| w.peak_alloc).max().unwrap_or(0),
    }
}

/// Look a target up by name.
pub fn target(name: &str) -> Option<&'static Target> {
    targets::ALL.iter().find(|t| t.name == name)
}
