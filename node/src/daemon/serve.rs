//! Fetch serving off the node loop: a bounded pool of tasks reads blobs and block ranges from a
//! clone of the store (and checkpoints and consistency proofs from the node's block log) and
//! answers, shedding what does not fit.

use super::driver::TARGET;
use super::status::transparency::Transparency;
use super::status::Shared;
use crate::p2p::{
    BlobManifest, ConsistencyAnswer, FetchRequest, FetchResponse, NetworkHandle, NetworkStats,
    CHUNK_BYTES, MAX_BLOCKS_PER_RESPONSE, MAX_CHUNKS, MAX_REASON_BYTES, MAX_RESPONSE_BYTES,
};
use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::tlog::{MAX_NOTE_BYTES, MAX_PROOF_HASHES};
use fedledger_ledger::Digest;
use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tracing::debug;

/// Reads served at once: they copy megabytes out of sled on blocking threads, and the machines
/// are small.
pub(super) const MAX_SERVING: usize = 2;
/// Requests admitted (being served or waiting for a reader). Beyond this, requests are dropped
/// and counted as `overload-fetch`.
pub(super) const MAX_QUEUED_SERVES: usize = 64;
/// Blob hashes remembered as verified, so a blob is hashed once rather than on every request.
const VERIFIED_CAP: usize = 1024;
/// Manifests of large blobs remembered (a few rounds' worth of members).
const MANIFEST_CAP: usize = 64;

/// Blob hashes whose stored bytes this process has checked, oldest evicted first.
#[derive(Debug, Default)]
struct Verified {
    set: HashSet<Digest>,
    order: VecDeque<Digest>,
}

impl Verified {
    fn contains(&self, h: &Digest) -> bool {
        self.set.contains(h)
    }

