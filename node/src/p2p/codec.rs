//! The fetch protocol: request an update blob or a range of blocks by hash or height, or the
//! node's latest signed checkpoint and consistency proofs of its block log. Framed as a u32
//! length and canonical bytes, with hard size limits enforced before allocation, and per-answer
//! limits (note length, proof hashes) checked on both sides.

use async_trait::async_trait;
use fedledger_ledger::tlog::{MAX_NOTE_BYTES, MAX_PROOF_HASHES};
use fedledger_ledger::Digest;
use futures::prelude::*;
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};
use std::io;

/// Largest request accepted (requests are tiny).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024;
/// Largest response accepted: a model update of a few million parameters, or a batch of blocks.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Most blocks returned per request.
pub const MAX_BLOCKS_PER_RESPONSE: u32 = 64;

/// A blob larger than one chunk travels in chunks of this many bytes (the last one shorter),
/// each checked against the blob's [`BlobManifest`] as it arrives.
pub const CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// Most chunks of one blob: the genesis limit of 2^28 f32 (1 GiB) in [`CHUNK_BYTES`].
pub const MAX_CHUNKS: usize = 128;

/// Longest refusal reason carried by a [`FetchResponse::Consistency`] error.
pub const MAX_REASON_BYTES: usize = 512;

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/fedledger/fetch/1");

/// What a peer asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchRequest {
    /// Update bytes with this SHA-256.
    Blob(Digest),
    /// Finalized blocks from `from`, at most `max` (servers cap it at [`MAX_BLOCKS_PER_RESPONSE`]).
    Blocks {
        /// First height.
        from: u64,
        /// How many at most (capped at [`MAX_BLOCKS_PER_RESPONSE`]).
        max: u32,
    },
    /// The chunk hashes of the blob with this SHA-256.
    Manifest(Digest),
    /// One chunk of a blob.
    Chunk {
        /// The blob's SHA-256.
        blob: Digest,
        /// Which chunk (from 0).
        index: u32,
    },
    /// The node's latest signed checkpoint of its block log. Appended after the variants
    /// above so their wire encodings are unchanged; a node that predates it fails to decode
    /// the request and closes the stream (the requester sees a failed request, not a hang).
    Checkpoint,
    /// The RFC 6962 consistency proof of the node's block log from size `old` to size `new`.
    Consistency {
        /// The smaller size (at least 1).
        old: u64,
        /// The larger size (at most the node's height).
        new: u64,
    },
}

/// A consistency proof between two sizes of a node's block log, with both roots. A peer's
/// word: the requester checks the roots against its checkpoints and the proof against them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyAnswer {
    /// The smaller size.
    pub old_size: u64,
    /// The log's root at `old_size`.
    pub old_root: Digest,
    /// The larger size.
    pub new_size: u64,
    /// The log's root at `new_size`.
    pub new_root: Digest,
    /// The proof hashes (at most [`MAX_PROOF_HASHES`]).
    pub proof: Vec<Digest>,
}

/// How a large blob splits into chunks: its length and each chunk's SHA-256. A peer's word
/// until the last chunk is in: the whole must then hash to the blob's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobManifest {
    /// Bytes in all.
    pub len: u64,
    /// SHA-256 of each [`CHUNK_BYTES`] chunk, in order.
    pub chunks: Vec<Digest>,
}

impl BlobManifest {
    /// Chunks a blob of `len` bytes has.
    pub fn chunk_count(len: u64) -> u64 {
        len.div_ceil(CHUNK_BYTES as u64).max(1)
    }

    /// Length of chunk `index` of a blob of `len` bytes.
    pub fn chunk_len(len: u64, index: u32) -> usize {
        let start = u64::from(index).saturating_mul(CHUNK_BYTES as u64);
        len.saturating_sub(start).min(CHUNK_BYTES as u64) as usize
    }

    /// Whether it is the manifest of a blob of `len` bytes (one hash per chunk, within limits).
    pub fn fits(&self, len: u64) -> bool {
        self.len == len
            && self.chunks.len() as u64 == Self::chunk_count(len)
            && self.chunks.len() <= MAX_CHUNKS
    }
}

