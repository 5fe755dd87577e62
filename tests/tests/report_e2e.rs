//! The audit report of a real testnet run with an attacker and a joiner: membership timeline,
//! exclusions, budgets, rendered by headless Chromium when it is installed (CI installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_tests::{cli, serial};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_report_from_a_testnet_with_an_attacker_and_a_joiner() {
    let _g = serial();
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("net");
    let d = dir.to_str().unwrap();
    let out = cli(&[
        "testnet",
        "--nodes",
        "5",
        "--rule",
        "krum",
        "--byzantine",
        "1",
        "--attack",
        "sign-flip",
        "--join",
        "--rounds",
        "8",
        "--collect-timeout-ms",
        "1500",
        "--view-timeout-ms",
        "2000",
        "--keep",
        "--dir",
        d,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["membership"].as_array().unwrap().len(), 1, "{s}");
    let report = t.path().join("report.html");
    let o = cli(&[
        "report",
        "--genesis",
        dir.join("genesis.toml").to_str().unwrap(),
        "--file",
        dir.join("org-0.fedledger").to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("VALID"));
    assert_eq!(html.matches("<svg").count(), 6, "six charts");
    assert!(
        html.contains("org-5"),
        "the joiner appears (membership timeline, heatmap)"
    );
    // Self-contained: nothing to fetch (the SVG namespace URI is an identifier, not a fetch).
    let fetches = html.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !fetches.contains("http://") && !fetches.contains("https://"),
        "network references"
    );

    let Some(bin) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "chromium is required in CI"
        );
        eprintln!("NOTICE: chromium not installed; skipping the rendering half");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let dump = t.path().join("dom.html");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", report.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dump).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium timed out");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let dom = std::fs::read_to_string(&dump).unwrap();
    assert_eq!(
        dom.matches("<svg ").count(),
        6,
        "the browser parsed all six charts"
    );
    assert!(dom.contains("org-5"));
}
