//! Fetch serving off the node loop: a bounded pool of tasks reads blobs and block ranges from a
//! clone of the store and answers, shedding what does not fit.

use super::driver::TARGET;
use super::status::Shared;
use crate::p2p::{
    FetchRequest, FetchResponse, NetworkHandle, NetworkStats, MAX_BLOCKS_PER_RESPONSE,
    MAX_RESPONSE_BYTES,
};
use fedledger_ledger::store::{LedgerStore, SledStore};
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
    verified: Mutex<Verified>,
}

impl Reader {
    fn answer(&self, peer: &PeerId, request: FetchRequest) -> FetchResponse {
        match request {
            FetchRequest::Blob(h) => FetchResponse::Blob(self.blob(peer, &h)),
            FetchRequest::Blocks { from, max } => FetchResponse::Blocks(self.blocks(from, max)),
        }
    }

    /// A blob is hashed the first time it is served; a blob that does not match its hash is
    /// never served (nor remembered).
    fn blob(&self, peer: &PeerId, h: &Digest) -> Option<Vec<u8>> {
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
            reader: Arc::new(Reader {
                store,
                verified: Mutex::new(Verified::default()),
            }),
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
            let Ok(reading) = this.work.clone().acquire_owned().await else {
                return;
            };
            let reader = this.reader.clone();
            let read = tokio::task::spawn_blocking(move || reader.answer(&peer, request)).await;
            // The reader slot is for the read; the admission slot stays until the answer is out.
            drop(reading);
            let Ok(response) = read else {
                debug!(target: TARGET, %peer, "fetch serving task failed");
                return;
            };
            let len = response_len(&response);
            this.shared.update(|_, c| c.bytes_sent += len);
            reply(response).await;
        });
        true
    }
}

fn response_len(r: &FetchResponse) -> u64 {
    match r {
        FetchResponse::Blob(Some(b)) => b.len() as u64,
        FetchResponse::Blocks(bs) => bs.iter().map(|b| b.len() as u64).sum(),
        FetchResponse::Blob(None) => 0,
    }
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
        let r = Reader {
            store: store.clone(),
            verified: Mutex::new(Verified::default()),
        };
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
        let r = Reader {
            store,
            verified: Mutex::new(Verified::default()),
        };
        assert_eq!(
            r.blocks(0, u32::MAX).len(),
            MAX_BLOCKS_PER_RESPONSE as usize
        );
        assert_eq!(r.blocks(1, 3).len(), 3);
        assert_eq!(r.blocks(u64::from(MAX_BLOCKS_PER_RESPONSE), 100).len(), 7);
        assert!(r.blocks(u64::MAX, u32::MAX).is_empty());
    }
}
