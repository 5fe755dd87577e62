//! One poll: ask each peer for its checkpoint, compare it with the verified history, catch up
//! on the blocks it is ahead by, and cosign what verified.

use super::alarm::{hex, Alarm, AlarmKind, Side};
use super::serve::{Metrics, Served};
use super::view::View;
use super::{Witness, TARGET};
use crate::cmd::checkpoint_peer::PeerProof;
use crate::http_client::HttpClient;
use fedledger_ledger::codec::MAX_ENCODED_LEN;
use fedledger_ledger::tlog::{self, OpenedCheckpoint, MAX_NOTE_BYTES};
use fedledger_ledger::verify::Rule;
use fedledger_ledger::{Block, Digest};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// Most bytes of a `/blocks` answer read (the node stops adding blocks at 16 MiB, but one
/// block may be larger).
const MAX_BLOCKS_ANSWER: usize = 16 * 1024 * 1024 + MAX_ENCODED_LEN;
/// Checkpoints ahead of the verified history kept for a later comparison (from peers that
/// serve no blocks, such as other monitors).
const MAX_PENDING: usize = 256;

/// A checkpoint seen ahead of the verified history.
#[derive(Debug)]
struct Pending {
    peer: String,
    note: Vec<u8>,
    opened: OpenedCheckpoint,
}

/// The monitor's state between polls.
#[derive(Debug)]
pub struct Monitor {
    view: View,
    dir: PathBuf,
    witness: Option<Witness>,
    metrics: Metrics,
    http: HttpClient,
    json: bool,
    served: Served,
    pending: Vec<Pending>,
    raised: HashSet<(AlarmKind, String, u64, String)>,
    alarms: u64,
    /// Peers whose last poll failed (logged once, until they answer again).
    down: HashSet<String>,
}

impl Monitor {
    /// A monitor over `view`.
    pub fn new(
        view: View,
        dir: PathBuf,
        witness: Option<Witness>,
        metrics: Metrics,
        timeout: Duration,
        json: bool,
    ) -> Self {
        let served: Served = Arc::new(std::sync::RwLock::new(view.latest().map(str::to_string)));
        metrics
            .verified_height
            .set(i64::try_from(view.height()).unwrap_or(i64::MAX));
        Monitor {
            view,
            dir,
            witness,
            metrics,
            http: HttpClient::new(timeout),
            json,
            served,
            pending: Vec::new(),
            raised: HashSet::new(),
            alarms: 0,
            down: HashSet::new(),
        }
    }

    /// What the listener serves.
    pub fn served(&self) -> Served {
        self.served.clone()
    }

    /// Alarms raised so far.
    pub fn alarms(&self) -> u64 {
        self.alarms
    }

