//! Bad local input against the real binaries: every case exits non-zero at start with a message
//! naming the file and the key, line, field or column, and no message ever shows a secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_node::learn::data::synth;
use fedledger_tests::{bins, cli, Testnet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run `fedledger-node run --config CONFIG`; every case here must fail at start, so a node
/// still running after 20 s is killed and fails the test.
fn run_node(config: &Path) -> (i32, String) {
    let mut child = Command::new(&bins().1)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fedledger-node");
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not stop at start", config.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A 4-node testnet laid out (nothing started), the first node's config text and its key file
/// as the config names it (`keys/org-0.key`).
fn layout() -> (Testnet, PathBuf, String, String) {
    let net = Testnet::setup(&["--nodes", "4"]);
    let dir = net.nodes[0].config.parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(&net.nodes[0].config).unwrap();
    let key = format!("keys/{}.key", net.nodes[0].name);
    assert!(text.contains(&key), "{text}");
    (net, dir, text, key)
}

/// Write `text` as `DIR/NAME` (beside the testnet's configs, so relative paths resolve) and
/// check the node refuses it: non-zero exit, every `needles` in stderr.
fn refused(dir: &Path, name: &str, text: &str, needles: &[&str]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    let (code, stderr) = run_node(&p);
    assert_ne!(code, 0, "{name} was accepted:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{name}: {n:?} missing from:\n{stderr}");
    }
    stderr
}

fn private(p: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[test]
fn bad_config_values_are_refused_naming_the_key_and_file() {
    let (_net, dir, text, key) = layout();
    assert!(text.contains("redial_ms = 1000"), "{text}");
    let cases: [(&str, String, &[&str]); 9] = [
        (
            "redial0.toml",
            text.replace("redial_ms = 1000", "redial_ms = 0"),
            &[
                "redial0.toml",
                "network.redial_ms",
                "100..=600000",
                "found 0",
            ],
        ),
        (
            "heartbeat0.toml",
            text.replace("heartbeat_ms = 500", "heartbeat_ms = 0"),
            &["network.heartbeat_ms", "10..=60000"],
        ),
        (
            "fetch0.toml",
            text.replace("fetch_timeout_ms = 10000", "fetch_timeout_ms = 0"),
            &["network.fetch_timeout_ms", "100..=3600000"],
        ),
        (
            "unknown.toml",
            text.replace("redial_ms = 1000", "redial_every_ms = 1000"),
            &["unknown.toml", "unknown field `redial_every_ms`", "line "],
        ),
        (
            "negative.toml",
            text.replace("redial_ms = 1000", "redial_ms = -5"),
            &["network.redial_ms", "line "],
        ),
        (
            "lr.toml",
            text.replace("[training]\n", "[training]\nlr = 1e9\n"),
            &["training.lr", "(0, 10]"],
        ),
        (
            "status.toml",
            text.replace("listen = \"127.0.0.1:", "listen = \"localhost-"),
            &["status.listen", "IP:port"],
        ),
        (
            "rows.toml",
            text.replace("synthetic_rows = ", "synthetic_rows = 1 #"),
            &["data.synthetic_rows", "10..=10000000"],
        ),
        (
            "syntax.toml",
            text.replace("heartbeat_ms = 500", "heartbeat_ms = = 500"),
            &["syntax.toml", "network.heartbeat_ms", "line "],
        ),
    ];
    for (name, text, needles) in &cases {
        refused(&dir, name, text, needles);
    }
    // Missing files are named.
    let p = dir.join("nowhere.toml");
    let (code, stderr) = run_node(&p);
    assert_ne!(code, 0);
    assert!(stderr.contains("nowhere.toml"), "{stderr}");
    refused(
        &dir,
        "nokey.toml",
        &text.replace(&key, "keys/absent.key"),
        &["keys/absent.key"],
    );
    // Genesis files: an unknown key (by line and key) and a consortium that cannot work.
    let genesis = std::fs::read_to_string(dir.join("genesis.toml")).unwrap();
    for (name, body, needles) in [
        (
            "unknown-genesis.toml",
            genesis.replacen("[dp]\n", "[dp]\nsurprise = 1\n", 1),
            &[
                "unknown-genesis.toml",
                "line 18",
                "dp.surprise",
                "unknown field",
            ][..],
        ),
        (
            "bft-genesis.toml",
            genesis.replacen("\nf = 1\n", "\nf = 2\n", 1),
            &["bft-genesis.toml", "n >= 3f+1"][..],
        ),
    ] {
        assert_ne!(body, genesis);
        std::fs::write(dir.join(name), body).unwrap();
        let stderr = refused(
            &dir,
            &format!("with-{name}"),
            &text.replace(
                "genesis = \"genesis.toml\"",
                &format!("genesis = \"{name}\""),
            ),
            needles,
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    refused(
        &dir,
        "nogenesis.toml",
        &text.replace(
            "genesis = \"genesis.toml\"",
            "genesis = \"absent-genesis.toml\"",
        ),
        &["absent-genesis.toml"],
    );
}

#[test]
fn key_file_errors_name_the_file_and_never_print_the_secret() {
    let (_net, dir, text, key) = layout();
    let key_text = std::fs::read_to_string(dir.join(&key)).unwrap();
    let secret = key_text
        .lines()
        .find_map(|l| l.strip_prefix("secret_key = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    assert_eq!(secret.len(), 64);
    let secret_line = key_text
        .lines()
        .position(|l| l.starts_with("secret_key"))
        .unwrap()
        + 1;
    let cases = [
        // a syntax error right next to the secret: toml would quote the whole line
        (
            "syntax.key",
            key_text.replace(&format!("\"{secret}\""), &format!("\"{secret}\" x")),
            vec![format!("line {secret_line}"), "secret_key".to_string()],
        ),
        // an unterminated string holding the secret
        (
            "unterminated.key",
            key_text.replace(&format!("\"{secret}\""), &format!("\"{secret}")),
            vec![format!("line {secret_line}")],
        ),
        // a secret that is not 64 hex characters
        (
            "value.key",
            key_text.replace(&secret, &format!("{}zz", &secret[..62])),
            vec!["field `secret_key`".to_string()],
        ),
        // a secret of the wrong type
        (
            "type.key",
            key_text.replace(&format!("\"{secret}\""), &format!("[\"{secret}\"]")),
            vec!["secret_key".to_string()],
        ),
    ];
    for (name, body, needles) in cases {
        let file = dir.join("keys").join(name);
        std::fs::write(&file, body).unwrap();
        private(&file);
        let stderr = refused(
            &dir,
            &format!("{name}.toml"),
            &text.replace(&key, &format!("keys/{name}")),
            &[name],
        );
        for n in needles {
            assert!(stderr.contains(&n), "{name}: {n:?} missing from:\n{stderr}");
        }
        for part in [
            &secret[..16],
            &secret[16..32],
            &secret[32..48],
            &secret[48..],
        ] {
            assert!(
                !stderr.contains(part),
                "{name}: the secret leaked:\n{stderr}"
            );
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = dir.join("keys/open.key");
        std::fs::write(&file, &key_text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let stderr = refused(
            &dir,
            "open.toml",
            &text.replace(&key, "keys/open.key"),
            &["open.key", "mode 644", "chmod 600"],
        );
        assert!(!stderr.contains(&secret[..16]), "{stderr}");
    }
}

#[test]
fn bad_csv_data_stops_the_node_at_start_naming_file_line_and_column() {
    let (_net, dir, text, _) = layout();
    std::fs::write(dir.join("schema.toml"), synth::SCHEMA_TOML).unwrap();
    // The built-in schema's group column is also a categorical feature (unknown values are
    // refused as such); this one groups by a column that is not a feature.
    let grouped = synth::SCHEMA_TOML.replacen(
        "[group]\ncolumn = \"region\"",
        "[group]\ncolumn = \"customer\"",
        1,
    );
    assert_ne!(grouped, synth::SCHEMA_TOML);
    std::fs::write(dir.join("grouped.toml"), grouped).unwrap();
    let table = synth::generate(&synth::SynthConfig {
        orgs: 1,
        rows_per_org: 200,
        seed: 7,
    });
    let col = |name: &str| table.header.iter().position(|h| h == name).unwrap();
    let (balance, churn) = (col("balance"), col("churn"));
    let with_schema = |name: &str, schema: &str, t: &fedledger_node::learn::data::Table| {
        std::fs::write(dir.join(name), synth::to_csv(t)).unwrap();
        let data = format!(
            "[data]\nsource = \"csv\"\npath = \"{name}\"\nschema = \"{schema}\"\nholdout = 0.2\n"
        );
        let start = text.find("[data]").unwrap();
        let end = text.find("[training]").unwrap();
        format!("{}{data}\n{}", &text[..start], &text[end..])
    };
    let with = |name: &str, edit: &dyn Fn(&mut [Vec<String>])| {
        let mut t = table.clone();
        edit(&mut t.rows);
        with_schema(name, "schema.toml", &t)
    };
    // The untouched data starts (checked by its config validating; the node is not run).
    let ok = with("good.csv", &|_| {});
    fedledger_node::daemon::NodeConfig::parse(&ok)
        .unwrap()
        .validate()
        .unwrap();
    // Row 5 is line 6 (the header is line 1).
    let cases: [(&str, String, &[&str]); 6] = [
        (
            "overflow.csv",
            with("overflow.csv", &|r| r[4][balance] = "1e300".into()),
            &["overflow.csv:6:", "\"balance\"", "f32"],
        ),
        (
            "nan.csv",
            with("nan.csv", &|r| r[4][balance] = "NaN".into()),
            &["nan.csv:6:", "\"balance\"", "finite"],
        ),
        (
            "empty.csv",
            with("empty.csv", &|r| r[4][balance] = String::new()),
            &["empty.csv:6:", "\"balance\"", "empty cell"],
        ),
        (
            "ragged.csv",
            with("ragged.csv", &|r| r[4].push("9".into())),
            &["ragged.csv:6:", "fields"],
        ),
        (
            "label.csv",
            with("label.csv", &|r| r[4][churn] = String::new()),
            &["label.csv:6:", "\"churn\"", "empty label"],
        ),
        (
            "groups.csv",
            {
                let mut t = table.clone();
                t.header.push("customer".into());
                for (i, row) in t.rows.iter_mut().enumerate() {
                    row.push(format!("customer-{i}"));
                }
                with_schema("groups.csv", "grouped.toml", &t)
            },
            // The 65th distinct value is on row 65, line 66.
            &[
                "groups.csv:66:",
                "\"customer\"",
                "200 distinct values",
                "at most 64",
            ],
        ),
    ];
    for (name, config, needles) in &cases {
        refused(&dir, &format!("{name}.toml"), config, needles);
    }
}

#[test]
fn keygen_writes_atomically_and_a_failed_write_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("later").join("org.key");
    let o = cli(&["keygen", "--out", out.to_str().unwrap(), "--name", "Bank A"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("later/org.key"), "{stderr}");
    std::fs::create_dir(dir.path().join("later")).unwrap();
    let o = cli(&["keygen", "--out", out.to_str().unwrap(), "--name", "Bank A"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Only the key: no temp file left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("later"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["org.key"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(&out).unwrap();
    let o = cli(&["keygen", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("org.key") && stderr.contains("exists"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "an existing key was touched"
    );
}

#[test]
fn out_of_range_cli_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("net");
    let d = d.to_str().unwrap();
    for (flag, value, needle) in [
        ("--rows", "0", "--rows must be in 10..=10000000"),
        ("--view-timeout-ms", "0", "--view-timeout-ms must be in"),
        (
            "--epsilon-max",
            "-1",
            "--epsilon-max must be in (0, 1000000]",
        ),
        ("--noise-multiplier", "NaN", "--noise-multiplier must be"),
    ] {
        let arg = format!("{flag}={value}");
        let o = cli(&["testnet", "--setup-only", "--dir", d, &arg]);
        assert!(!o.status.success(), "{flag} {value} was accepted");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(needle), "{flag} {value}: {stderr}");
    }
}
