//! End-to-end test harness: a testnet laid out by `fedledger testnet --setup-only`, whose node
//! processes the test starts, kills (SIGKILL), restarts and stops itself, plus CLI helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fuzz;
pub mod netns;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `target/debug` (or wherever this test binary's profile dir is).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // target/debug/deps/e2e-xxxx -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .to_path_buf()
}

/// Paths of the `fedledger` and `fedledger-node` binaries, building them if a partial build
/// (e.g. `cargo test -p fedledger-tests`) left them out.
pub fn bins() -> &'static (PathBuf, PathBuf) {
    static BINS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINS.get_or_init(|| {
        let dir = profile_dir();
        let (cli, node) = (dir.join("fedledger"), dir.join("fedledger-node"));
        if !cli.exists() || !node.exists() {
            let release = dir.ends_with("release");
            let mut c = Command::new(env!("CARGO"));
            c.args(["build", "-p", "fedledger-client", "-p", "fedledger-node"]);
            if release {
                c.arg("--release");
            }
            assert!(
                c.status().expect("cargo").success(),
                "building the binaries"
            );
        }
        (cli, node)
    })
}

/// Path of the `fedledger-adversary` binary (beside the others), building it if missing.
pub fn adversary_bin() -> PathBuf {
    let node = &bins().1;
    let adv = node.with_file_name("fedledger-adversary");
    if !adv.exists() {
        let mut c = Command::new(env!("CARGO"));
        c.args([
            "build",
            "-p",
            "fedledger-node",
            "--bin",
            "fedledger-adversary",
        ]);
        if node.parent().is_some_and(|d| d.ends_with("release")) {
            c.arg("--release");
        }
        assert!(
            c.status().expect("cargo").success(),
            "building the adversary"
        );
    }
    adv
}

/// Run `fedledger ARGS`.
pub fn cli(args: &[&str]) -> Output {
    Command::new(&bins().0)
        .args(args)
        .output()
        .expect("run fedledger")
}

/// One node of the testnet.
#[derive(Debug)]
pub struct TestNode {
    /// `org-i`.
    pub name: String,
    /// Org id hex.
    pub org: String,
    /// Config file.
    pub config: PathBuf,
    /// Data dir.
    pub dir: PathBuf,
    /// Status `127.0.0.1:port`.
    pub status: String,
    /// libp2p address.
    pub addr: String,
    /// The running process.
    pub child: Option<Child>,
    /// Starts so far (names the log files).
    pub starts: u32,
    /// The network namespace the node runs in (`ip netns exec`), and where its status listener
    /// is reached; `None` for the machine's own (loopback testnets).
    pub netns: Option<String>,
    /// Extra environment for the node process (`FEDLEDGER_*` overrides of its config).
    pub env: Vec<(String, String)>,
}

/// A laid-out testnet.
#[derive(Debug)]
pub struct Testnet {
    /// Root directory (a tempdir).
    pub root: tempfile::TempDir,
    /// Genesis file.
    pub genesis: PathBuf,
    /// Nodes.
    pub nodes: Vec<TestNode>,
}

impl Testnet {
    /// `fedledger testnet --setup-only --dir ROOT ARGS`.
    pub fn setup(args: &[&str]) -> Testnet {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("net");
        let mut all = vec!["testnet", "--setup-only", "--dir", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = cli(&all);
        assert!(
            out.status.success(),
            "setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let nodes = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| TestNode {
                name: n["name"].as_str().unwrap().into(),
                org: n["org"].as_str().unwrap().into(),
                config: n["config"].as_str().unwrap().into(),
                dir: n["dir"].as_str().unwrap().into(),
                status: n["status"].as_str().unwrap().into(),
                addr: n["addr"].as_str().unwrap().into(),
                child: None,
                starts: 0,
                netns: None,
                env: Vec::new(),
            })
            .collect();
        Testnet {
            genesis: v["genesis"].as_str().unwrap().into(),
            root,
            nodes,
        }
    }

