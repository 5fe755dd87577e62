//! Ledger benchmarks that print figures: block append with flush, and the audit of a 10,000-block
//! ledger with 16 members (160,000 update entries plus certificates), with its peak memory.
//!
//! `cargo bench -p fedledger-ledger --bench ledger` (add `-- --quick` for fewer runs). The signed
//! fixture is built once and cached under target/bench-fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::export::{audit_export, ExportWriter};
use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::testutil::TestChain;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const MEMBERS: usize = 16;
const F: u32 = 5;

fn fixture(blocks: usize) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("ledger-{blocks}x{MEMBERS}.fedledger"));
    let genesis = dir.join(format!("genesis-{MEMBERS}.toml"));
    let c = TestChain::new(MEMBERS, F, "trimmed-mean");
    std::fs::write(&genesis, c.genesis.to_toml()).unwrap();
    if file.exists() {
        return (file, genesis);
    }
    eprintln!("building a {blocks}-block fixture with {MEMBERS} members (once)...");
    let mut c = c;
    let tmp = file.with_extension("partial");
    let mut w = ExportWriter::new(
        std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap()),
        &c.chain_id(),
    )
    .unwrap();
    for _ in 0..blocks {
        let b = c.next_block();
        w.write_block(&b).unwrap();
    }
    w.finish().unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    (file, genesis)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

fn audit_file(file: &Path, genesis: &Path) -> (f64, u64) {
    let g = fedledger_ledger::Genesis::load(genesis).unwrap();
    let t = Instant::now();
    let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file).unwrap());
    let out = audit_export(&g, f, |_, _| {}).unwrap();
    assert!(out.violation.is_none(), "{:?}", out.violation);
    (t.elapsed().as_secs_f64(), out.report.height)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Child mode: audit one file and report seconds and peak memory.
    if let Some(i) = args.iter().position(|a| a == "--audit-child") {
        let (secs, height) = audit_file(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
        println!("{secs} {height} {}", peak_rss_kib());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 5 };

    // Append with flush.
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("ledger")).unwrap();
    let mut c = TestChain::new(MEMBERS, F, "trimmed-mean");
    let blocks: Vec<_> = (0..200).map(|_| c.next_block()).collect();
    let mut lat = Vec::new();
    for b in &blocks {
        let t = Instant::now();
        store.append(b).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let size = blocks[0].encode().len();
    lat.sort_by(f64::total_cmp);
    println!(
        "append+flush ({MEMBERS}-member blocks, {size} bytes): median {:.3} ms, p95 {:.3} ms over {} blocks",
        lat[lat.len() / 2],
        lat[lat.len() * 95 / 100],
        lat.len()
    );

    // Audit: 1,000 and 10,000 blocks, each in a fresh child process for honest peak memory.
    let exe = std::env::current_exe().unwrap();
    for n in [1_000usize, 10_000] {
        let (file, genesis) = fixture(n);
        let mut secs = Vec::new();
        let mut rss = 0;
        for _ in 0..runs {
            let out = Command::new(&exe)
                .args([
                    "--audit-child",
                    file.to_str().unwrap(),
                    genesis.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            let line = String::from_utf8_lossy(&out.stdout);
            let mut it = line.split_whitespace();
            secs.push(it.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN));
            let _h: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            rss = rss.max(it.next().and_then(|s| s.parse().ok()).unwrap_or(0u64));
        }
        let mb = std::fs::metadata(&file)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0);
        println!(
            "audit {n} blocks x {MEMBERS} members ({} update entries, {mb:.1} MB export): median {:.3} s over {runs} runs (min {:.3}, max {:.3}); peak RSS {:.1} MiB",
            n * MEMBERS,
            median(secs.clone()),
            secs.iter().cloned().fold(f64::INFINITY, f64::min),
            secs.iter().cloned().fold(0.0, f64::max),
            rss as f64 / 1024.0
        );
    }
}