    fn insert(&mut self, h: Digest) {
        if !self.set.insert(h) {
            return;
        }
        self.order.push_back(h);
        if self.order.len() > VERIFIED_CAP {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

/// Answers fetch requests from the store (synchronous; run it on a blocking thread).
#[derive(Debug)]
struct Reader {
    store: SledStore,
    /// The block log the node loop appends to on every commit (shared with `/checkpoint`).
    log: Transparency,
    verified: Mutex<Verified>,
    manifests: Mutex<VecDeque<(Digest, Arc<BlobManifest>)>>,
}

impl Reader {
    fn new(store: SledStore, log: Transparency) -> Self {
        Reader {
            store,
            log,
            verified: Mutex::new(Verified::default()),
            manifests: Mutex::new(VecDeque::new()),
        }
    }

    fn answer(&self, peer: &PeerId, request: FetchRequest) -> FetchResponse {
        match request {
            FetchRequest::Blob(h) => FetchResponse::Blob(self.blob(peer, &h)),
            FetchRequest::Blocks { from, max } => FetchResponse::Blocks(self.blocks(from, max)),
            FetchRequest::Manifest(h) => {
                FetchResponse::Manifest(self.manifest(peer, &h).map(|m| (*m).clone()))
            }
            FetchRequest::Chunk { blob, index } => {
                FetchResponse::Chunk(self.chunk(peer, &blob, index))
            }
            FetchRequest::Checkpoint => FetchResponse::Checkpoint(self.checkpoint()),
            FetchRequest::Consistency { old, new } => {
                FetchResponse::Consistency(self.consistency(peer, old, new))
            }
        }
    }

    /// The latest checkpoint the node signed, if one fits a response (it always should: the
    /// node signs with its own key only; a note over the limit is withheld, not sent cut).
    fn checkpoint(&self) -> Option<String> {
        let note = self.log.checkpoint()?;
        if note.len() > MAX_NOTE_BYTES {
            tracing::warn!(target: TARGET, bytes = note.len(), "own checkpoint too large to serve");
            return None;
        }
        Some(note)
    }

    /// The consistency proof from `old` to `new`, or why not (sizes out of range), with the
    /// reason cut to what the protocol carries.
    fn consistency(&self, peer: &PeerId, old: u64, new: u64) -> Result<ConsistencyAnswer, String> {
        let (old_root, new_root, proof) = self.log.roots_and_proof(old, new).map_err(|e| {
            debug!(target: TARGET, %peer, old, new, error = %e, "consistency proof refused");
            truncate(e, MAX_REASON_BYTES)
        })?;
        if proof.len() > MAX_PROOF_HASHES {
            return Err(format!("a proof of {} hashes is too long", proof.len()));
        }
        Ok(ConsistencyAnswer {
            old_size: old,
            old_root,
            new_size: new,
            new_root,
            proof,
        })
    }

    /// The manifest of a stored blob, computed (and the whole blob checked against its hash)
    /// the first time, a chunk at a time, so serving a large blob never holds it whole.
    fn manifest(&self, peer: &PeerId, h: &Digest) -> Option<Arc<BlobManifest>> {
        use sha2::Digest as _;
        if let Ok(m) = self.manifests.lock() {
            if let Some((_, m)) = m.iter().find(|(k, _)| k == h) {
                return Some(m.clone());
            }
        }
        let len = self.store.blob_len(h).ok().flatten()?;
        let count = BlobManifest::chunk_count(len);
        if count > MAX_CHUNKS as u64 {
            return None;
        }
        let mut whole = sha2::Sha256::new();
        let mut chunks = Vec::with_capacity(count as usize);
        for i in 0..count as u32 {
            let offset = u64::from(i) * CHUNK_BYTES as u64;
            let bytes = match self.store.blob_range(h, offset, CHUNK_BYTES) {
                Ok(Some(b)) if b.len() == BlobManifest::chunk_len(len, i) => b,
                other => {
                    debug!(target: TARGET, %peer, blob = %h.short(), ok = other.is_ok(), "blob chunk unreadable");
                    return None;
                }
            };
            whole.update(&bytes);
            chunks.push(Digest::of(&bytes));
        }
        if Digest(whole.finalize().into()) != *h {
            tracing::warn!(target: TARGET, blob = %h.short(), "stored blob does not match its hash; not served");
            return None;
        }
        let m = Arc::new(BlobManifest { len, chunks });
        if let Ok(mut cache) = self.manifests.lock() {
            cache.push_back((*h, m.clone()));
            if cache.len() > MANIFEST_CAP {
                cache.pop_front();
            }
        }
        Some(m)
    }

    /// Chunk `index` of a stored blob, served only once the blob is known to be intact.
    fn chunk(&self, peer: &PeerId, h: &Digest, index: u32) -> Option<Vec<u8>> {
        let m = self.manifest(peer, h)?;
        if index as usize >= m.chunks.len() {
            return None;
        }
        let offset = u64::from(index) * CHUNK_BYTES as u64;
        self.store
            .blob_range(h, offset, CHUNK_BYTES)
            .ok()
            .flatten()
            .filter(|b| Digest::of(b) == m.chunks[index as usize])
    }

    /// A blob is hashed the first time it is served; a blob that does not match its hash is
    /// never served (nor remembered).
    fn blob(&self, peer: &PeerId, h: &Digest) -> Option<Vec<u8>> {
        // Larger than one response: such a blob is fetched by its manifest and chunks.
        if self
            .store
            .blob_len(h)
            .ok()
            .flatten()
            .is_some_and(|l| l as usize + 1024 > MAX_RESPONSE_BYTES)
        {
            return None;
        }
        let known = self.verified.lock().is_ok_and(|v| v.contains(h));
        let read = if known {
            self.store.blob_unverified(h)
        } else {
            self.store.blob(h)
        };
        match read {
            Ok(Some(b)) => {
                if !known {
                    if let Ok(mut v) = self.verified.lock() {
                        v.insert(*h);
                    }
                }
                Some(b)
            }
            Ok(None) => None,
            Err(e) => {
                debug!(target: TARGET, %peer, error = %e, "blob read failed");
                None
            }
        }
    }

    /// Consecutive blocks from `from`, at most [`MAX_BLOCKS_PER_RESPONSE`] and within
    /// [`MAX_RESPONSE_BYTES`] (with room for the framing).
    fn blocks(&self, from: u64, max: u32) -> Vec<Vec<u8>> {
        let first = from.max(1);
        let end = first.saturating_add(u64::from(max.min(MAX_BLOCKS_PER_RESPONSE)));
        let mut out = Vec::new();
        let mut total = 0usize;
        for h in first..end {
            match self.store.raw_block(h) {
                Ok(Some(b))
                    if total.saturating_add(b.len()).saturating_add(1024) < MAX_RESPONSE_BYTES =>
                {
                    total += b.len();
                    out.push(b);
                }
                _ => break,
            }
        }
        out
    }
}

/// The serving pool. Cheap to clone; every clone shares the caps.
#[derive(Debug, Clone)]
pub(super) struct FetchServer {
    reader: Arc<Reader>,
    admit: Arc<Semaphore>,
    work: Arc<Semaphore>,
    stats: Arc<NetworkStats>,
    shared: Shared,
}

impl FetchServer {
    /// A pool over `store` with the default caps, counting sheds in `stats`.
    pub(super) fn new(store: SledStore, stats: Arc<NetworkStats>, shared: Shared) -> Self {
        Self::with_caps(store, stats, shared, MAX_QUEUED_SERVES, MAX_SERVING)
    }

    fn with_caps(
        store: SledStore,
        stats: Arc<NetworkStats>,
        shared: Shared,
        queued: usize,
        serving: usize,
    ) -> Self {
        FetchServer {
            reader: Arc::new(Reader::new(store, shared.transparency.clone())),
            admit: Arc::new(Semaphore::new(queued)),
            work: Arc::new(Semaphore::new(serving)),
            stats,
            shared,
        }
    }

    /// Answer `request` through `net` off the node loop; false if it was shed (the channel is
    /// dropped, so the requester sees a failure and asks another peer).
    pub(super) fn serve(
        &self,
        net: &NetworkHandle,
        peer: PeerId,
        request: FetchRequest,
        channel: ResponseChannel<FetchResponse>,
    ) -> bool {
        let net = net.clone();
        self.submit(peer, request, move |response| async move {
            let _ = net.respond(channel, response).await;
        })
    }

    /// Queue `request`; `reply` gets the answer. False (and counted) if the pool is full.
    fn submit<F, Fut>(&self, peer: PeerId, request: FetchRequest, reply: F) -> bool
    where
        F: FnOnce(FetchResponse) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let Ok(admitted) = self.admit.clone().try_acquire_owned() else {
            self.stats.count_overload_fetch();
            debug!(target: TARGET, %peer, reason = "overload-fetch", "fetch shed: the serving pool is full");
            return false;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let response = if is_log_request(&request) {
                // A few hashes from memory: no reader slot, so a checkpoint is not stuck
                // behind megabyte blob reads (the admission slot still bounds these).
                this.reader.answer(&peer, request)
            } else {
                let Ok(reading) = this.work.clone().acquire_owned().await else {
                    return;
                };
                let reader = this.reader.clone();
                let read = tokio::task::spawn_blocking(move || reader.answer(&peer, request)).await;
                // The reader slot is for the read; the admission slot stays until the answer
                // is out.
                drop(reading);
                let Ok(response) = read else {
                    debug!(target: TARGET, %peer, "fetch serving task failed");
                    return;
                };
                response
            };
            let len = response_len(&response);
            this.shared.update(|_, c| c.bytes_sent += len);
            reply(response).await;
        });
        true
    }
}

/// Requests answered from the in-memory block log rather than the store.
fn is_log_request(r: &FetchRequest) -> bool {
    matches!(
        r,
        FetchRequest::Checkpoint | FetchRequest::Consistency { .. }
    )
}

fn response_len(r: &FetchResponse) -> u64 {
    match r {
        FetchResponse::Blob(Some(b)) => b.len() as u64,
        FetchResponse::Blocks(bs) => bs.iter().map(|b| b.len() as u64).sum(),
        FetchResponse::Blob(None) | FetchResponse::Manifest(None) | FetchResponse::Chunk(None) => 0,
        FetchResponse::Manifest(Some(m)) => 32 * m.chunks.len() as u64,
        FetchResponse::Chunk(Some(b)) => b.len() as u64,
        FetchResponse::Checkpoint(note) => note.as_ref().map_or(0, |n| n.len() as u64),
        FetchResponse::Consistency(Ok(a)) => 32 * (a.proof.len() as u64 + 2),
        FetchResponse::Consistency(Err(r)) => r.len() as u64,
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedledger_ledger::testutil::TestChain;
    use std::time::Duration;
    use tokio::sync::{mpsc, oneshot};

    fn server(queued: usize, serving: usize) -> (FetchServer, SledStore, Arc<NetworkStats>) {
        let store = SledStore::temporary().unwrap();
        let stats = Arc::new(NetworkStats::default());
        let s = FetchServer::with_caps(
            store.clone(),
            stats.clone(),
            Shared::default(),
            queued,
            serving,
        );
        (s, store, stats)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_beyond_the_queue_are_shed_and_counted_and_the_rest_answered() {
        let (s, store, stats) = server(2, 1);
        let h = store.put_blob(b"update bytes").unwrap();
        // Both admitted replies block until their gate opens, so each keeps its admission slot
        // however fast the reads finish on the other worker thread.
        let (gate1_tx, gate1_rx) = oneshot::channel::<()>();
        let (gate2_tx, gate2_rx) = oneshot::channel::<()>();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        for gate in [gate1_rx, gate2_rx] {
            let d = done_tx.clone();
            assert!(s.submit(
                PeerId::random(),
                FetchRequest::Blob(h),
                move |r| async move {
                    let _ = gate.await;
                    let _ = d.send(r);
                }
            ));
        }
        // Both slots are taken: the third is shed.
        let d = done_tx.clone();
        assert!(!s.submit(
            PeerId::random(),
            FetchRequest::Blob(h),
            move |r| async move {
                let _ = d.send(r);
            }
        ));
        assert_eq!(stats.overload_fetch(), 1);
        gate2_tx.send(()).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), done_rx.recv()).await;
        assert_eq!(
            got.unwrap(),
            Some(FetchResponse::Blob(Some(b"update bytes".to_vec())))
        );
        gate1_tx.send(()).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), done_rx.recv()).await;
        assert!(matches!(got.unwrap(), Some(FetchResponse::Blob(Some(_)))));
        // Slots came back: a new request is admitted.
        let d = done_tx.clone();
        let mut admitted = false;
        for _ in 0..100 {
            let d = d.clone();
            admitted = s.submit(
                PeerId::random(),
                FetchRequest::Blob(h),
                move |r| async move {
                    let _ = d.send(r);
                },
            );
            if admitted {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(admitted);
    }

    #[test]
    fn a_corrupted_blob_is_not_served_and_a_verified_one_is() {
        let store = SledStore::temporary().unwrap();
        let r = Reader::new(store.clone(), Transparency::default());
        let good = store.put_blob(b"good").unwrap();
        let bad = Digest::of(b"original");
        store
            .db()
            .open_tree("blobs")
            .unwrap()
            .insert(bad.as_bytes(), b"flipped".as_slice())
            .unwrap();
        let p = PeerId::random();
        assert_eq!(r.blob(&p, &bad), None);
        assert!(!r.verified.lock().unwrap().contains(&bad));
        assert_eq!(r.blob(&p, &good), Some(b"good".to_vec()));
        assert!(r.verified.lock().unwrap().contains(&good));
        assert_eq!(r.blob(&p, &good), Some(b"good".to_vec()));
        assert_eq!(r.blob(&p, &Digest::of(b"missing")), None);
    }

    #[test]
    fn a_large_blob_is_served_by_checked_chunks_and_a_corrupted_one_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let big: Vec<u8> = (0..2 * CHUNK_BYTES + 1000)
            .map(|i| (i % 253) as u8)
            .collect();
        let h = store.put_blob(&big).unwrap();
        let r = Reader::new(store.clone(), Transparency::default());
        let p = PeerId::random();
        let m = r.manifest(&p, &h).unwrap();
        assert!(m.fits(big.len() as u64));
        assert_eq!(m.chunks.len(), 3);
        let mut joined = Vec::new();
        for i in 0..3u32 {
            let c = r.chunk(&p, &h, i).unwrap();
            assert_eq!(Digest::of(&c), m.chunks[i as usize]);
            joined.extend(c);
        }
        assert_eq!(joined, big);
        assert_eq!(r.chunk(&p, &h, 3), None, "past the last chunk");
        assert_eq!(r.manifest(&p, &Digest::of(b"absent")), None);

        // Altered on disk after its manifest was cached: the altered chunk is not served.
        let file = dir
            .path()
            .join(fedledger_ledger::store::BLOB_FILE_DIR)
            .join(h.to_hex());
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[CHUNK_BYTES + 7] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        assert!(r.chunk(&p, &h, 0).is_some());
        assert_eq!(r.chunk(&p, &h, 1), None);
        // A fresh reader (a restarted node) checks the whole blob and serves none of it.
        let fresh = Reader::new(store, Transparency::default());
        assert_eq!(fresh.manifest(&p, &h), None);
        assert_eq!(fresh.chunk(&p, &h, 0), None);
    }