    /// Start node `i` (logs to `<name>.<start>.log` in the testnet dir).
    pub fn start(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "{} already running", n.name);
        n.starts += 1;
        let log = n
            .config
            .with_file_name(format!("{}.{}.log", n.name, n.starts));
        // In a namespace, `ip netns exec` switches and then execs the node, so the child's pid is
        // the node's own and kill/SIGTERM reach it directly.
        let mut cmd = match &n.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&bins().1);
                c
            }
            None => Command::new(&bins().1),
        };
        let child = cmd
            .envs(n.env.iter().map(|(k, v)| (k, v)))
            .args([
                "run",
                "--config",
                n.config.to_str().unwrap(),
                "--log",
                "info,fedledger::node=debug",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start node");
        n.child = Some(child);
    }

    /// Start every node.
    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// SIGKILL node `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM node `i` and wait for it (SIGKILL after 10 s).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop every node.
    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i);
        }
    }

    /// Whether node `i`'s process is still running (fails the test with its log if it died).
    pub fn assert_running(&mut self, i: usize) {
        let exited = match self.nodes[i].child.as_mut() {
            Some(c) => c.try_wait().ok().flatten(),
            None => None,
        };
        if let Some(st) = exited {
            panic!(
                "{} exited ({st}):\n{}",
                self.nodes[i].name,
                self.log_tail(i)
            );
        }
    }

    /// The end of node `i`'s latest log.
    pub fn log_tail(&self, i: usize) -> String {
        let n = &self.nodes[i];
        let log = n
            .config
            .with_file_name(format!("{}.{}.log", n.name, n.starts));
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `GET /status` of node `i`.
    pub fn status(&self, i: usize) -> Option<Value> {
        let n = &self.nodes[i];
        let body = match &n.netns {
            Some(ns) => netns::http_get_in(ns, &n.status, "/status"),
            None => http_get(&n.status, "/status"),
        };
        body.and_then(|b| serde_json::from_str(&b).ok())
    }

    /// Committed height of node `i` (0 if unreachable).
    pub fn height(&self, i: usize) -> u64 {
        self.status(i)
            .and_then(|s| s["height"].as_u64())
            .unwrap_or(0)
    }

    /// Wait until every node in `which` has committed `height`, checking the processes live.
    pub fn wait_height(&mut self, which: &[usize], height: u64, timeout: Duration) {
        let t = Instant::now();
        loop {
            for &i in which {
                self.assert_running(i);
            }
            let hs: Vec<u64> = which.iter().map(|&i| self.height(i)).collect();
            if hs.iter().all(|h| *h >= height) {
                return;
            }
            if t.elapsed() > timeout {
                let logs: Vec<String> = which
                    .iter()
                    .map(|&i| format!("--- {}\n{}", self.nodes[i].name, self.log_tail(i)))
                    .collect();
                panic!(
                    "nodes {which:?} at heights {hs:?}, wanted {height} within {timeout:?}\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `fedledger audit --json --rounds` of node `i`'s data dir (node stopped).
    pub fn audit(&self, i: usize) -> Value {
        let out = cli(&[
            "audit",
            "--genesis",
            self.genesis.to_str().unwrap(),
            "--data-dir",
            self.nodes[i].dir.to_str().unwrap(),
            "--json",
            "--rounds",
        ]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "audit output: {e}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Stop everything, audit every node, assert all valid and identical at `height` or more;
    /// returns the audits.
    pub fn finish_and_compare(&mut self, min_height: u64) -> Vec<Value> {
        self.stop_all();
        let audits: Vec<Value> = (0..self.nodes.len()).map(|i| self.audit(i)).collect();
        for (i, a) in audits.iter().enumerate() {
            assert_eq!(a["valid"], true, "{}: {a}", self.nodes[i].name);
            assert!(
                a["report"]["height"].as_u64().unwrap() >= min_height,
                "{}: {a}",
                self.nodes[i].name
            );
        }
        let tips: Vec<(&Value, &Value)> = audits
            .iter()
            .map(|a| (&a["report"]["height"], &a["report"]["tip"]))
            .collect();
        // Nodes may stop a block apart; compare the common prefix through block hashes.
        let common = audits
            .iter()
            .map(|a| a["report"]["height"].as_u64().unwrap())
            .min()
            .unwrap();
        let hash_at = |a: &Value, h: u64| -> Value {
            a["rounds"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["height"] == h)
                .map(|r| r["block_hash"].clone())
                .unwrap()
        };
        for a in &audits[1..] {
            assert_eq!(
                hash_at(a, common),
                hash_at(&audits[0], common),
                "ledgers differ at {common}: {tips:?}"
            );
        }
        audits
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Minimal HTTP GET (the body of a 200 response).
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let sock: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Minimal HTTP/1.1 request with a bearer token and an optional JSON body: (status, body).
pub fn http_call(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let headers = [("Content-Type", "application/json")];
    let (status, _, body) = http_raw(
        addr,
        method,
        path,
        token,
        &headers,
        body.unwrap_or("").as_bytes(),
    )?;
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// One HTTP/1.1 request with a bearer token, extra headers and a byte body: (status, response
/// head, response body).
pub fn http_raw(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String, Vec<u8>)> {
    let sock: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head, buf[split + 4..].to_vec()))
}

/// A free loopback port (bound and released; good enough for tests run one at a time).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Switch node `i` of a laid-out testnet to an external trainer on a free port; returns the
/// trainer API address.
pub fn make_external(net: &Testnet, i: usize) -> String {
    // A released port can come straight back from the kernel: never reuse one the testnet's
    // nodes will bind (their libp2p and status ports).
    let taken: Vec<String> = net
        .nodes
        .iter()
        .flat_map(|n| [n.addr.clone(), n.status.clone()])
        .collect();
    let port = loop {
        let p = free_port();
        let tcp = format!("/tcp/{p}/");
        let colon = format!(":{p}");
        if !taken
            .iter()
            .any(|t| t.contains(&tcp) || t.ends_with(&colon))
        {
            break p;
        }
    };
    let cfg = &net.nodes[i].config;
    let text = std::fs::read_to_string(cfg).expect("node config");
    let external = text.replace(
        "[training]\n",
        &format!("[training]\nmode = \"external\"\ntrainer_listen = \"127.0.0.1:{port}\"\n"),
    );
    assert_ne!(
        text, external,
        "the testnet config has a [training] section"
    );
    std::fs::write(cfg, external).expect("write node config");
    format!("127.0.0.1:{port}")
}

/// Wait until node `i` has written its trainer token; returns the token file.
pub fn wait_trainer_token(net: &Testnet, i: usize) -> PathBuf {
    let token = net.nodes[i].dir.join("trainer.token");
    let t = std::time::Instant::now();
    while !token.exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "no trainer token");
        std::thread::sleep(Duration::from_millis(50));
    }
    token
}

/// Assert that `org`'s recorded epsilon in an audit is the accountant's for `updates` spends of
/// `dp` (what the member reported), and return its audit entry.
pub fn assert_spent_as_reported(
    audit: &Value,
    org: &str,
    dp: fedledger_ledger::block::DpSpend,
) -> Value {
    let member = audit["report"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"].as_str() == Some(org))
        .unwrap_or_else(|| panic!("member {org} in {}", audit["report"]["members"]))
        .clone();
    let updates = member["updates"].as_u64().expect("updates");
    let expected = fedledger_ledger::privacy::epsilon(&vec![dp; updates as usize], 1e-5)
        .expect("epsilon")
        .epsilon;
    let spent = member["epsilon_spent"].as_f64().expect("epsilon_spent");
    assert!(
        (spent - expected).abs() <= 1e-9 * expected,
        "{spent} vs {expected}: {member}"
    );
    member
}

/// Run end-to-end tests one at a time: each starts several node processes, and the machine has
/// few cores.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
