//! Real network faults between real node processes: one Linux network namespace per node, joined
//! by a userspace packet relay (tc netem is not available on every kernel CI runs on).
//!
//! Each namespace holds one tun device with the node's address `10.77.0.H/24`. The tun is created
//! in the test's own namespace, where the relay keeps its file descriptor, and is then moved into
//! the node's namespace: packets the node sends to any address of the /24 come out of that fd.
//! The relay reads each IPv4 packet, looks up which node holds the destination address, and
//! writes it into that node's tun after the link's delay (uniform jitter around it, so packets
//! may be reordered, as with netem), or drops it (random loss, or a partition cut). Dropping
//! real packets makes the kernels' TCP retransmit, back off and time out as on a real network,
//! which a TCP proxy would hide. Faults and addresses can be changed while nodes run.
//!
//! Namespaces are named `fl-<pid>-<lab>-<node>` and deleted when the [`Lab`] is dropped (also on
//! panic); ones left by a killed test process (its pid gone) are deleted by the next lab.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::Testnet;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tun_rs::{AsyncDevice, DeviceBuilder};

/// The nodes' /24.
const SUBNET: [u8; 3] = [10, 77, 0];
/// libp2p port of every node (each has its own namespace, so they may share it).
pub const P2P_PORT: u16 = 7100;
/// Status listener of every node, on the loopback of its namespace.
pub const STATUS: &str = "127.0.0.1:7180";

/// What one direction of one link does to packets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkFaults {
    /// Mean one-way delay.
    pub delay: Duration,
    /// Each packet's delay is uniform in `delay +/- jitter`.
    pub jitter: Duration,
    /// Probability of dropping each packet.
    pub loss: f64,
    /// Drop everything (a partition).
    pub cut: bool,
}

/// What the relay did, since the lab started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets delivered to a tun.
    pub forwarded: AtomicU64,
    /// Dropped by random loss.
    pub lost: AtomicU64,
    /// Dropped by a partition cut.
    pub cut: AtomicU64,
    /// No node holds the destination (e.g. the old address of a node that moved).
    pub unroutable: AtomicU64,
}

impl Counters {
    /// (forwarded, lost, cut, unroutable).
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.forwarded.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
            self.cut.load(Ordering::Relaxed),
            self.unroutable.load(Ordering::Relaxed),
        )
    }
}

/// The relay's routing and fault table, shared with its tasks.
#[derive(Debug)]
struct Table {
    /// `links[from][to]`.
    links: Vec<Vec<LinkFaults>>,
    /// Which node holds an address.
    routes: HashMap<Ipv4Addr, usize>,
}

/// Namespaces, their tuns and the relay between them.
pub struct Lab {
    /// Namespace of each node.
    pub names: Vec<String>,
    /// Current host octet of each node's address.
    hosts: Vec<u8>,
    table: Arc<Mutex<Table>>,
    /// What the relay did.
    pub counters: Arc<Counters>,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lab({:?})", self.names)
    }
}

/// Run `ip ARGS`, returning its stderr on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Delete namespaces of earlier test processes that died without cleaning up (SIGKILL, abort):
/// their pid no longer exists. Namespaces of live processes (other tests running now) are kept.
fn delete_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let mut parts = name.split('-');
        if parts.next() != Some("fl") {
            continue;
        }
        let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// A small xorshift generator for loss and jitter (no need for cryptographic randomness).
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A well-mixed, odd seed for each relay task from a small distinct number (xorshift needs a
/// non-zero state, and nearby seeds must not give related streams).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1
}