    #[test]
    fn the_verified_set_is_bounded() {
        let mut v = Verified::default();
        for i in 0..(VERIFIED_CAP as u32 + 10) {
            v.insert(Digest::of(&i.to_be_bytes()));
        }
        assert_eq!(v.set.len(), VERIFIED_CAP);
        assert!(!v.contains(&Digest::of(&0u32.to_be_bytes())));
        assert!(v.contains(&Digest::of(&(VERIFIED_CAP as u32 + 9).to_be_bytes())));
    }

    #[test]
    fn block_ranges_are_capped_and_stop_at_the_tip() {
        let store = SledStore::temporary().unwrap();
        let mut chain = TestChain::new(4, 1, "mean");
        for _ in 0..(MAX_BLOCKS_PER_RESPONSE + 6) {
            store.append(&chain.next_block()).unwrap();
        }
        let r = Reader::new(store, Transparency::default());
        assert_eq!(
            r.blocks(0, u32::MAX).len(),
            MAX_BLOCKS_PER_RESPONSE as usize
        );
        assert_eq!(r.blocks(1, 3).len(), 3);
        assert_eq!(r.blocks(u64::from(MAX_BLOCKS_PER_RESPONSE), 100).len(), 7);
        assert!(r.blocks(u64::MAX, u32::MAX).is_empty());
    }