    /// Poll every peer once, then re-check checkpoints seen ahead of the verified history.
    pub async fn poll_all(&mut self, peers: &[String]) {
        for peer in peers {
            self.metrics.polls.inc();
            match self.poll(peer).await {
                Err(e) => {
                    self.metrics.peer_errors.inc();
                    if self.down.insert(peer.clone()) {
                        warn!(target: TARGET, %peer, error = format!("{e:#}"), "poll failed (logged again once it answers)");
                    }
                }
                Ok(()) => {
                    if self.down.remove(peer) {
                        info!(target: TARGET, %peer, "answers again");
                    }
                }
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            if p.opened.size <= self.view.height() {
                self.compare(&p.peer, &p.note, &p.opened, AlarmKind::SplitView);
            } else if self.pending.len() < MAX_PENDING {
                self.pending.push(p);
            }
        }
        self.metrics
            .verified_height
            .set(i64::try_from(self.view.height()).unwrap_or(i64::MAX));
        if self.json {
            println!(
                "{}",
                serde_json::json!({
                    "event": "poll",
                    "verified_height": self.view.height(),
                    "root": self.view.root_at(self.view.height()).map(|r| r.to_hex()),
                    "alarms": self.alarms,
                    "pending": self.pending.len(),
                })
            );
        }
    }

    async fn poll(&mut self, peer: &str) -> anyhow::Result<()> {
        let (code, note) = self.http.get(peer, "/checkpoint", MAX_NOTE_BYTES).await?;
        if code == 404 {
            return Ok(()); // nothing committed yet
        }
        anyhow::ensure!(code == 200, "GET /checkpoint answered {code}");
        let opened = match self.view.open_note(&note) {
            Ok(o) => o,
            Err(e) => {
                // Possibly signed by a member that joined after the verified height: catch up
                // on the blocks first, then try again.
                if !self.catch_up(peer, None).await? {
                    return Err(e.context("its checkpoint does not verify"));
                }
                self.view.open_note(&note)?
            }
        };
        let height = self.view.height();
        if opened.size <= height {
            self.compare(peer, &note, &opened, AlarmKind::SplitView);
            return Ok(());
        }
        if height > 0 && !self.check_extension(peer, &note, &opened).await? {
            return Ok(());
        }
        if !self.catch_up(peer, Some(opened.size)).await? || self.view.height() < opened.size {
            if self.pending.len() < MAX_PENDING {
                self.pending.push(Pending {
                    peer: peer.to_string(),
                    note: note.to_vec(),
                    opened,
                });
            }
            return Ok(());
        }
        // The blocks after the verified height came from this peer: a root that differs now
        // is a checkpoint that does not describe its own blocks.
        self.compare(peer, &note, &opened, AlarmKind::FalseCheckpoint);
        Ok(())
    }

    /// Ask the peer to prove its checkpoint extends the verified history. `Ok(false)` when
    /// it does not (alarm raised); `Ok(true)` when it does or the peer proves nothing (a
    /// monitor): the blocks or a later comparison decide then.
    async fn check_extension(
        &mut self,
        peer: &str,
        note: &[u8],
        theirs: &OpenedCheckpoint,
    ) -> anyhow::Result<bool> {
        let old = self.view.height();
        let path = format!("/consistency?old={old}&new={}", theirs.size);
        let Ok((200, body)) = self.http.get(peer, &path, 64 * 1024).await else {
            return Ok(true);
        };
        let p: PeerProof = serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("GET {path}: not a consistency proof: {e}"))?;
        let ours = self.view.root_at(old);
        // verify_consistency refuses oversized proofs itself.
        let verdict = if Some(p.old_root) != ours || p.new_root != theirs.root {
            Err(format!(
                "its log has root {} at size {old}, the verified history {}",
                p.old_root,
                hex(ours).unwrap_or_default()
            ))
        } else {
            tlog::verify_consistency(old, &p.old_root, theirs.size, &theirs.root, &p.proof)
                .map_err(|e| e.to_string())
        };
        match verdict {
            Ok(()) => Ok(true),
            Err(why) => {
                self.raise(
                    AlarmKind::NotAnExtension,
                    peer,
                    note,
                    theirs,
                    format!(
                        "its checkpoint of size {} does not extend the history verified to height {old}: {why}",
                        theirs.size
                    ),
                );
                Ok(false)
            }
        }
    }

    /// Fetch and verify the peer's blocks up to `until` (or its tip). `Ok(false)` when the
    /// peer serves no blocks (a monitor) or its blocks were refused (alarm raised).
    async fn catch_up(&mut self, peer: &str, until: Option<u64>) -> anyhow::Result<bool> {
        loop {
            let height = self.view.height();
            if until.is_some_and(|u| height >= u) {
                return Ok(true);
            }
            let from = height.max(1);
            let path = format!("/blocks?from={from}&max=256");
            let (code, body) = match self.http.get(peer, &path, MAX_BLOCKS_ANSWER).await {
                Ok(a) => a,
                Err(_) => return Ok(false),
            };
            if code != 200 {
                return Ok(false);
            }
            let mut blocks = decode_frames(&body)?;
            if let Some(u) = until {
                blocks.retain(|b| b.header.height <= u);
            }
            let new = blocks.iter().filter(|b| b.header.height > height).count();
            if new == 0 {
                return Ok(until.is_none());
            }
            if let Some(v) = self.view.extend(blocks)? {
                let kind = if v.rule == Rule::Rewrite {
                    AlarmKind::Rewrite
                } else {
                    AlarmKind::InvalidLedger
                };
                let detail = v.to_string();
                self.raise_without_checkpoint(kind, peer, v.height, detail);
                return Ok(false);
            }
            info!(target: TARGET, %peer, from = height + 1, to = self.view.height(), "verified new blocks");
        }
    }

    /// Compare a checkpoint of a verified size with the verified history; cosign and serve it
    /// when it is the latest.
    fn compare(
        &mut self,
        peer: &str,
        note: &[u8],
        theirs: &OpenedCheckpoint,
        on_mismatch: AlarmKind,
    ) {
        let ours = self.view.root_at(theirs.size);
        if ours != Some(theirs.root) {
            let detail = format!(
                "its checkpoint has root {} at size {}, the verified history {}",
                theirs.root,
                theirs.size,
                hex(ours).unwrap_or_default()
            );
            self.raise(on_mismatch, peer, note, theirs, detail);
            return;
        }
        if theirs.size == self.view.height()
            && self.view.latest().is_none_or(|l| {
                self.view
                    .open_note(l.as_bytes())
                    .map_or(true, |o| o.size < theirs.size)
            })
        {
            let text = String::from_utf8_lossy(note).into_owned();
            let vouched = match &self.witness {
                Some(w) => match tlog::add_cosignature(note, &w.name, &w.key, now()) {
                    Ok(n) => n,
                    Err(e) => {
                        warn!(target: TARGET, error = %e, "could not cosign");
                        text
                    }
                },
                None => text,
            };
            if let Err(e) = self.view.set_latest(vouched.clone()) {
                warn!(target: TARGET, error = %e, "could not store the checkpoint");
            }
            if let Ok(mut s) = self.served.write() {
                *s = Some(vouched);
            }
            info!(target: TARGET, %peer, size = theirs.size, root = %theirs.root, cosigned = self.witness.is_some(), "checkpoint verified");
        }
    }

