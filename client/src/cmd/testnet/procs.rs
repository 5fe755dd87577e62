//! Node processes of a testnet: start, watch, stop (also when the command fails), and read
//! their status endpoints.

use anyhow::{bail, Context};
use fedledger_node::daemon::Status;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running nodes; stops every one of them when dropped.
#[derive(Debug, Default)]
pub struct Fleet {
    children: Vec<(String, Child)>,
    /// Processes whose exit does not stop the testnet (Python trainers: a member whose trainer
    /// is gone just stops contributing, as a late member would).
    helpers: Vec<(String, Child)>,
}

/// The `fedledger-node` binary next to this executable, or on PATH.
pub fn node_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name("fedledger-node");
    if sibling.exists() {
        return Ok(sibling);
    }
    Ok(PathBuf::from("fedledger-node"))
}

/// The `fedledger-adversary` binary beside the node binary `node_bin`, or on PATH.
pub fn adversary_binary(node_bin: &Path) -> PathBuf {
    let sibling = node_bin.with_file_name("fedledger-adversary");
    if sibling.exists() {
        sibling
    } else {
        PathBuf::from("fedledger-adversary")
    }
}

impl Fleet {
    /// Start `fedledger-node run --config CONFIG`, logging (JSON lines) to `log`.
    pub fn start(
        &mut self,
        bin: &Path,
        name: &str,
        config: &Path,
        log: &Path,
    ) -> anyhow::Result<()> {
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .arg("--log-format")
            .arg("json");
        self.spawn(bin, name, cmd, log)
    }

    /// Start `fedledger-adversary --config CONFIG --behave LIST`: a member that lies.
    pub fn start_adversary(
        &mut self,
        bin: &Path,
        name: &str,
        config: &Path,
        behave: &str,
        log: &Path,
    ) -> anyhow::Result<()> {
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(config)
            .arg("--behave")
            .arg(behave)
            .arg("--json");
        self.spawn(bin, name, cmd, log)
    }

    fn spawn(
        &mut self,
        bin: &Path,
        name: &str,
        mut cmd: Command,
        log: &Path,
    ) -> anyhow::Result<()> {
        let file = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it with `cargo build --release`)",
                    bin.display()
                )
            })?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Start an arbitrary command as a fleet member (e.g. `fedledger join ...`).
    pub fn start_command(
        &mut self,
        name: &str,
        mut cmd: Command,
        log: &Path,
    ) -> anyhow::Result<()> {
        let file = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Start a helper process (see [`Fleet::helpers`]), its output to `log`.
    pub fn start_helper(&mut self, name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<()> {
        let file = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.helpers.push((name.to_string(), child));
        Ok(())
    }

    /// Fail if any node exited on its own.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, c) in &mut self.children {
            if let Some(status) = c.try_wait()? {
                bail!("{name} exited unexpectedly ({status}); see its log");
            }
        }
        Ok(())
    }

    /// Graceful stop: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        for (_, c) in &mut self.helpers {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.helpers.clear();
        for (_, c) in &self.children {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .stderr(Stdio::null())
                .status();
        }
        for (_, c) in &mut self.children {
            for _ in 0..50 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /status` of a node (None if unreachable or unparseable).
pub fn status(addr: &str) -> Option<Status> {
    let body = http_get(addr, "/status").ok()?;
    serde_json::from_str(&body).ok()
}

/// A minimal HTTP/1.1 GET returning the body of a 200 response.
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<String> {
    let sock: std::net::SocketAddr = addr.parse().context("status address")?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.take(16 << 20).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("{addr}{path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_string())
}