impl Lab {
    /// Make `n` namespaces with a tun each and start the relay (links perfect). `Err` says why
    /// namespaces or tun devices cannot be made here (not root, no iproute2, no /dev/net/tun).
    pub fn new(n: usize) -> Result<Lab, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        if !nix::unistd::geteuid().is_root() {
            return Err(format!("not root (uid {})", nix::unistd::geteuid()));
        }
        ip(&["-V"])?;
        delete_stale();
        let pid = std::process::id();
        let lab = COUNTER.fetch_add(1, Ordering::Relaxed);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("netns-relay")
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let mut me = Lab {
            names: Vec::new(),
            hosts: (1..=n as u8).collect(),
            table: Arc::new(Mutex::new(Table {
                links: vec![vec![LinkFaults::default(); n]; n],
                routes: HashMap::new(),
            })),
            counters: Arc::new(Counters::default()),
            rt: None,
        };
        let mut devs = Vec::with_capacity(n);
        for i in 0..n {
            let ns = format!("fl-{pid}-{lab}-{i}");
            ip(&["netns", "add", &ns])?;
            // Dropped with `me` from here on, whatever fails next.
            me.names.push(ns.clone());
            // Interface names are at most 15 bytes; a pid has at most 7 digits.
            let tun = format!("f{pid}-{lab}-{i}");
            let dev = {
                let _enter = rt.enter();
                DeviceBuilder::new()
                    .name(tun.as_str())
                    .enable(false)
                    .build_async()
                    .map_err(|e| format!("cannot create tun device {tun}: {e}"))?
            };
            ip(&["link", "set", &tun, "netns", &ns])?;
            let addr = format!("{}/24", me.addr(i));
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &tun])?;
            ip(&["-n", &ns, "link", "set", &tun, "up"])?;
            me.table.lock().unwrap().routes.insert(me.addr(i), i);
            devs.push(Arc::new(dev));
        }
        let devs = Arc::new(devs);
        for i in 0..n {
            rt.spawn(pump(
                i,
                devs.clone(),
                me.table.clone(),
                me.counters.clone(),
                splitmix((u64::from(pid) << 24) ^ (lab << 8) ^ i as u64),
            ));
        }
        me.rt = Some(rt);
        Ok(me)
    }

    /// Node `i`'s current address.
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], self.hosts[i])
    }

    /// Node `i`'s libp2p listen address.
    pub fn listen(&self, i: usize) -> String {
        format!("/ip4/{}/tcp/{P2P_PORT}", self.addr(i))
    }

    /// Put the testnet's nodes in the namespaces: each listens on its namespace's address, has
    /// the others' as bootstrap peers, and its status listener on the namespace's loopback.
    pub fn attach(&self, net: &mut Testnet) {
        let peers: Vec<String> = net
            .nodes
            .iter()
            .map(|n| n.addr.rsplit("/p2p/").next().unwrap().to_string())
            .collect();
        let addrs: Vec<String> = (0..net.nodes.len())
            .map(|i| format!("{}/p2p/{}", self.listen(i), peers[i]))
            .collect();
        for (i, n) in net.nodes.iter_mut().enumerate() {
            let bootstrap: Vec<&str> = (0..addrs.len())
                .filter(|j| *j != i)
                .map(|j| addrs[j].as_str())
                .collect();
            n.netns = Some(self.names[i].clone());
            n.addr = addrs[i].clone();
            n.status = STATUS.to_string();
            n.env = vec![
                ("FEDLEDGER_LISTEN".into(), self.listen(i)),
                ("FEDLEDGER_BOOTSTRAP".into(), bootstrap.join(",")),
                ("FEDLEDGER_STATUS_LISTEN".into(), STATUS.into()),
            ];
        }
    }

    /// Give node `i` the address `10.77.0.HOST` instead of its current one (the node should be
    /// stopped; restart it to listen there). The others keep the old address in their
    /// configuration: packets to it are dropped from now on.
    pub fn move_node(&mut self, i: usize, host: u8, net: &mut Testnet) {
        let old = self.addr(i);
        let ns = self.names[i].clone();
        let tun = self.tun_in(i);
        self.hosts[i] = host;
        let new = self.addr(i);
        // Old one first: deleting a subnet's primary address also deletes its secondaries.
        ip(&["-n", &ns, "addr", "del", &format!("{old}/24"), "dev", &tun]).unwrap();
        ip(&["-n", &ns, "addr", "add", &format!("{new}/24"), "dev", &tun]).unwrap();
        {
            let mut t = self.table.lock().unwrap();
            t.routes.remove(&old);
            t.routes.insert(new, i);
        }
        let n = &mut net.nodes[i];
        let peer = n.addr.rsplit("/p2p/").next().unwrap().to_string();
        n.addr = format!("{}/p2p/{peer}", self.listen(i));
        let listen = self.listen(i);
        for (k, v) in &mut n.env {
            if k == "FEDLEDGER_LISTEN" {
                *v = listen.clone();
            }
        }
    }

    /// The tun device's name in node `i`'s namespace.
    fn tun_in(&self, i: usize) -> String {
        let mut parts = self.names[i].splitn(2, '-');
        parts.next();
        format!("f{}", parts.next().unwrap_or(""))
    }

    /// Set every link (both directions between every pair) to `f`.
    pub fn set_all_links(&self, f: LinkFaults) {
        let mut t = self.table.lock().unwrap();
        for row in &mut t.links {
            for l in row.iter_mut() {
                *l = f;
            }
        }
    }

    /// Cut every link between `side` and the other nodes, both ways.
    pub fn partition(&self, side: &[usize]) {
        let mut t = self.table.lock().unwrap();
        let n = t.links.len();
        for a in 0..n {
            for b in 0..n {
                if side.contains(&a) != side.contains(&b) {
                    t.links[a][b].cut = true;
                }
            }
        }
    }

    /// Remove every cut (delay and loss stay).
    pub fn heal(&self) {
        let mut t = self.table.lock().unwrap();
        for row in &mut t.links {
            for l in row.iter_mut() {
                l.cut = false;
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Stop the relay first: its tasks hold the tun fds, and closing them removes the devices.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        for ns in &self.names {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("netns: cleanup: {e}");
            }
        }
    }
}

