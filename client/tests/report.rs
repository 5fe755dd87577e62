//! `fedledger report` end to end: a ledger with exclusions, a join, a leave, a view change and
//! hostile member names becomes a self-contained HTML report (and PNGs); a tampered export still
//! yields a report that says where it failed; headless Chromium renders the charts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::{DpSpend, Entry, RoundMetrics};
use fedledger_ledger::store::{LedgerStore, SledStore, LEDGER_SUBDIR};
use fedledger_ledger::testutil::{test_genesis, test_key, RoundPlan, TestChain};
use fedledger_ledger::{Block, OrgKey};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{fedledger, text};

const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_NAME: &str = "<img src=x onerror=alert(2)>\"'&";
const ROUNDS: u64 = 14;
const CHARTS: [&str; 6] = [
    "accuracy",
    "loss",
    "epsilon",
    "contributions",
    "fairness",
    "membership",
];

/// `c.build(plan)` with the round summary's metrics replaced, resealed and re-signed, so the
/// charts have something to show.
fn build_with_metrics(c: &TestChain, plan: &RoundPlan, m: RoundMetrics) -> Block {
    let b = c.build(plan);
    let entries = b
        .entries
        .iter()
        .cloned()
        .map(|e| match e {
            Entry::Summary(mut s) => {
                s.metrics = m.clone();
                Entry::Summary(s)
            }
            e => e,
        })
        .collect();
    c.reseal(&b, entries)
}

fn metrics(round: u64) -> RoundMetrics {
    let t = round as f64;
    RoundMetrics {
        examples: 1000,
        loss: 0.69 - 0.3 * (1.0 - (-t / 4.0).exp()),
        accuracy: 0.55 + 0.3 * (1.0 - (-t / 4.0).exp()),
        auc: 0.6 + 0.32 * (1.0 - (-t / 3.0).exp()),
        demographic_parity_gap: 0.12 / (1.0 + t / 3.0),
        equal_opportunity_gap: 0.2 / (1.0 + t / 5.0),
        groups: vec![],
    }
}

/// A data dir with a `ROUNDS`-block ledger and its genesis. Founder 0 is named
/// [`SCRIPT_NAME`]; a joiner named [`IMG_NAME`] is recorded at height 4; founder 3 leaves at
/// height 9; one update is excluded at heights 3 and 6; founder 2 sits out height 5; height 8 is
/// finalized in view 1.
fn ledger_dir(dir: &Path) -> (PathBuf, PathBuf) {
    let mut genesis = test_genesis(4, 1, "median", 8.0);
    let script_id = test_key(0).id();
    for m in &mut genesis.members {
        if m.id == script_id {
            m.name = SCRIPT_NAME.into();
        }
    }
    let mut c = TestChain::with_genesis((0..4).map(test_key).collect(), genesis);
    let spend = DpSpend {
        sampling_rate: 0.02,
        noise_multiplier: 1.0,
        steps: 60,
    };
    let data = dir.join("node");
    let store = SledStore::open(&data.join(LEDGER_SUBDIR)).unwrap();
    for h in 1..=ROUNDS {
        let mut plan = RoundPlan {
            spend: Some(spend),
            ..Default::default()
        };
        match h {
            3 | 6 => plan.excluded = vec![test_key(1).id()],
            4 => {
                let joiner = OrgKey::from_secret(test_key(50).secret_bytes(), IMG_NAME);
                plan.membership = vec![c.join(joiner, 5.0)];
            }
            5 => {
                let v: Vec<_> = c
                    .state
                    .validators()
                    .iter()
                    .copied()
                    .filter(|o| *o != test_key(2).id())
                    .collect();
                plan.contributors = Some(v);
            }
            8 => plan.view = 1,
            9 => plan.membership = vec![c.leave(&test_key(3).id())],
            _ => {}
        }
        let b = build_with_metrics(&c, &plan, metrics(h));
        store.append(&c.push(b)).unwrap();
    }
    drop(store);
    let genesis = dir.join("genesis.toml");
    std::fs::write(&genesis, c.genesis.to_toml()).unwrap();
    (data, genesis)
}