/// The answer. Byte payloads go through `serde_bytes`: in postcard that is the same wire format
/// as a sequence of `u8` (a varint length, then the bytes), written with one copy instead of
/// one serializer call per byte, which mattered for 8 MiB chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchResponse {
    /// The blob, or `None` if this peer does not have it.
    Blob(#[serde(with = "serde_bytes")] Option<Vec<u8>>),
    /// Canonical encodings of consecutive blocks (possibly fewer than asked, empty at the tip).
    Blocks(Vec<Vec<u8>>),
    /// The blob's manifest, or `None` if this peer does not have it.
    Manifest(Option<BlobManifest>),
    /// The chunk, or `None` if this peer does not have the blob.
    Chunk(#[serde(with = "serde_bytes")] Option<Vec<u8>>),
    /// The latest signed checkpoint note (at most [`MAX_NOTE_BYTES`]), or `None` before the
    /// first block.
    Checkpoint(Option<String>),
    /// The proof, or why the sizes cannot be proven (at most [`MAX_REASON_BYTES`]).
    Consistency(Result<ConsistencyAnswer, String>),
}

impl FetchResponse {
    /// Whether the answer is within the per-answer limits, and if not, why. Checked before a
    /// response is sent and after one is decoded, so an oversized note or proof is a failed
    /// request on both sides rather than something a caller has to remember to check.
    pub fn check_limits(&self) -> Result<(), String> {
        match self {
            FetchResponse::Checkpoint(Some(note)) if note.len() > MAX_NOTE_BYTES => Err(format!(
                "a checkpoint note of {} bytes (limit {MAX_NOTE_BYTES})",
                note.len()
            )),
            FetchResponse::Consistency(Ok(a)) if a.proof.len() > MAX_PROOF_HASHES => Err(format!(
                "a consistency proof of {} hashes (limit {MAX_PROOF_HASHES})",
                a.proof.len()
            )),
            FetchResponse::Consistency(Err(r)) if r.len() > MAX_REASON_BYTES => Err(format!(
                "a refusal of {} bytes (limit {MAX_REASON_BYTES})",
                r.len()
            )),
            _ => Ok(()),
        }
    }

    /// What kind of answer it is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchResponse::Blob(_) => "a blob",
            FetchResponse::Blocks(_) => "blocks",
            FetchResponse::Manifest(_) => "a manifest",
            FetchResponse::Chunk(_) => "a chunk",
            FetchResponse::Checkpoint(_) => "a checkpoint",
            FetchResponse::Consistency(_) => "a consistency proof",
        }
    }
}

/// Length-prefixed postcard with limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {limit} byte limit"),
        ));
    }
    // Grow with what arrives instead of allocating the claimed length up front: a peer that
    // sends a 4-byte header claiming 64 MiB and then stalls must not cost 64 MiB per stream.
    let mut buf = Vec::new();
    let got = (&mut *io).take(len as u64).read_to_end(&mut buf).await?;
    if got != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame of {len} bytes ended after {got}"),
        ));
    }
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    bytes: &[u8],
    limit: usize,
) -> io::Result<()> {
    if bytes.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to send {} bytes (limit {limit})", bytes.len()),
        ));
    }
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