/// Relay node `from`'s outgoing packets to their destinations, forever.
async fn pump(
    from: usize,
    devs: Arc<Vec<Arc<AsyncDevice>>>,
    table: Arc<Mutex<Table>>,
    counters: Arc<Counters>,
    seed: u64,
) {
    let mut rng = Rng(seed);
    let mut buf = vec![0u8; 65536];
    loop {
        let len = match devs[from].recv(&mut buf).await {
            Ok(len) => len,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let pkt = &buf[..len];
        // IPv4 only (the nodes have no IPv6 addresses; router solicitations and such are
        // dropped).
        if len < 20 || pkt[0] >> 4 != 4 {
            continue;
        }
        let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
        let route = {
            let t = table.lock().unwrap();
            t.routes.get(&dst).map(|&to| (to, t.links[from][to]))
        };
        let Some((to, link)) = route else {
            counters.unroutable.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if link.cut {
            counters.cut.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if link.loss > 0.0 && rng.unit() < link.loss {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        counters.forwarded.fetch_add(1, Ordering::Relaxed);
        let spread = link.jitter.as_secs_f64() * (2.0 * rng.unit() - 1.0);
        let delay = Duration::from_secs_f64((link.delay.as_secs_f64() + spread).max(0.0));
        if delay.is_zero() {
            let _ = devs[to].send(pkt).await;
        } else {
            let dev = devs[to].clone();
            let data = pkt.to_vec();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = dev.send(&data).await;
            });
        }
    }
}

/// `GET path` from `addr` inside namespace `ns` (the body of a 200 response). The request runs
/// on a thread of its own that joins the namespace first: a socket belongs to the namespace of
/// the thread that made it.
pub fn http_get_in(ns: &str, addr: &str, path: &str) -> Option<String> {
    let (ns, addr, path) = (ns.to_string(), addr.to_string(), path.to_string());
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).ok()?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
        crate::http_get(&addr, &path)
    })
    .join()
    .ok()
    .flatten()
}
