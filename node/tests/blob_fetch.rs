//! Fetching a large update from several peers on loopback, some of them lying: a false manifest,
//! a corrupted chunk and a wrong whole blob each cost an attempt, never the right bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{config, next_listen};

use fedledger_ledger::{Digest, OrgKey};
use fedledger_node::daemon::blob_fetch::fetch_blob;
use fedledger_node::learn::model::encode_update;
use fedledger_node::p2p::{
    BlobManifest, FetchRequest, FetchResponse, NetworkEvent, NetworkHandle, NetworkService,
    CHUNK_BYTES,
};
use libp2p::multiaddr::Protocol;
use libp2p::PeerId;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How a test server answers.
#[derive(Clone, Copy)]
enum Serves {
    /// The blob, whole or by chunks.
    Honest,
    /// The blob's manifest, but chunk 1 altered.
    CorruptChunk,
    /// A manifest and chunks of another blob of the same length, and that blob whole.
    OtherBlob,
}

fn manifest_of(bytes: &[u8]) -> BlobManifest {
    BlobManifest {
        len: bytes.len() as u64,
        chunks: bytes.chunks(CHUNK_BYTES).map(Digest::of).collect(),
    }
}

async fn server(
    seed: u8,
    serves: Serves,
    blob: Arc<Vec<u8>>,
    other: Arc<Vec<u8>>,
) -> (PeerId, libp2p::Multiaddr) {
    let (svc, handle, mut events) =
        NetworkService::new(&OrgKey::from_secret([seed; 32], "server"), config(vec![])).unwrap();
    tokio::spawn(svc.run());
    let addr = next_listen(&mut events)
        .await
        .with(Protocol::P2p(handle.local_peer()));
    let peer = handle.local_peer();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            let NetworkEvent::Fetch {
                request, channel, ..
            } = e
            else {
                continue;
            };
            let src: &[u8] = match serves {
                Serves::OtherBlob => &other,
                _ => &blob,
            };
            let response = match request {
                FetchRequest::Blob(_) => FetchResponse::Blob(Some(src.to_vec())),
                FetchRequest::Manifest(_) => FetchResponse::Manifest(Some(manifest_of(src))),
                FetchRequest::Chunk { index, .. } => {
                    let mut c = src
                        .chunks(CHUNK_BYTES)
                        .nth(index as usize)
                        .map(<[u8]>::to_vec);
                    if let (Serves::CorruptChunk, 1, Some(c)) = (serves, index, c.as_mut()) {
                        c[3] ^= 0x40;
                    }
                    FetchResponse::Chunk(c)
                }
                FetchRequest::Blocks { .. } => FetchResponse::Blocks(vec![]),
                FetchRequest::Checkpoint => FetchResponse::Checkpoint(None),
                FetchRequest::Consistency { .. } => {
                    FetchResponse::Consistency(Err("no log".into()))
                }
            };
            let _ = handle.respond(channel, response).await;
        }
    });
    (peer, addr)
}

async fn fetcher(addrs: Vec<libp2p::Multiaddr>, peers: &[PeerId]) -> NetworkHandle {
    let (svc, handle, mut events) =
        NetworkService::new(&OrgKey::from_secret([99; 32], "fetcher"), config(addrs)).unwrap();
    tokio::spawn(svc.run());
    let mut want: BTreeSet<PeerId> = peers.iter().copied().collect();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !want.is_empty() {
            if let Some(NetworkEvent::Connected(p)) = events.recv().await {
                want.remove(&p);
            }
        }
    })
    .await
    .expect("connected to every server");
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    handle
}

fn values(params: usize, salt: f32) -> Vec<u8> {
    encode_update(
        &(0..params)
            .map(|i| (i % 1009) as f32 * 1e-3 + salt)
            .collect::<Vec<_>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_blob_comes_whole_from_honest_holders_despite_liars() {
    // Two full chunks and a short third.
    let params = (2 * CHUNK_BYTES + 4000) / 4;
    let blob = Arc::new(values(params, 0.0));
    let other = Arc::new(values(params, 0.5));
    let hash = Digest::of(&blob);
    let (liar, la) = server(1, Serves::OtherBlob, blob.clone(), other.clone()).await;
    let (corrupt, ca) = server(2, Serves::CorruptChunk, blob.clone(), other.clone()).await;
    let (honest, ha) = server(3, Serves::Honest, blob.clone(), other.clone()).await;
    let net = fetcher(vec![la, ca, ha], &[liar, corrupt, honest]).await;
    let t = Duration::from_secs(20);

    // The liar's manifest comes first and fails the whole-hash check; the corrupt holder is
    // dropped at chunk 1 and its chunk asked of the honest one.
    let got = fetch_blob(&net, vec![liar, corrupt, honest], hash, params, t).await;
    assert_eq!(got.as_deref(), Some(blob.as_slice()));
    // Only liars: nothing, rather than wrong bytes.
    assert_eq!(
        fetch_blob(&net, vec![liar, corrupt], hash, params, t).await,
        None
    );
    // The wrong size for the model: refused before any chunk is asked for.
    assert_eq!(
        fetch_blob(&net, vec![honest], hash, params + 1, t).await,
        None
    );

    // A blob of one chunk travels whole; the liar's whole blob fails its hash.
    let small_params = 1000;
    let small = values(small_params, 0.0);
    let small_hash = Digest::of(&small);
    let (liar2, la2) = server(
        4,
        Serves::OtherBlob,
        Arc::new(small.clone()),
        Arc::new(values(small_params, 0.5)),
    )
    .await;
    let (honest2, ha2) = server(5, Serves::Honest, Arc::new(small.clone()), Arc::new(vec![])).await;
    let net2 = fetcher(vec![la2, ha2], &[liar2, honest2]).await;
    let got = fetch_blob(&net2, vec![liar2, honest2], small_hash, small_params, t).await;
    assert_eq!(got, Some(small));
}