fn decode<T: serde::de::DeserializeOwned + Serialize>(bytes: &[u8]) -> io::Result<T> {
    fedledger_ledger::codec::decode(bytes, "fetch message")
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

#[async_trait]
impl libp2p::request_response::Codec for FetchCodec {
    type Protocol = StreamProtocol;
    type Request = FetchRequest;
    type Response = FetchResponse;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<FetchRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, MAX_REQUEST_BYTES).await?)
    }

    async fn read_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> io::Result<FetchResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let res: FetchResponse = decode(&read_frame(io, MAX_RESPONSE_BYTES).await?)?;
        res.check_limits().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("the peer sent {e}"))
        })?;
        Ok(res)
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: FetchRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(
            io,
            &fedledger_ledger::codec::encode(&req),
            MAX_REQUEST_BYTES,
        )
        .await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: FetchResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        res.check_limits().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("refusing to send {e}"))
        })?;
        write_frame(
            io,
            &fedledger_ledger::codec::encode(&res),
            MAX_RESPONSE_BYTES,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::request_response::Codec as _;

    #[test]
    fn byte_payloads_keep_the_wire_format_of_a_byte_sequence() {
        // What FetchResponse was before `serde_bytes`: peers on either side must agree.
        #[derive(Serialize)]
        enum Before {
            Blob(Option<Vec<u8>>),
            Blocks(Vec<Vec<u8>>),
            Manifest(Option<BlobManifest>),
            Chunk(Option<Vec<u8>>),
        }
        let bytes = vec![0u8, 1, 255, 128, 7];
        fn enc<T: Serialize>(v: &T) -> Vec<u8> {
            fedledger_ledger::codec::encode(v)
        }
        assert_eq!(
            enc(&FetchResponse::Blob(Some(bytes.clone()))),
            enc(&Before::Blob(Some(bytes.clone())))
        );
        assert_eq!(
            enc(&FetchResponse::Chunk(Some(bytes.clone()))),
            enc(&Before::Chunk(Some(bytes.clone())))
        );
        assert_eq!(enc(&FetchResponse::Chunk(None)), enc(&Before::Chunk(None)));
        let _ = (Before::Blocks(vec![]), Before::Manifest(None));
    }

    /// Write `res` as a frame and read it back.
    async fn response_round_trip(res: &FetchResponse) -> FetchResponse {
        let mut c = FetchCodec;
        let mut buf = Vec::new();
        c.write_response(
            &PROTOCOL,
            &mut futures::io::Cursor::new(&mut buf),
            res.clone(),
        )
        .await
        .unwrap();
        c.read_response(&PROTOCOL, &mut futures::io::Cursor::new(&buf))
            .await
            .unwrap()
    }

    /// Write `req` as a frame and read it back.
    async fn request_round_trip(req: &FetchRequest) -> FetchRequest {
        let mut c = FetchCodec;
        let mut buf = Vec::new();
        c.write_request(
            &PROTOCOL,
            &mut futures::io::Cursor::new(&mut buf),
            req.clone(),
        )
        .await
        .unwrap();
        c.read_request(&PROTOCOL, &mut futures::io::Cursor::new(&buf))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn frames_round_trip_and_oversized_frames_are_refused_before_allocation() {
        let mut c = FetchCodec;
        let res = FetchResponse::Blob(Some(vec![7u8; 1000]));
        assert_eq!(response_round_trip(&res).await, res);

        // The chunked-transfer messages round-trip too.
        let manifest = BlobManifest {
            len: CHUNK_BYTES as u64 + 1,
            chunks: vec![Digest::of(b"a"), Digest::of(b"b")],
        };
        assert!(manifest.fits(CHUNK_BYTES as u64 + 1));
        assert!(!manifest.fits(CHUNK_BYTES as u64));
        assert_eq!(BlobManifest::chunk_len(CHUNK_BYTES as u64 + 1, 1), 1);
        for res in [
            FetchResponse::Manifest(Some(manifest)),
            FetchResponse::Manifest(None),
            FetchResponse::Chunk(Some(vec![1, 2, 3])),
            FetchResponse::Chunk(None),
        ] {
            assert_eq!(response_round_trip(&res).await, res);
        }
        for req in [
            FetchRequest::Manifest(Digest::of(b"x")),
            FetchRequest::Chunk {
                blob: Digest::of(b"x"),
                index: 127,
            },
        ] {
            assert_eq!(request_round_trip(&req).await, req);
        }

        // A length prefix claiming 1 GiB is rejected without reading (or allocating) it.
        let mut huge = (1u32 << 30).to_be_bytes().to_vec();
        huge.extend_from_slice(&[0; 16]);
        let err = c
            .read_response(&PROTOCOL, &mut futures::io::Cursor::new(&huge))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exceeds"));
        // Requests have a much smaller limit.
        let mut big_req = 10_000u32.to_be_bytes().to_vec();
        big_req.extend(vec![0; 10_000]);
        assert!(c
            .read_request(&PROTOCOL, &mut futures::io::Cursor::new(&big_req))
            .await
            .is_err());
        // Garbage of an allowed size is an error, not a panic.
        let mut garbage = 8u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xff; 8]);
        assert!(c
            .read_request(&PROTOCOL, &mut futures::io::Cursor::new(&garbage))
            .await
            .is_err());
    }

    /// Frame `bytes` as the codec does, bypassing its send-side checks.
    fn frame(bytes: &[u8]) -> Vec<u8> {
        let mut f = (bytes.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(bytes);
        f
    }

    #[tokio::test]
    async fn checkpoint_and_consistency_round_trip_within_their_limits_and_not_beyond() {
        let mut c = FetchCodec;
        let answer = ConsistencyAnswer {
            old_size: 3,
            old_root: Digest::of(b"old"),
            new_size: 9,
            new_root: Digest::of(b"new"),
            proof: vec![Digest::of(b"p"); MAX_PROOF_HASHES],
        };
        for res in [
            FetchResponse::Checkpoint(Some("fedledger/00\n1\nAAAA\n\n".into())),
            FetchResponse::Checkpoint(Some("x".repeat(MAX_NOTE_BYTES))),
            FetchResponse::Checkpoint(None),
            FetchResponse::Consistency(Ok(answer.clone())),
            FetchResponse::Consistency(Err("the log holds 4 blocks, not 9".into())),
        ] {
            assert_eq!(response_round_trip(&res).await, res);
        }
        for req in [
            FetchRequest::Checkpoint,
            FetchRequest::Consistency {
                old: 1,
                new: u64::MAX,
            },
        ] {
            assert_eq!(request_round_trip(&req).await, req);
        }

        // Beyond the limits: the sender refuses, and a receiver refuses what a peer sends anyway.
        let mut long = answer;
        long.proof.push(Digest::of(b"one too many"));
        for res in [
            FetchResponse::Checkpoint(Some("x".repeat(MAX_NOTE_BYTES + 1))),
            FetchResponse::Consistency(Ok(long)),
            FetchResponse::Consistency(Err("r".repeat(MAX_REASON_BYTES + 1))),
        ] {
            let mut buf = Vec::new();
            let err = c
                .write_response(
                    &PROTOCOL,
                    &mut futures::io::Cursor::new(&mut buf),
                    res.clone(),
                )
                .await
                .unwrap_err();
            assert!(err.to_string().contains("refusing to send"), "{err}");
            assert!(buf.is_empty(), "nothing is written");
            let sent = frame(&fedledger_ledger::codec::encode(&res));
            let err = c
                .read_response(&PROTOCOL, &mut futures::io::Cursor::new(&sent))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("limit"), "{err}");
        }
    }

    #[tokio::test]
    async fn the_earlier_variants_keep_their_wire_tags_and_unknown_ones_are_clean_errors() {
        let enc = fedledger_ledger::codec::encode::<FetchRequest>;
        // Old peers' requests decode exactly as before the new variants were appended.
        assert_eq!(enc(&FetchRequest::Blocks { from: 1, max: 2 })[0], 1);
        assert_eq!(
            enc(&FetchRequest::Chunk {
                blob: Digest::of(b""),
                index: 0
            })[0],
            3
        );
        assert_eq!(enc(&FetchRequest::Checkpoint), vec![4]);
        assert_eq!(
            enc(&FetchRequest::Consistency { old: 1, new: 2 }),
            vec![5, 1, 2]
        );
        // A request from a newer peer that this one does not know: an error, no panic.
        let mut c = FetchCodec;
        for unknown in [
            vec![6u8],
            vec![0x7f, 1, 2, 3],
            vec![0xff, 0xff, 0xff, 0xff, 0x0f],
        ] {
            let err = c
                .read_request(&PROTOCOL, &mut futures::io::Cursor::new(&frame(&unknown)))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        }
        // A truncated consistency answer is an error too.
        let whole =
            fedledger_ledger::codec::encode(&FetchResponse::Consistency(Ok(ConsistencyAnswer {
                old_size: 1,
                old_root: Digest::of(b"a"),
                new_size: 2,
                new_root: Digest::of(b"b"),
                proof: vec![Digest::of(b"c")],
            })));
        let cut = frame(&whole[..whole.len() - 5]);
        assert!(c
            .read_response(&PROTOCOL, &mut futures::io::Cursor::new(&cut))
            .await
            .is_err());
    }
}
