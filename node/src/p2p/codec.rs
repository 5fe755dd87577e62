//! The fetch protocol: request an update blob or a range of blocks by hash or height. Framed as a
//! u32 length and canonical bytes, with hard size limits enforced before allocation.

use async_trait::async_trait;
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
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchResponse {
    /// The blob, or `None` if this peer does not have it.
    Blob(Option<Vec<u8>>),
    /// Canonical encodings of consecutive blocks (possibly fewer than asked, empty at the tip).
    Blocks(Vec<Vec<u8>>),
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
        decode(&read_frame(io, MAX_RESPONSE_BYTES).await?)
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

    #[tokio::test]
    async fn frames_round_trip_and_oversized_frames_are_refused_before_allocation() {
        let mut c = FetchCodec;
        let mut buf = Vec::new();
        let res = FetchResponse::Blob(Some(vec![7u8; 1000]));
        c.write_response(
            &PROTOCOL,
            &mut futures::io::Cursor::new(&mut buf),
            res.clone(),
        )
        .await
        .unwrap();
        let back = c
            .read_response(&PROTOCOL, &mut futures::io::Cursor::new(&buf))
            .await
            .unwrap();
        assert_eq!(back, res);

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
}