fn export(data: &Path, out: &Path) {
    let o = fedledger(&[
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Elements a report may contain: text, tables and drawing, nothing active or fetching.
const ALLOWED_TAGS: &[&str] = &[
    "!doctype", "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "div", "p",
    "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "code", "span", "footer",
    "section", "svg", "rect", "line", "polyline", "circle", "text",
];

/// The HTML must carry no active content and reference nothing outside itself: every `<` opens
/// an allowed element, no tag has an event handler, `src` or `href`, and the only URL is the SVG
/// namespace.
fn assert_self_contained_and_inert(html: &str) {
    let lower = html.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let mut tags = 0;
    while let Some(i) = rest.find('<') {
        let tag_end = rest[i..].find('>').expect("every tag closes") + i;
        let tag = &rest[i + 1..tag_end];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap();
        assert!(ALLOWED_TAGS.contains(&name), "unexpected element <{name}>");
        let attrs = &tag[name.len().min(tag.len())..];
        for bad in [
            " src=",
            " href=",
            " xlink:href=",
            " style=\"",
            "javascript:",
        ] {
            assert!(!attrs.contains(bad), "{bad} in <{tag}>");
        }
        assert!(
            !attrs.split_whitespace().any(|a| a.starts_with("on")),
            "event handler in <{tag}>"
        );
        tags += 1;
        rest = &rest[tag_end + 1..];
    }
    assert!(tags > 100);
    assert!(!lower.contains("url("), "no CSS fetches");
    assert!(!lower.contains("@import"));
    let external = lower
        .match_indices("http")
        .filter(|(i, _)| !lower[*i..].starts_with("http://www.w3.org/2000/svg\""))
        .filter(|(i, _)| !lower[*i..].starts_with("http-equiv"))
        .count();
    assert_eq!(external, 0, "the only URL is the SVG namespace");
}

#[test]
fn report_of_a_valid_ledger_has_verdict_charts_table_and_escaped_names() {
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis) = ledger_dir(dir.path());
    let out = dir.path().join("report.html");
    let png = dir.path().join("png");
    let o = fedledger(&[
        "report",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("VALID: 14 rounds"), "{}", text(&o));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains(r#"<div class="verdict valid" id="verdict"><div class="big">VALID</div>"#)
    );
    assert!(!html.contains("INVALID"));
    // Every chart, as inline SVG, in its section.
    assert_eq!(html.matches("<svg xmlns=").count(), CHARTS.len());
    for c in CHARTS {
        let start = html
            .find(&format!(r#"id="chart-{c}""#))
            .unwrap_or_else(|| panic!("{c}"));
        let rest = &html[start..];
        let svg = rest.find("<svg").unwrap();
        assert!(svg < rest.find("</section>").unwrap(), "{c} has its SVG");
    }
    // The charts are drawn from the data: an exclusion cell, the absent round, the caps, the
    // membership events at their heights, both metrics.
    assert!(html.contains("round 3: excluded</title>"));
    assert!(html.contains("round 5: absent (no update)</title>"));
    assert!(html.contains("cap = 8.00 (4 members)"));
    assert!(
        html.contains(">cap of &lt;img src=x"),
        "the joiner's own cap line"
    );
    // Recorded at 4 on top of height 3: effective at 3 + 1 + membership_delay (2).
    assert!(html.contains("join of &lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp; (0cd2a6a4) effective at height 6</title>"));
    assert!(html.contains("leave of org-3"));
    assert!(html.contains("recorded at height 9</title>"));
    assert!(html.contains("equal opportunity gap") && html.contains("demographic parity gap"));
    assert!(html.contains("AUC") && html.contains(">loss<"));
    // The round table: one row per block with its full hash, view and signers.
    let store = SledStore::open_existing(&data.join(LEDGER_SUBDIR)).unwrap();
    let table = &html[html.find(r#"<table id="rounds">"#).unwrap()..];
    assert_eq!(table.matches("<tr>").count(), 1 + ROUNDS as usize);
    for h in 1..=ROUNDS {
        let b = store.block(h).unwrap().unwrap();
        assert!(table.contains(&b.hash().to_hex()), "block {h} hash");
    }
    drop(store);
    assert!(
        table.contains(r#"<td class="num">8</td><td class="num">1</td>"#),
        "view 1 at 8"
    );
    assert!(table.contains("org-2</span>"), "signers by name");
    // Hostile names appear only escaped, in charts and tables alike.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;"));
    assert_self_contained_and_inert(&html);
    // PNGs, one per chart.
    for c in CHARTS {
        let bytes = std::fs::read(png.join(format!("{c}.png"))).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{c}");
        assert!(bytes.len() > 5_000, "{c} has content");
    }
}

#[test]
fn report_of_a_tampered_ledger_is_invalid_with_the_height_and_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis) = ledger_dir(dir.path());
    let clean = dir.path().join("ledger.fedledger");
    export(&data, &clean);
    let mut bytes = std::fs::read(&clean).unwrap();
    let pos = bytes.len() * 2 / 3;
    bytes[pos] ^= 0x40;
    let bad = dir.path().join("tampered.fedledger");
    std::fs::write(&bad, &bytes).unwrap();
    // The audit's verdict is the reference.
    let a = fedledger(&[
        "audit",
        "--genesis",
        genesis.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let height = v["violation"]["height"].as_u64().unwrap();
    let rule = v["violation"]["rule"].as_str().unwrap().to_string();
    assert!(height > 1, "the flip lands after the first block");

    let out = dir.path().join("report.html");
    let o = fedledger(&[
        "report",
        "--genesis",
        genesis.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("INVALID at height {height}")),
        "{}",
        text(&o)
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains(&format!(
        r#"<div class="verdict invalid" id="verdict"><div class="big">INVALID at height {height}</div><dl><dt>rule</dt><dd>{rule}</dd><dt>expected</dt>"#
    )));
    assert!(html.contains(&format!("The {} blocks before it verified", height - 1)));
    assert_eq!(html.matches("<svg xmlns=").count(), CHARTS.len());
    let table = &html[html.find(r#"<table id="rounds">"#).unwrap()..];
    assert_eq!(
        table.matches("<tr>").count(),
        height as usize,
        "header + the verified prefix"
    );
    assert_self_contained_and_inert(&html);

    // An export of another chain fails at height 0 and still gets a (chart-less data) report.
    let other = dir.path().join("other.toml");
    let g = fedledger_ledger::testutil::test_genesis(4, 1, "mean", 8.0);
    std::fs::write(&other, g.to_toml()).unwrap();
    let o = fedledger(&[
        "report",
        "--genesis",
        other.to_str().unwrap(),
        "--file",
        clean.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("INVALID at height 0"));
    assert!(html.contains("<dd>chain-id</dd>"));
    assert!(html.contains("no verified rounds"));
    // Unreadable input: exit 2 and no report claiming anything.
    std::fs::write(&bad, b"hello").unwrap();
    let out2 = dir.path().join("none.html");
    let o = fedledger(&[
        "report",
        "--genesis",
        genesis.to_str().unwrap(),
        "--file",
        dir.path().join("missing").to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!out2.exists());
}

/// Run `cmd` with a deadline; Chromium can hang on a broken machine and must not hang the suite.
/// Output goes to files, not pipes: a DOM dump is larger than a pipe buffer and would block the
/// child while we wait for it to exit.
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium timed out after {limit:?}: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn chromium_cmd(bin: &Path, profile: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn chromium_renders_the_report_with_all_charts() {
    let Some(bin) = chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is required in CI (.ci/run installs Debian's chromium package)");
        }
        eprintln!("NOTICE: chromium not installed; skipping the headless rendering test (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis) = ledger_dir(dir.path());
    let out = dir.path().join("report.html");
    let o = fedledger(&[
        "report",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let url = format!("file://{}", out.display());
    let profile = tempfile::tempdir().unwrap();
    let dom = run_with_timeout(
        chromium_cmd(&bin, profile.path())
            .arg("--dump-dom")
            .arg(&url),
        Duration::from_secs(120),
    );
    assert!(dom.status.success(), "{}", text(&dom));
    let dom = String::from_utf8_lossy(&dom.stdout);
    // Parsed by the browser: every chart is an SVG element in the DOM, with its drawn content.
    assert_eq!(dom.matches("<svg ").count(), CHARTS.len(), "{dom}");
    for c in CHARTS {
        assert!(dom.contains(&format!(r#"id="chart-{c}""#)), "{c}");
    }
    assert!(
        dom.matches("<polyline").count() >= 7,
        "metric and epsilon lines"
    );
    assert!(
        dom.matches("<rect").count() > 5 * ROUNDS as usize,
        "heatmap cells"
    );
    assert!(dom.contains(r#"<div class="big">VALID</div>"#));
    // The hostile name stayed text: the browser created no script or img element from it.
    assert!(!dom.contains("<script"), "no script element in the DOM");
    assert!(!dom.contains("<img"), "no img element in the DOM");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    let shot = dir.path().join("shot.png");
    let o = run_with_timeout(
        chromium_cmd(&bin, profile.path())
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1000,4000")
            .arg(&url),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", text(&o));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "a rendered page, not a blank one");
    if let Ok(keep) = std::env::var("FEDLEDGER_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
fn a_model_predicting_one_class_for_everybody_is_called_out_not_shown_as_fair() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestChain::new(4, 1, "median");
    let data = dir.path().join("node");
    let store = SledStore::open(&data.join(LEDGER_SUBDIR)).unwrap();
    let group = |name: &str, positive_rate: f64| fedledger_ledger::block::GroupFairness {
        group: name.into(),
        count: 500,
        positive_rate,
        true_positive_rate: positive_rate,
    };
    for round in 1..=4u64 {
        // Rounds 3 and 4: nobody predicted positive in either group, so both gaps are 0.
        let rate = if round <= 2 { 0.2 } else { 0.0 };
        let m = RoundMetrics {
            demographic_parity_gap: if round <= 2 { 0.1 } else { 0.0 },
            equal_opportunity_gap: if round <= 2 { 0.1 } else { 0.0 },
            groups: vec![group("urban", rate), group("rural", rate / 2.0)],
            ..metrics(round)
        };
        let b = build_with_metrics(&c, &RoundPlan::default(), m);
        store.append(&c.push(b)).unwrap();
    }
    store.flush().unwrap();
    drop(store);
    let genesis = dir.path().join("genesis.toml");
    std::fs::write(&genesis, c.genesis.to_toml()).unwrap();
    let out = dir.path().join("report.html");
    let o = fedledger(&[
        "report",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains(r#"id="single-class""#), "note missing");
    assert!(
        html.contains("In 2 of 4 rounds (heights 3 to 4)") && html.contains("the negative class"),
        "{}",
        &html[html.find("single-class").unwrap()..][..600]
    );
    let o = fedledger(&[
        "audit",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        text(&o).contains("predicts the negative class for everybody"),
        "{}",
        text(&o)
    );
}
