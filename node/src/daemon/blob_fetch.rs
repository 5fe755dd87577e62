//! Fetching one update blob from peers: in one response when it fits, else by manifest and
//! chunks from every peer that holds it, in parallel, each chunk checked as it arrives.

use super::driver::TARGET;
use crate::learn::model::decode_update;
use crate::p2p::{BlobManifest, FetchRequest, FetchResponse, NetworkHandle, CHUNK_BYTES};
use fedledger_ledger::Digest;
use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::PeerId;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tracing::{debug, warn};

/// Chunk requests one peer has in flight at once: enough to keep a loopback or LAN link busy
/// while the next chunk is read from its disk.
const CHUNKS_IN_FLIGHT_PER_PEER: usize = 2;

/// The bytes of `hash`, a blob of `params` f32 values, from the first of `order` that serves
/// them (whole), or from all holders at once (chunked, for blobs over one chunk). `None` if no
/// peer served a blob that hashes to `hash` and decodes to `params` finite values.
pub async fn fetch_blob(
    net: &NetworkHandle,
    order: Vec<PeerId>,
    hash: Digest,
    params: usize,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let len = params.saturating_mul(4);
    let bytes = if len > CHUNK_BYTES {
        fetch_chunked(net, &order, hash, len as u64, timeout).await?
    } else {
        return fetch_whole(net, order, hash, params, timeout).await;
    };
    // Already known to hash to `hash`: what is left is that its values are the model's.
    let checked =
        tokio::task::spawn_blocking(move || is_update_of(&bytes, params).then_some(bytes))
            .await
            .ok()
            .flatten();
    if checked.is_none() {
        warn!(target: TARGET, blob = %hash.short(), "blob hashes right but is not a finite update of the model's size");
    }
    checked
}