    fn ours(&self, their_size: u64) -> (Option<Side>, Option<String>, Vec<String>) {
        let side = self.view.latest().and_then(|n| {
            let o = self.view.open_note(n.as_bytes()).ok()?;
            Some(Side::theirs("this monitor", n.as_bytes(), &o))
        });
        let root = hex(self.view.root_at(their_size));
        let proof = if root.is_some() {
            self.view
                .consistency_to_tip(their_size)
                .iter()
                .map(Digest::to_hex)
                .collect()
        } else {
            Vec::new()
        };
        (side, root, proof)
    }

    fn raise(
        &mut self,
        kind: AlarmKind,
        peer: &str,
        note: &[u8],
        theirs: &OpenedCheckpoint,
        detail: String,
    ) {
        let (ours, our_root, proof) = self.ours(theirs.size);
        self.emit(Alarm {
            kind,
            peer: peer.to_string(),
            detected_at: now(),
            detail,
            ours,
            theirs: Side::theirs(peer, note, theirs),
            our_root_at_their_size: our_root,
            consistency_proof: proof,
        });
    }

    fn raise_without_checkpoint(
        &mut self,
        kind: AlarmKind,
        peer: &str,
        height: u64,
        detail: String,
    ) {
        let (ours, our_root, proof) = self.ours(height);
        self.emit(Alarm {
            kind,
            peer: peer.to_string(),
            detected_at: now(),
            detail: detail.clone(),
            ours,
            theirs: Side {
                source: peer.to_string(),
                note: None,
                size: height,
                root: String::new(),
                signers: Vec::new(),
            },
            our_root_at_their_size: our_root,
            consistency_proof: proof,
        });
    }

    fn emit(&mut self, alarm: Alarm) {
        if !self.raised.insert(alarm.key()) {
            return;
        }
        self.alarms += 1;
        self.metrics.alarms.inc();
        let file = alarm
            .write(&self.dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| format!("(evidence not written: {e})"));
        error!(target: TARGET, kind = ?alarm.kind, peer = %alarm.peer, evidence = %file, "ALARM: {}", alarm.detail);
        if self.json {
            println!(
                "{}",
                serde_json::json!({ "event": "alarm", "evidence": file, "alarm": alarm })
            );
        }
    }
}

/// Split a `/blocks` answer (4-byte big-endian length, block bytes, ...) into blocks.
fn decode_frames(mut body: &[u8]) -> anyhow::Result<Vec<Block>> {
    let mut blocks = Vec::new();
    while !body.is_empty() {
        let (len, rest) = body
            .split_first_chunk::<4>()
            .ok_or_else(|| anyhow::anyhow!("a truncated block frame"))?;
        let len = u32::from_be_bytes(*len) as usize;
        anyhow::ensure!(
            len <= MAX_ENCODED_LEN && len <= rest.len(),
            "a block frame of {len} bytes does not fit"
        );
        blocks.push(Block::decode(&rest[..len])?);
        body = &rest[len..];
    }
    Ok(blocks)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::decode_frames;
    use fedledger_ledger::testutil::TestChain;

    #[test]
    fn block_frames_round_trip_and_junk_is_an_error_not_a_panic() {
        let mut c = TestChain::new(4, 1, "median");
        let blocks: Vec<_> = (0..3).map(|_| c.next_block()).collect();
        let mut body = Vec::new();
        for b in &blocks {
            let raw = b.encode();
            body.extend_from_slice(&(raw.len() as u32).to_be_bytes());
            body.extend_from_slice(&raw);
        }
        let got = decode_frames(&body).unwrap();
        assert_eq!(
            got.iter().map(|b| b.hash()).collect::<Vec<_>>(),
            blocks.iter().map(|b| b.hash()).collect::<Vec<_>>()
        );
        // Truncated anywhere, a length past the end, a huge length, or garbage: errors.
        for cut in [1, 3, 4, 10, body.len() - 1] {
            assert!(decode_frames(&body[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_frames(&[0xff, 0xff, 0xff, 0xff, 1, 2]).is_err());
        assert!(decode_frames(&[0, 0, 0, 2, 7, 7]).is_err());
        for seed in 0u8..=255 {
            let junk: Vec<u8> = (0..64u8)
                .map(|i| i.wrapping_mul(seed).wrapping_add(seed))
                .collect();
            let _ = decode_frames(&junk);
        }
    }
}
