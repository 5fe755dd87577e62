//! The listener over real loopback sockets: admin checks end to end (nothing queued when
//! refused), open reads, accept-error backoff, and a flood of idle connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::listener::{accept_loop, Acceptor, Backoff};
use super::*;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface";

async fn start(limits: Limits) -> (Shared, SocketAddr) {
    let shared = Shared::default();
    let registry = Arc::new(metrics::node_registry(&shared));
    let admin = AdminSettings {
        token: AdminToken::from_secret(SECRET),
        allow_remote: false,
    };
    let addr = serve_with_limits(
        "127.0.0.1:0".parse().unwrap(),
        shared.clone(),
        registry,
        admin,
        limits,
    )
    .await
    .unwrap();
    (shared, addr)
}

/// Send `head` (request line and headers, without the blank line); the status code and body.
async fn request(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("{head}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn org() -> fedledger_ledger::OrgId {
    fedledger_ledger::OrgKey::generate("x").id()
}

#[tokio::test]
async fn refused_admin_requests_queue_nothing() {
    let (shared, addr) = start(Limits::default()).await;
    let org = org().to_hex();
    let host = format!("Host: {addr}");
    let auth = format!("Authorization: Bearer {SECRET}");
    let cases: Vec<(String, u16)> = vec![
        // no token
        (format!("POST /admit?org={org} HTTP/1.1\r\n{host}"), 401),
        (format!("POST /leave HTTP/1.1\r\n{host}"), 401),
        // wrong token
        (
            format!(
                "POST /admit?org={org} HTTP/1.1\r\n{host}\r\nAuthorization: Bearer {}",
                "0".repeat(64)
            ),
            403,
        ),
        // a web page elsewhere, with the right token even
        (
            format!(
                "POST /admit?org={org} HTTP/1.1\r\n{host}\r\n{auth}\r\nOrigin: http://evil.example"
            ),
            403,
        ),
        (
            format!("POST /leave HTTP/1.1\r\n{host}\r\n{auth}\r\nOrigin: null"),
            403,
        ),
        // DNS rebinding: our address under someone else's name
        (
            format!(
                "POST /admit?org={org} HTTP/1.1\r\nHost: evil.example:{}\r\n{auth}",
                addr.port()
            ),
            403,
        ),
        (
            format!("POST /leave HTTP/1.1\r\nHost: rebind.example\r\n{auth}"),
            403,
        ),
    ];
    for (head, want) in &cases {
        let (code, body) = request(addr, head).await;
        assert_eq!(code, *want, "{head}: {body}");
        assert_eq!(shared.admin_queued(), 0, "{head} queued something");
    }
    // A bad org id with the right token is a 400, and queues nothing either.
    let (code, _) = request(
        addr,
        &format!("POST /admit?org=zz HTTP/1.1\r\n{host}\r\n{auth}"),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(shared.admin_queued(), 0);
}

#[tokio::test]
async fn admin_requests_with_the_token_are_queued() {
    let (shared, addr) = start(Limits::default()).await;
    let org = org();
    let auth = format!("Authorization: Bearer {SECRET}");
    let (code, body) = request(
        addr,
        &format!(
            "POST /admit?org={} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\nOrigin: http://127.0.0.1:{}",
            org.to_hex(),
            addr.port()
        ),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let (code, body) = request(
        addr,
        &format!(
            "POST /leave HTTP/1.1\r\nHost: localhost:{}\r\n{auth}",
            addr.port()
        ),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(
        shared.take_admin(),
        vec![AdminCommand::Admit(org), AdminCommand::Leave]
    );
}

#[tokio::test]
async fn status_and_metrics_need_no_token_on_loopback() {
    let (shared, addr) = start(Limits::default()).await;
    shared.update(|s, _| s.height = 42);
    let (code, body) = request(addr, &format!("GET /status HTTP/1.1\r\nHost: {addr}")).await;
    assert_eq!(code, 200, "{body}");
    let s: Status = serde_json::from_str(&body).unwrap();
    assert_eq!(s.height, 42);
    let (code, body) = request(addr, &format!("GET /metrics HTTP/1.1\r\nHost: {addr}")).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("fedledger_height 42\n"), "{body}");
    // The guard wraps the admin routes whatever the method: no token, no further answer.
    let (code, _) = request(addr, &format!("GET /admit HTTP/1.1\r\nHost: {addr}")).await;
    assert_eq!(code, 401);
    assert_eq!(shared.admin_queued(), 0);
    let (code, _) = request(addr, &format!("GET /nope HTTP/1.1\r\nHost: {addr}")).await;
    assert_eq!(code, 404);
}

/// Fails `fails` times with EMFILE, then never returns; reports each call's time.
struct Failing {
    fails: usize,
    calls: tokio::sync::mpsc::UnboundedSender<Instant>,
}

impl Acceptor for Failing {
    type Conn = TcpStream;
    fn next_conn(
        &mut self,
    ) -> impl std::future::Future<Output = std::io::Result<(TcpStream, SocketAddr)>> + Send {
        let _ = self.calls.send(Instant::now());
        let fail = self.fails > 0;
        self.fails = self.fails.saturating_sub(1);
        async move {
            if fail {
                Err(std::io::Error::from_raw_os_error(24)) // EMFILE
            } else {
                std::future::pending().await
            }
        }
    }
}

#[tokio::test]
async fn accept_errors_back_off_instead_of_spinning() {
    let mut b = Backoff::default();
    let delays: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
    assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    b.reset();
    assert_eq!(b.next_delay(), Backoff::MIN);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let fails = 5;
    let task = tokio::spawn(accept_loop(
        Failing { fails, calls: tx },
        axum::Router::new(),
        Limits::default(),
    ));
    // Gate on the calls themselves: fails + 1 calls (the last one pends forever).
    let mut at = Vec::new();
    for _ in 0..=fails {
        at.push(rx.recv().await.unwrap());
    }
    task.abort();
    // Each retry came no sooner than the pause before it: 10, 20, 40, 80, 160 ms.
    let mut want = Backoff::default();
    for w in at.windows(2) {
        let pause = want.next_delay();
        assert!(
            w[1] - w[0] >= pause,
            "retried after {:?}, pause {pause:?}",
            w[1] - w[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_do_not_lock_out_status() {
    let mut n: usize = 10_000;
    let want = n as u64 + 1024;
    let limit = rlimit::increase_nofile_limit(want).unwrap_or(0);
    if limit < want {
        n = limit.saturating_sub(1024) as usize;
        println!("NOTICE: RLIMIT_NOFILE hard limit {limit} < {want}: scaled down to {n} idle connections");
    }
    let limits = Limits {
        max_connections: 64,
        ..Limits::default()
    };
    let (shared, addr) = start(limits).await;
    shared.update(|s, _| s.height = 9);
    let mut idle = Vec::with_capacity(n);
    for i in 0..n {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
        if i % 2_000 == 1_999 {
            let (code, body) =
                request(addr, &format!("GET /status HTTP/1.1\r\nHost: {addr}")).await;
            assert_eq!(code, 200, "after {} idle connections: {body}", i + 1);
        }
    }
    // The listener held at most 64: the oldest idle connections were closed to make room (the
    // first one reads end-of-stream), and it keeps serving.
    let mut first = idle.remove(0);
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), first.read(&mut byte))
        .await
        .expect("the oldest idle connection was closed by the listener");
    assert_eq!(read.unwrap_or(0), 0);
    for _ in 0..20 {
        let (code, body) = request(addr, &format!("GET /status HTTP/1.1\r\nHost: {addr}")).await;
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"height\": 9"), "{body}");
    }
    // A half-sent request head holds a slot like an idle connection; it does not block anyone.
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial
        .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (code, _) = request(addr, &format!("GET /metrics HTTP/1.1\r\nHost: {addr}")).await;
    assert_eq!(code, 200);
    drop(idle);
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed_by_the_header_timeout() {
    let limits = Limits {
        header_read_timeout: std::time::Duration::from_millis(200),
        ..Limits::default()
    };
    let (_shared, addr) = start(limits).await;
    let silent = TcpStream::connect(addr).await.unwrap();
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial
        .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // Gate on the close itself (end of stream); the bound only turns a hang into a failure.
    for mut s in [silent, partial] {
        let mut buf = Vec::new();
        let closed =
            tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "an idle connection was left open");
    }
}

#[test]
fn remote_admin_is_a_documented_config_key_off_by_default() {
    let minimal = "data_dir = \"d\"\nkey = \"k\"\ngenesis = \"g\"\n";
    let c = crate::daemon::NodeConfig::parse(minimal).unwrap();
    assert!(!c.status.allow_remote_admin);
    let c = crate::daemon::NodeConfig::parse(&format!(
        "{minimal}[status]\nlisten = \"0.0.0.0:7180\"\nallow_remote_admin = true\n"
    ))
    .unwrap();
    c.validate().unwrap();
    assert!(c.status.allow_remote_admin);
    let example = include_str!("../../../../configs/node.example.toml");
    assert!(example.contains("allow_remote_admin = false"));
}

#[tokio::test]
async fn checkpoint_and_consistency_are_served_and_verify() {
    let (shared, addr) = start(Limits::default()).await;
    let get = |path: &str| {
        let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}");
        async move { request(addr, &head).await }
    };
    let (code, _) = get("/checkpoint").await;
    assert_eq!(code, 404, "no block yet");
    let chain = fedledger_ledger::Digest::of(b"chain");
    let key = fedledger_ledger::OrgKey::generate("node");
    let hashes: Vec<fedledger_ledger::Digest> = (0u8..9)
        .map(|i| fedledger_ledger::Digest::of(&[i]))
        .collect();
    shared.transparency.append(&hashes[..4], &chain, &key);
    let (_, old_note) = get("/checkpoint").await;
    shared.transparency.append(&hashes[4..], &chain, &key);
    let (code, new_note) = get("/checkpoint").await;
    assert_eq!(code, 200, "{new_note}");
    let members = [key.id()];
    let old =
        fedledger_ledger::tlog::open_checkpoint(old_note.as_bytes(), &chain, &members).unwrap();
    let new =
        fedledger_ledger::tlog::open_checkpoint(new_note.as_bytes(), &chain, &members).unwrap();
    assert_eq!((old.size, new.size), (4, 9));
    let (code, body) = get("/consistency?old=4&new=9").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let proof: Vec<fedledger_ledger::Digest> = v["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(v["old_root"], old.root.to_hex());
    fedledger_ledger::tlog::verify_consistency(4, &old.root, 9, &new.root, &proof).unwrap();
    for bad in [
        "/consistency?old=0&new=9",
        "/consistency?old=5&new=10",
        "/consistency?old=x&new=2",
    ] {
        let (code, _) = get(bad).await;
        assert_eq!(code, 400, "{bad}");
    }
}