async fn fetch_whole(
    net: &NetworkHandle,
    order: Vec<PeerId>,
    hash: Digest,
    params: usize,
    timeout: Duration,
) -> Option<Vec<u8>> {
    for peer in order {
        match tokio::time::timeout(timeout, net.fetch(peer, FetchRequest::Blob(hash))).await {
            Ok(Ok(FetchResponse::Blob(Some(bytes)))) => {
                if Digest::of(&bytes) != hash {
                    warn!(target: TARGET, %peer, "blob does not match its hash");
                    continue;
                }
                match decode_update(&bytes) {
                    Ok(v) if v.len() == params => return Some(bytes),
                    Ok(v) => {
                        warn!(target: TARGET, %peer, len = v.len(), params, "blob has the wrong size")
                    }
                    Err(e) => warn!(target: TARGET, %peer, error = %e, "blob does not decode"),
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => debug!(target: TARGET, %peer, error = %e, "blob fetch failed"),
            Err(_) => debug!(target: TARGET, %peer, "blob fetch timed out"),
        }
    }
    None
}

/// Ask every peer for the manifest, group the peers by the manifest they gave (in `order`'s
/// order of first appearance) and download from each group in turn until one yields the blob:
/// a liar's manifest costs one failed attempt, never the blob. Within a group a peer that fails
/// or serves a chunk that does not match is dropped and its chunk asked of another.
async fn fetch_chunked(
    net: &NetworkHandle,
    order: &[PeerId],
    hash: Digest,
    len: u64,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let asks = order.iter().map(|&p| async move {
        let r = tokio::time::timeout(timeout, net.fetch(p, FetchRequest::Manifest(hash))).await;
        (p, r)
    });
    let mut groups: Vec<(BlobManifest, Vec<PeerId>)> = Vec::new();
    for (p, r) in futures::future::join_all(asks).await {
        let Ok(Ok(FetchResponse::Manifest(Some(m)))) = r else {
            continue;
        };
        if !m.fits(len) {
            warn!(target: TARGET, peer = %p, blob = %hash.short(), "manifest does not fit the model's size");
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == m) {
            Some((_, holders)) => holders.push(p),
            None => groups.push((m, vec![p])),
        }
    }
    if groups.len() > 1 {
        warn!(target: TARGET, blob = %hash.short(), manifests = groups.len(), "peers gave different manifests; trying each");
    }
    for (manifest, holders) in groups {
        if let Some(bytes) = download(net, holders, hash, len, &manifest, timeout).await {
            return Some(bytes);
        }
    }
    None
}

/// The chunks of `manifest` from `holders`, a few requests in flight per holder, then the whole
/// checked against `hash`.
async fn download(
    net: &NetworkHandle,
    mut holders: Vec<PeerId>,
    hash: Digest,
    len: u64,
    manifest: &BlobManifest,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    let mut queue: VecDeque<u32> = (0..manifest.chunks.len() as u32).collect();
    let mut busy: BTreeMap<PeerId, usize> = holders.iter().map(|p| (*p, 0)).collect();
    let mut in_flight = FuturesUnordered::new();
    loop {
        while let Some(&index) = queue.front() {
            let Some(peer) = holders
                .iter()
                .copied()
                .filter(|p| busy.get(p).copied().unwrap_or(0) < CHUNKS_IN_FLIGHT_PER_PEER)
                .min_by_key(|p| busy.get(p).copied().unwrap_or(0))
            else {
                break;
            };
            queue.pop_front();
            *busy.entry(peer).or_default() += 1;
            let request = FetchRequest::Chunk { blob: hash, index };
            let (want, expected) = (
                BlobManifest::chunk_len(len, index),
                manifest.chunks[index as usize],
            );
            in_flight.push(async move {
                let r = tokio::time::timeout(timeout, net.fetch(peer, request)).await;
                // Hashing 8 MiB takes tens of milliseconds: off the async workers.
                let checked = match r {
                    Ok(Ok(FetchResponse::Chunk(Some(bytes)))) => {
                        tokio::task::spawn_blocking(move || {
                            let ok = bytes.len() == want && Digest::of(&bytes) == expected;
                            Chunk::Served(ok.then_some(bytes))
                        })
                        .await
                        .unwrap_or(Chunk::Missing)
                    }
                    _ => Chunk::Missing,
                };
                (index, peer, checked)
            });
        }
        let Some((index, peer, checked)) = in_flight.next().await else {
            break;
        };
        if let Some(b) = busy.get_mut(&peer) {
            *b = b.saturating_sub(1);
        }
        match checked {
            Chunk::Served(Some(bytes)) => {
                let start = index as usize * CHUNK_BYTES;
                buf[start..start + bytes.len()].copy_from_slice(&bytes);
            }
            other => {
                if matches!(other, Chunk::Served(None)) {
                    warn!(target: TARGET, %peer, blob = %hash.short(), index, "chunk does not match the manifest; peer dropped");
                } else {
                    debug!(target: TARGET, %peer, blob = %hash.short(), index, "chunk not served; peer dropped");
                }
                holders.retain(|p| *p != peer);
                queue.push_back(index);
            }
        }
    }
    if !queue.is_empty() {
        debug!(target: TARGET, blob = %hash.short(), missing = queue.len(), "no holder left for some chunks");
        return None;
    }
    let (hash_ok, buf) = tokio::task::spawn_blocking(move || (Digest::of(&buf) == hash, buf))
        .await
        .ok()?;
    if !hash_ok {
        // Every chunk matched the manifest, so the manifest itself was false.
        warn!(target: TARGET, blob = %hash.short(), holders = holders.len(), "chunks match the manifest but not the blob's hash");
        return None;
    }
    Some(buf)
}

/// What one chunk request came back with.
enum Chunk {
    /// The peer answered with bytes: `Some` if they are the manifest's chunk.
    Served(Option<Vec<u8>>),
    /// No answer, an error, a timeout or "not held".
    Missing,
}

/// Whether `bytes` are `params` finite little-endian f32 values: what [`decode_update`] checks,
/// without allocating the decoded copy.
pub(crate) fn is_update_of(bytes: &[u8], params: usize) -> bool {
    bytes.len() == params.saturating_mul(4)
        && bytes
            .chunks_exact(4)
            .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
}