    /// Append `n` block hashes to `log` as the node loop does; the chain and the signer.
    fn fill(log: &Transparency, n: u8) -> (Digest, fedledger_ledger::OrgKey) {
        let chain = Digest::of(b"chain");
        let key = fedledger_ledger::OrgKey::generate("node");
        let hashes: Vec<Digest> = (0..n).map(|i| Digest::of(&[i])).collect();
        log.append(&hashes[..n as usize / 2], &chain, &key);
        log.append(&hashes[n as usize / 2..], &chain, &key);
        (chain, key)
    }

    #[test]
    fn checkpoint_and_consistency_are_answered_from_the_log_and_verify() {
        use fedledger_ledger::tlog;
        let p = PeerId::random();
        let empty = Reader::new(SledStore::temporary().unwrap(), Transparency::default());
        assert_eq!(
            empty.answer(&p, FetchRequest::Checkpoint),
            FetchResponse::Checkpoint(None),
            "no block yet"
        );
        let log = Transparency::default();
        let (chain, key) = fill(&log, 9);
        let r = Reader::new(SledStore::temporary().unwrap(), log.clone());
        let FetchResponse::Checkpoint(Some(note)) = r.answer(&p, FetchRequest::Checkpoint) else {
            panic!("no checkpoint");
        };
        let cp = tlog::open_checkpoint(note.as_bytes(), &chain, &[key.id()]).unwrap();
        assert_eq!(cp.size, 9);
        for old in 1..=9 {
            let FetchResponse::Consistency(Ok(a)) =
                r.answer(&p, FetchRequest::Consistency { old, new: 9 })
            else {
                panic!("no proof from {old}");
            };
            assert_eq!((a.old_size, a.new_size, a.new_root), (old, 9, cp.root));
            tlog::verify_consistency(old, &a.old_root, 9, &a.new_root, &a.proof).unwrap();
            let res = FetchResponse::Consistency(Ok(a));
            assert_eq!(res.check_limits(), Ok(()));
        }
        // Sizes out of range: a reason, within the protocol's limit.
        for (old, new) in [(0, 9), (5, 10), (9, 4), (1, u64::MAX)] {
            match r.answer(&p, FetchRequest::Consistency { old, new }) {
                FetchResponse::Consistency(Err(why)) => {
                    assert!(!why.is_empty() && why.len() <= MAX_REASON_BYTES, "{why}")
                }
                other => panic!("{old}..{new}: {other:?}"),
            }
        }
        assert!(truncate("é".repeat(400), MAX_REASON_BYTES).len() <= MAX_REASON_BYTES);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_non_member_fetches_a_checkpoint_and_proof_over_libp2p_and_they_verify() {
        use crate::daemon::network::{fetch_checkpoint, fetch_consistency};
        use crate::p2p::{NetworkConfig, NetworkEvent, NetworkService};
        use fedledger_ledger::tlog;
        use libp2p::multiaddr::Protocol;

        let config = |bootstrap| NetworkConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            bootstrap,
            topic: "fedledger-test".into(),
            heartbeat: Duration::from_millis(200),
            redial_every: Duration::from_secs(1),
        };
        // The node: its fetch events go to a FetchServer over a shared log, as in the driver.
        let shared = Shared::default();
        let (chain, key) = fill(&shared.transparency, 7);
        let (svc, net, mut events) = NetworkService::new(&key, config(vec![])).unwrap();
        tokio::spawn(svc.run());
        let server = FetchServer::new(
            SledStore::temporary().unwrap(),
            net.stats().clone(),
            shared.clone(),
        );
        let addr = loop {
            if let Some(NetworkEvent::Listening(a)) = events.recv().await {
                break a.with(Protocol::P2p(net.local_peer()));
            }
        };
        let serving = net.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if let NetworkEvent::Fetch {
                    peer,
                    request,
                    channel,
                } = e
                {
                    server.serve(&serving, peer, request, channel);
                }
            }
        });
        // A client with a throwaway key, as `fedledger checkpoint --peer` dials.
        let me = fedledger_ledger::OrgKey::generate("auditor");
        let (svc, client, mut cev) = NetworkService::new(&me, config(vec![addr])).unwrap();
        tokio::spawn(svc.run());
        let node = net.local_peer();
        tokio::time::timeout(Duration::from_secs(20), async {
            while !matches!(cev.recv().await, Some(NetworkEvent::Connected(p)) if p == node) {}
        })
        .await
        .unwrap();
        tokio::spawn(async move { while cev.recv().await.is_some() {} });

        let t = Duration::from_secs(10);
        let note = fetch_checkpoint(&client, node, t).await.unwrap().unwrap();
        let cp = tlog::open_checkpoint(note.as_bytes(), &chain, &[key.id()]).unwrap();
        assert_eq!(cp.size, 7);
        let a = fetch_consistency(&client, node, 3, 7, t).await.unwrap();
        assert_eq!(a.new_root, cp.root);
        tlog::verify_consistency(3, &a.old_root, 7, &a.new_root, &a.proof).unwrap();
        let err = fetch_consistency(&client, node, 3, 8, t).await.unwrap_err();
        assert!(err.contains("refused") && err.contains("not 8"), "{err}");
        // The log grows as the node commits; the next answers follow it.
        shared
            .transparency
            .append(&[Digest::of(b"block 8")], &chain, &key);
        let note = fetch_checkpoint(&client, node, t).await.unwrap().unwrap();
        let newer = tlog::open_checkpoint(note.as_bytes(), &chain, &[key.id()]).unwrap();
        assert_eq!(newer.size, 8);
        let a = fetch_consistency(&client, node, 7, 8, t).await.unwrap();
        tlog::verify_consistency(7, &cp.root, 8, &newer.root, &a.proof).unwrap();
        client.shutdown().await;
        net.shutdown().await;
    }
}
