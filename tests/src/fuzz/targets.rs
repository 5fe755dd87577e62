//! The fuzz targets: every decoder a peer or a file reaches, each with valid seed encodings built
//! by the real encoders and a round-trip check where the format is canonical.

use super::{Format, Outcome, Target};
use fedledger_ledger::block::{
    limits, Entry, GroupRates, LocalMetrics, MembershipChange, UpdateCommitment,
};
use fedledger_ledger::export::{audit_export, ExportReader, ExportWriter};
use fedledger_ledger::proof::{build_proof, verify_proof, EntryProof};
use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::testutil::{test_key, RoundPlan, TestChain};
use fedledger_ledger::tlog;
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{codec, Block, BlockHeader, Digest, Genesis, OrgId, OrgKey};
use fedledger_node::consensus::{
    Certificate, Message, Proposal, SafetyState, SignedVote, VoteKind,
};
use fedledger_node::daemon::state::{ReleasedUpdate, StoredModel};
use fedledger_node::daemon::sync::check_raw;
use fedledger_node::daemon::wire::{Envelope, Gossip};
use fedledger_node::daemon::{NodeConfig, Shared, Status};
use fedledger_node::learn::data::csv::read_table;
use fedledger_node::learn::data::Schema;
use fedledger_node::learn::model::{decode_update, encode_update, model_hash};
use fedledger_node::p2p::{
    org_of_peer, peer_of_org, BlobManifest, ConsistencyAnswer, FetchCodec, FetchRequest,
    FetchResponse, CHUNK_BYTES, MAX_BLOCKS_PER_RESPONSE,
};
use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::request_response::Codec as _;
use libp2p::{PeerId, StreamProtocol};

/// The codec ignores the protocol name; this is the one it is registered under.
const PROTOCOL: StreamProtocol = StreamProtocol::new("/fedledger/fetch/1");
use serde::{de::DeserializeOwned, Serialize};
use std::path::PathBuf;
use std::sync::OnceLock;

const NODE_TOML: &str = include_str!("../../../configs/node.example.toml");
const GENESIS_TOML: &str = include_str!("../../../configs/genesis.example.toml");
const SCHEMA_TOML: &str = include_str!("../../../configs/credit_default.schema.toml");

/// A small signed chain with every entry kind, and what is derived from it.
#[derive(Debug)]
pub struct Fixture {
    /// The genesis.
    pub genesis: Genesis,
    /// Its chain id.
    pub chain_id: Digest,
    /// Members' keys (the founders and the joiner).
    pub keys: Vec<OrgKey>,
    /// Blocks 1..=5: contributions, an exclusion, a join, the joiner contributing.
    pub blocks: Vec<Block>,
    /// The join recorded in block 3.
    pub change: MembershipChange,
    /// An export of the blocks.
    pub export: Vec<u8>,
    /// A JSON proof of an entry in block 5, with the membership history.
    pub proof_json: Vec<u8>,
    /// The credit schema.
    pub schema: Schema,
}

/// The shared fixture (built once: signing is the slow part).
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build_fixture)
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
fn build_fixture() -> Fixture {
    let mut c = TestChain::new(4, 1, "median");
    let b1 = c.next_block();
    let first = c.state.validators()[0];
    let groups = vec![
        GroupRates {
            group: "No".into(),
            count: 150,
            positives: 10,
            positive_rate: 0.1,
            true_positive_rate: 0.5,
        },
        GroupRates {
            group: "Yes".into(),
            count: 50,
            positives: 5,
            positive_rate: 0.2,
            true_positive_rate: 0.4,
        },
    ];
    let b = c.build(&RoundPlan {
        excluded: vec![first],
        claimed: Some(LocalMetrics {
            examples: 200,
            loss: 0.5,
            accuracy: 0.8,
            auc: 0.85,
            groups,
        }),
        ..Default::default()
    });
    let b2 = c.push(b);
    let change = c.join(test_key(10), 5.0);
    let b = c.build(&RoundPlan {
        membership: vec![change.clone()],
        ..Default::default()
    });
    let b3 = c.push(b);
    let b4 = c.next_block();
    let b5 = c.next_block();
    let blocks = vec![b1, b2, b3, b4, b5];
    let chain_id = c.chain_id();
    let mut w = ExportWriter::new(Vec::new(), &chain_id).unwrap();
    for b in &blocks {
        w.write_block(b).unwrap();
    }
    let export = w.finish().unwrap().0;
    let store = SledStore::temporary().unwrap();
    for b in &blocks {
        store.append(b).unwrap();
    }
    let update = blocks[4]
        .entries
        .iter()
        .find_map(Entry::update_hash)
        .unwrap();
    let proof = build_proof(&store, chain_id, &update).unwrap();
    let proof_json = serde_json::to_vec_pretty(&proof).unwrap();
    Fixture {
        genesis: c.genesis.clone(),
        chain_id,
        keys: c
            .keys
            .iter()
            .map(|k| OrgKey::from_secret(k.secret_bytes(), k.name.clone()))
            .collect(),
        blocks,
        change,
        export,
        proof_json,
        schema: Schema::from_toml(SCHEMA_TOML, "credit_default.schema.toml").unwrap(),
    }
}

fn key_of<'a>(f: &'a Fixture, org: &OrgId) -> &'a OrgKey {
    f.keys.iter().find(|k| k.id() == *org).unwrap_or(&f.keys[0])
}

fn commitment(f: &Fixture) -> UpdateCommitment {
    f.blocks[1]
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::Update(c) if !c.announcement.metrics.groups.is_empty() => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("block 2 has an update with groups"))
}

/// Every consensus message kind, signed on the fixture chain.
pub fn messages() -> Vec<Message> {
    let f = fixture();
    let b = &f.blocks[4];
    let h = &b.header;
    let proposer = key_of(f, &h.proposer);
    let mut out = vec![Message::Propose(Box::new(Proposal::sign(
        h.clone(),
        b.entries.clone(),
        proposer,
    )))];
    for kind in [VoteKind::Notarize, VoteKind::Nullify, VoteKind::Finalize] {
        out.push(Message::Vote(SignedVote::sign(
            kind,
            h.height,
            h.view,
            b.hash(),
            &f.keys[1],
            &f.chain_id,
        )));
    }
    out.push(Message::Certificate(Certificate {
        kind: VoteKind::Notarize,
        height: h.height,
        view: h.view,
        block_hash: b.hash(),
        votes: b.certificate.votes.clone(),
    }));
    out.push(Message::Certificate(Certificate {
        kind: VoteKind::Nullify,
        height: h.height,
        view: 3,
        block_hash: Digest::ZERO,
        votes: b.certificate.votes.clone(),
    }));
    out.push(Message::SyncRequest { from_height: 3 });
    out.push(Message::SyncResponse {
        blocks: f.blocks[..2].to_vec(),
    });
    out
}

/// Canonical postcard types: decode, and if accepted, encoding again must give the same bytes.
fn canonical<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
    then: impl FnOnce(&T),
) -> Outcome {
    match codec::decode::<T>(bytes, what) {
        Ok(v) => {
            then(&v);
            let again = codec::encode(&v);
            if again == bytes {
                Outcome::Accepted
            } else {
                Outcome::RoundTrip(format!(
                    "{what}: {} input bytes re-encode to {} other bytes",
                    bytes.len(),
                    again.len()
                ))
            }
        }
        Err(_) => Outcome::Rejected,
    }
}

fn seeds_of<T: Serialize>(xs: &[T]) -> Vec<Vec<u8>> {
    xs.iter().map(codec::encode).collect()
}

// ---- gossip ------------------------------------------------------------------------------------

fn envelope_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut bodies = vec![Gossip::Announce(commitment(f))];
    bodies.extend(messages().into_iter().map(Gossip::Consensus));
    bodies.push(Gossip::Request {
        request: f.change.request.clone(),
        signature: f.change.request_signature,
    });
    bodies.push(Gossip::Approval {
        request: f.change.request.hash(),
        approval: f.change.approvals[0].clone(),
    });
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            Envelope {
                nonce: i as u64 * 1000,
                body,
            }
            .encode()
        })
        .collect()
}

/// What the node reads from a decoded message before it judges it (cheap accessors, the range
/// checks run before pooling).
fn touch_message(m: &Message) {
    let _ = (m.height(), m.kind_name(), m.signer());
    if let Message::Certificate(c) = m {
        let _ = c.unpack().count();
    }
    if let Message::Propose(p) = m {
        let _ = p.payload();
    }
}

fn envelope_run(bytes: &[u8]) -> Outcome {
    canonical::<Envelope>(bytes, "gossip envelope", |e| match &e.body {
        Gossip::Announce(c) => {
            let _ = limits::check_announcement(&c.announcement);
        }
        Gossip::Consensus(m) => touch_message(m),
        Gossip::Request { request, .. } => {
            let _ = request.hash();
        }
        Gossip::Approval { .. } => {}
    })
}

fn message_seeds() -> Vec<Vec<u8>> {
    messages().iter().map(Message::encode).collect()
}

fn message_run(bytes: &[u8]) -> Outcome {
    canonical::<Message>(bytes, "consensus message", touch_message)
}

// ---- fetch protocol ----------------------------------------------------------------------------

/// The framed bytes the codec writes for a request.
pub fn frame_request(req: FetchRequest) -> Vec<u8> {
    let mut buf = Vec::new();
    let r = block_on(FetchCodec.write_request(&PROTOCOL, &mut Cursor::new(&mut buf), req));
    r.map(|_| buf).unwrap_or_default()
}

/// The framed bytes the codec writes for a response.
pub fn frame_response(res: FetchResponse) -> Vec<u8> {
    let mut buf = Vec::new();
    let r = block_on(FetchCodec.write_response(&PROTOCOL, &mut Cursor::new(&mut buf), res));
    r.map(|_| buf).unwrap_or_default()
}

/// A frame is the first `4 + len` bytes; a stream may carry more after it, which the codec
/// never reads.
fn frame_of(bytes: &[u8]) -> &[u8] {
    let len = bytes
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .unwrap_or(0);
    &bytes[..bytes.len().min(4 + len)]
}

fn fetch_request_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    vec![
        frame_request(FetchRequest::Blob(f.blocks[0].hash())),
        frame_request(FetchRequest::Blocks { from: 1, max: 64 }),
        frame_request(FetchRequest::Blocks {
            from: u64::MAX,
            max: u32::MAX,
        }),
        frame_request(FetchRequest::Manifest(f.blocks[0].hash())),
        frame_request(FetchRequest::Chunk {
            blob: f.blocks[0].hash(),
            index: u32::MAX,
        }),
        frame_request(FetchRequest::Checkpoint),
        frame_request(FetchRequest::Consistency { old: 2, new: 5 }),
    ]
}

fn fetch_request_run(bytes: &[u8]) -> Outcome {
    match block_on(FetchCodec.read_request(&PROTOCOL, &mut Cursor::new(bytes))) {
        Ok(req) => {
            let again = frame_request(req);
            if again == frame_of(bytes) {
                Outcome::Accepted
            } else {
                Outcome::RoundTrip("fetch request re-frames to other bytes".into())
            }
        }
        Err(_) => Outcome::Rejected,
    }
}

fn fetch_response_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let params: Vec<f32> = (0..257).map(|i| (i as f32 - 128.0) / 64.0).collect();
    vec![
        frame_response(FetchResponse::Blob(Some(encode_update(&params)))),
        frame_response(FetchResponse::Blob(None)),
        frame_response(FetchResponse::Blocks(
            f.blocks.iter().map(Block::encode).collect(),
        )),
        frame_response(FetchResponse::Blocks(vec![])),
        frame_response(FetchResponse::Manifest(Some(BlobManifest {
            len: 3 * CHUNK_BYTES as u64 - 1,
            chunks: vec![f.blocks[0].hash(); 3],
        }))),
        frame_response(FetchResponse::Manifest(None)),
        frame_response(FetchResponse::Chunk(Some(vec![7; 1000]))),
        frame_response(FetchResponse::Chunk(None)),
        frame_response(FetchResponse::Checkpoint(Some(fixture_checkpoint()))),
        frame_response(FetchResponse::Checkpoint(None)),
        frame_response(FetchResponse::Consistency(Ok(fixture_consistency()))),
        frame_response(FetchResponse::Consistency(Err(
            "the log holds 5 blocks, not 9".into(),
        ))),
    ]
}

/// The fixture chain's signed checkpoint at its tip.
#[allow(clippy::expect_used)]
fn fixture_checkpoint() -> String {
    let f = fixture();
    let log =
        tlog::BlockLog::from_block_hashes(&f.blocks.iter().map(Block::hash).collect::<Vec<_>>());
    tlog::sign_checkpoint(&f.chain_id, &log, log.size(), &[&f.keys[0]]).expect("sign")
}

/// The fixture chain's consistency proof from size 2 to its tip.
#[allow(clippy::expect_used)]
fn fixture_consistency() -> ConsistencyAnswer {
    let f = fixture();
    let log =
        tlog::BlockLog::from_block_hashes(&f.blocks.iter().map(Block::hash).collect::<Vec<_>>());
    ConsistencyAnswer {
        old_size: 2,
        old_root: log.root(2).expect("root"),
        new_size: log.size(),
        new_root: log.root(log.size()).expect("root"),
        proof: log.consistency(2, log.size()).expect("proof"),
    }
}

fn fetch_response_run(bytes: &[u8]) -> Outcome {
    match block_on(FetchCodec.read_response(&PROTOCOL, &mut Cursor::new(bytes))) {
        Ok(res) => {
            // What the node does next with each kind: decode the blob, decode every block.
            match &res {
                FetchResponse::Blob(Some(b)) => {
                    let _ = decode_update(b);
                }
                FetchResponse::Blob(None)
                | FetchResponse::Manifest(_)
                | FetchResponse::Chunk(_) => {}
                FetchResponse::Blocks(raw) => {
                    for b in raw {
                        let _ = Block::decode(b);
                    }
                }
                // What `fedledger checkpoint --peer` and `consistency --peer` do with them.
                FetchResponse::Checkpoint(note) => {
                    if let Some(n) = note {
                        let f = fixture();
                        let members: Vec<_> = f.keys.iter().map(OrgKey::id).collect();
                        let _ = tlog::open_checkpoint(n.as_bytes(), &f.chain_id, &members);
                    }
                }
                FetchResponse::Consistency(answer) => {
                    if let Ok(a) = answer {
                        let _ = tlog::verify_consistency(
                            a.old_size,
                            &a.old_root,
                            a.new_size,
                            &a.new_root,
                            &a.proof,
                        );
                    }
                }
            }
            let again = frame_response(res);
            if again == frame_of(bytes) {
                Outcome::Accepted
            } else {
                Outcome::RoundTrip("fetch response re-frames to other bytes".into())
            }
        }
        Err(_) => Outcome::Rejected,
    }
}

fn sync_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let raw: Vec<Vec<u8>> = f.blocks.iter().map(Block::encode).collect();
    vec![
        codec::encode(&raw),
        codec::encode(&raw[..1].to_vec()),
        codec::encode(&raw[1..].to_vec()),
    ]
}

fn sync_run(bytes: &[u8]) -> Outcome {
    thread_local! {
        // Not `Sync` (it caches privacy computations), so one per thread.
        static STATE: ChainState = ChainState::new(&fixture().genesis);
    }
    canonical::<Vec<Vec<u8>>>(bytes, "block batch", |raw| {
        let mut s = STATE.with(ChainState::clone);
        let _ = check_raw(&mut s, raw, MAX_BLOCKS_PER_RESPONSE);
    })
}

// ---- update blobs and the node's own state -----------------------------------------------------

fn blob_seeds() -> Vec<Vec<u8>> {
    vec![
        encode_update(&[0.5, -1.25, 0.0, -0.0, 1e-30, 3.4e38]),
        encode_update(&(0..1000).map(|i| i as f32 * 0.001).collect::<Vec<_>>()),
        Vec::new(),
    ]
}

fn blob_run(bytes: &[u8]) -> Outcome {
    match decode_update(bytes) {
        Ok(v) if encode_update(&v) == bytes => {
            let _ = model_hash(&v);
            Outcome::Accepted
        }
        Ok(_) => Outcome::RoundTrip("update re-encodes to other bytes".into()),
        Err(_) => Outcome::Rejected,
    }
}

fn stored_model_seeds() -> Vec<Vec<u8>> {
    let params: Vec<f32> = (0..41).map(|i| i as f32 / 7.0).collect();
    seeds_of(&[
        StoredModel {
            height: 3,
            hash: model_hash(&params),
            params,
        },
        StoredModel {
            height: 0,
            hash: Digest::ZERO,
            params: vec![],
        },
    ])
}

fn stored_model_run(bytes: &[u8]) -> Outcome {
    canonical::<StoredModel>(bytes, "stored model", |_| {})
}

fn released_seeds() -> Vec<Vec<u8>> {
    seeds_of(&[ReleasedUpdate {
        commitment: commitment(fixture()),
    }])
}

fn released_run(bytes: &[u8]) -> Outcome {
    canonical::<ReleasedUpdate>(bytes, "released update", |_| {})
}

fn safety_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut s = SafetyState::new(5);
    s.view = 2;
    if let Some(Message::Propose(p)) = messages().into_iter().next() {
        s.proposed.insert(0, *p);
    }
    s.notarized.insert(0, f.blocks[4].hash());
    s.notarized.insert(2, f.blocks[3].hash());
    s.nullified.insert(0);
    s.nullified.insert(1);
    s.finalized = Some((0, f.blocks[4].hash()));
    s.locked = Some((0, f.blocks[4].hash()));
    vec![s.encode(), SafetyState::new(1).encode()]
}

fn safety_run(bytes: &[u8]) -> Outcome {
    canonical::<SafetyState>(bytes, "consensus safety state", |_| {})
}

// ---- ledger ------------------------------------------------------------------------------------

fn block_seeds() -> Vec<Vec<u8>> {
    fixture().blocks.iter().map(Block::encode).collect()
}

fn block_run(bytes: &[u8]) -> Outcome {
    canonical::<Block>(bytes, "block", |b| {
        let _ = (b.hash(), b.computed_entry_root());
    })
}

fn header_seeds() -> Vec<Vec<u8>> {
    fixture()
        .blocks
        .iter()
        .map(|b| codec::encode(&b.header))
        .collect()
}

fn header_run(bytes: &[u8]) -> Outcome {
    canonical::<BlockHeader>(bytes, "block header", |h| {
        let _ = h.hash();
    })
}

fn entry_seeds() -> Vec<Vec<u8>> {
    fixture()
        .blocks
        .iter()
        .flat_map(|b| b.entries.iter().map(Entry::encode))
        .collect()
}

fn entry_run(bytes: &[u8]) -> Outcome {
    canonical::<Entry>(bytes, "entry", |e| {
        let _ = (e.leaf_hash(), e.sort_key(), e.update_hash());
    })
}

fn export_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    vec![f.export.clone(), reexport(&f.chain_id, &f.blocks[..1])]
}

/// Rewrite decoded blocks as an export: an accepted export must come back byte for byte.
fn reexport(chain: &Digest, blocks: &[Block]) -> Vec<u8> {
    let Ok(mut w) = ExportWriter::new(Vec::new(), chain) else {
        return Vec::new();
    };
    for b in blocks {
        if w.write_block(b).is_err() {
            return Vec::new();
        }
    }
    w.finish().map(|(v, _)| v).unwrap_or_default()
}

fn export_run(bytes: &[u8]) -> Outcome {
    let Ok(reader) = ExportReader::new(bytes) else {
        return Outcome::Rejected;
    };
    let chain = reader.chain_id();
    let mut blocks = Vec::new();
    for b in reader {
        match b {
            Ok(b) => blocks.push(b),
            Err(_) => return Outcome::Rejected,
        }
    }
    if reexport(&chain, &blocks) == bytes {
        Outcome::Accepted
    } else {
        Outcome::RoundTrip(format!(
            "an export of {} blocks reads back as other bytes",
            blocks.len()
        ))
    }
}

fn export_audit_run(bytes: &[u8]) -> Outcome {
    let f = fixture();
    let mut blocks = Vec::new();
    match audit_export(&f.genesis, bytes, |b, _| blocks.push(b.clone())) {
        Ok(o) if o.violation.is_none() => {
            if reexport(&f.chain_id, &blocks) == bytes {
                Outcome::Accepted
            } else {
                Outcome::RoundTrip("a valid export reads back as other bytes".into())
            }
        }
        _ => Outcome::Rejected,
    }
}

fn proof_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut out = vec![f.proof_json.clone()];
    if let Ok(p) = serde_json::from_slice::<EntryProof>(&f.proof_json) {
        if let Ok(v) = serde_json::to_vec(&p) {
            out.push(v);
        }
    }
    out
}

fn proof_run(bytes: &[u8]) -> Outcome {
    let Ok(p) = serde_json::from_slice::<EntryProof>(bytes) else {
        return Outcome::Rejected;
    };
    let _ = verify_proof(&fixture().genesis, &p);
    json_round_trip(&p, "entry proof")
}

/// Text formats are not canonical: the decoded value written out and read back must be the
/// same value (compared through its JSON form, which also covers floats and NaN).
fn json_round_trip<T: Serialize + DeserializeOwned>(v: &T, what: &str) -> Outcome {
    let (Ok(a), Ok(text)) = (serde_json::to_value(v), serde_json::to_string(v)) else {
        return Outcome::RoundTrip(format!("{what} does not serialise"));
    };
    match serde_json::from_str::<T>(&text).map(|w| serde_json::to_value(&w)) {
        Ok(Ok(b)) if a == b => Outcome::Accepted,
        Ok(Ok(b)) => Outcome::RoundTrip(format!(
            "{what} reads back as another value at {}",
            first_difference(&a, &b, String::new())
        )),
        _ => Outcome::RoundTrip(format!("{what} written out does not read back")),
    }
}

/// Where two JSON values first differ, as a path with both values (for the report).
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: String) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .find(|(k, v)| y.get(*k) != Some(*v))
            .map(|(k, v)| match y.get(k) {
                Some(w) => first_difference(v, w, format!("{at}/{k}")),
                None => format!("{at}/{k} (missing)"),
            })
            .unwrap_or(at),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find(|(_, (v, w))| v != w)
            .map(|(i, (v, w))| first_difference(v, w, format!("{at}/{i}")))
            .unwrap_or(at),
        _ => format!("{at}: {a} then {b}"),
    }
}

// ---- files -------------------------------------------------------------------------------------

fn text(bytes: &[u8]) -> Option<&str> {
    // The loaders read files with `read_to_string`: invalid UTF-8 never reaches a parser.
    std::str::from_utf8(bytes).ok()
}

fn genesis_seeds() -> Vec<Vec<u8>> {
    vec![
        fixture().genesis.to_toml().into_bytes(),
        GENESIS_TOML.as_bytes().to_vec(),
    ]
}

fn genesis_run(bytes: &[u8]) -> Outcome {
    let Some(t) = text(bytes) else {
        return Outcome::Rejected;
    };
    match Genesis::from_toml(t) {
        Ok(g) => {
            let written = g.to_toml();
            match Genesis::from_toml(&written) {
                Ok(h) if h.chain_id() == g.chain_id() && h.to_toml() == written => {
                    Outcome::Accepted
                }
                Ok(_) => Outcome::RoundTrip("genesis reads back with another chain id".into()),
                Err(e) => Outcome::RoundTrip(format!("a written genesis is refused: {e}")),
            }
        }
        Err(_) => Outcome::Rejected,
    }
}

fn config_seeds() -> Vec<Vec<u8>> {
    let mut out = vec![NODE_TOML.as_bytes().to_vec()];
    if let Ok(c) = NodeConfig::parse(NODE_TOML) {
        if let Ok(t) = toml::to_string(&c) {
            out.push(t.into_bytes());
        }
    }
    out.push(
        b"data_dir = \"d\"\nkey = \"k\"\ngenesis = \"g\"\n[data]\nsource = \"csv\"\npath = \"x.csv\"\nschema = \"s.toml\"\n"
            .to_vec(),
    );
    out
}

fn config_run(bytes: &[u8]) -> Outcome {
    let Some(t) = text(bytes) else {
        return Outcome::Rejected;
    };
    match NodeConfig::parse(t) {
        Ok(c) => {
            let _ = c.validate();
            let Ok(written) = toml::to_string(&c) else {
                return Outcome::RoundTrip("an accepted config does not serialise".into());
            };
            match NodeConfig::parse(&written).map(|d| toml::to_string(&d)) {
                Ok(Ok(again)) if again == written => Outcome::Accepted,
                _ => Outcome::RoundTrip("a written config reads back as another value".into()),
            }
        }
        Err(_) => Outcome::Rejected,
    }
}

fn key_seeds() -> Vec<Vec<u8>> {
    let dir = scratch();
    let path = dir.join("seed.key");
    let mut out = Vec::new();
    for (i, name) in [(1u64, "Bank A"), (2, ""), (3, "Ünïcode \"quoted\" name")] {
        let k = OrgKey::from_secret(test_key(i).secret_bytes(), name);
        if k.write_to(&path).is_ok() {
            if let Ok(b) = std::fs::read(&path) {
                out.push(b);
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    out
}

/// A private directory for this thread's key files (tmpfs when there is one: one file write
/// per case).
fn scratch() -> PathBuf {
    thread_local! {
        static DIR: OnceLock<Option<tempfile::TempDir>> = const { OnceLock::new() };
    }
    DIR.with(|d| {
        d.get_or_init(|| {
            let base = if std::path::Path::new("/dev/shm").is_dir() {
                PathBuf::from("/dev/shm")
            } else {
                std::env::temp_dir()
            };
            tempfile::Builder::new()
                .prefix("fedledger-fuzz-")
                .tempdir_in(base)
                .or_else(|_| tempfile::tempdir())
                .ok()
        })
        .as_ref()
        .map(|t| t.path().to_path_buf())
        .unwrap_or_else(std::env::temp_dir)
    })
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(bytes)
}

fn key_run(bytes: &[u8]) -> Outcome {
    let dir = scratch();
    let path = dir.join("case.key");
    if write_private(&path, bytes).is_err() {
        return Outcome::Rejected;
    }
    match OrgKey::read_from(&path) {
        Ok(k) => {
            let back = dir.join("back.key");
            let _ = std::fs::remove_file(&back);
            let again = k.write_to(&back).and_then(|_| OrgKey::read_from(&back));
            match again {
                Ok(j) if j.id() == k.id() && j.name == k.name => Outcome::Accepted,
                Ok(_) => Outcome::RoundTrip("a key file reads back as another key".into()),
                Err(e) => {
                    Outcome::RoundTrip(format!("a key that was read cannot be written back: {e}"))
                }
            }
        }
        Err(_) => Outcome::Rejected,
    }
}

fn schema_seeds() -> Vec<Vec<u8>> {
    vec![
        SCHEMA_TOML.as_bytes().to_vec(),
        fixture().schema.to_toml().into_bytes(),
    ]
}

fn schema_run(bytes: &[u8]) -> Outcome {
    let Some(t) = text(bytes) else {
        return Outcome::Rejected;
    };
    match Schema::from_toml(t, "fuzz.schema.toml") {
        Ok(s) => {
            let _ = (s.hash(), s.feature_names(), s.classes());
            let written = s.to_toml();
            match Schema::from_toml(&written, "again") {
                Ok(r) if r.to_toml() == written && r.hash() == s.hash() => Outcome::Accepted,
                Ok(_) => Outcome::RoundTrip("a schema reads back as another schema".into()),
                Err(e) => Outcome::RoundTrip(format!("a written schema is refused: {e}")),
            }
        }
        Err(_) => Outcome::Rejected,
    }
}

fn csv_seeds() -> Vec<Vec<u8>> {
    let mut t = String::from("default,student,balance,income\n");
    for i in 0..24 {
        let d = if i % 7 == 0 { "Yes" } else { "No" };
        let s = if i % 3 == 0 { "Yes" } else { "No" };
        t.push_str(&format!(
            "{d},{s},{:.6},{:.4}\n",
            300.0 + i as f64 * 61.7,
            12000.5 + i as f64 * 1733.3
        ));
    }
    let quoted =
        "\"default\",\"student\",\"balance\",\"income\"\r\n\"No\",\"No\",\"1.5\",\"2e4\"\r\n";
    vec![t.into_bytes(), quoted.as_bytes().to_vec()]
}

fn csv_run(bytes: &[u8]) -> Outcome {
    match read_table(bytes, "fuzz.csv") {
        Ok(t) => match t.encode(&fixture().schema) {
            Ok(_) => Outcome::Accepted,
            Err(_) => Outcome::Rejected,
        },
        Err(_) => Outcome::Rejected,
    }
}

// ---- identities and the status API -------------------------------------------------------------

fn peer_seeds() -> Vec<Vec<u8>> {
    fixture()
        .keys
        .iter()
        .filter_map(|k| peer_of_org(&k.id()))
        .map(|p| p.to_bytes())
        .collect()
}

fn peer_run(bytes: &[u8]) -> Outcome {
    let Ok(p) = PeerId::from_bytes(bytes) else {
        return Outcome::Rejected;
    };
    if let Some(org) = org_of_peer(&p) {
        // Every org maps to one peer and back (the peer's bytes may encode the key another way).
        match peer_of_org(&org).as_ref().and_then(org_of_peer) {
            Some(o) if o == org => {}
            _ => return Outcome::RoundTrip("org -> peer -> org is not the identity".into()),
        }
    }
    Outcome::Accepted
}

fn id_text_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    vec![
        f.keys[0].id().to_hex().into_bytes(),
        f.chain_id.to_hex().into_bytes(),
        format!("  {}\n", f.keys[1].id().to_hex().to_uppercase()).into_bytes(),
    ]
}

fn id_text_run(bytes: &[u8]) -> Outcome {
    let Some(t) = text(bytes) else {
        return Outcome::Rejected;
    };
    let digest = t.parse::<Digest>();
    let org = t.parse::<OrgId>();
    if let Ok(d) = &digest {
        if d.to_hex().parse::<Digest>().ok() != Some(*d) {
            return Outcome::RoundTrip("digest hex reads back as another digest".into());
        }
    }
    if let Ok(o) = &org {
        if o.to_hex().parse::<OrgId>().ok() != Some(*o) {
            return Outcome::RoundTrip("org id hex reads back as another id".into());
        }
    }
    if digest.is_ok() || org.is_ok() {
        Outcome::Accepted
    } else {
        Outcome::Rejected
    }
}

fn status_seeds() -> Vec<Vec<u8>> {
    let (mut s, _) = Shared::default().snapshot();
    s.org = fixture().keys[0].id().to_hex();
    s.height = 12;
    s.phase = "collecting".into();
    s.last_excluded_orgs = vec![s.org.clone()];
    vec![serde_json::to_vec_pretty(&s).unwrap_or_default()]
}

fn status_run(bytes: &[u8]) -> Outcome {
    match serde_json::from_slice::<Status>(bytes) {
        Ok(s) => json_round_trip(&s, "status"),
        Err(_) => Outcome::Rejected,
    }
}

/// Every target, in the order `--target all` runs them.
pub const ALL: &[Target] = &[
    Target {
        name: "envelope",
        about: "gossip envelope with every kind: announcement, consensus, join request, approval",
        format: Format::Binary,
        max_len: 64 * 1024,
        seeds: envelope_seeds,
        run: envelope_run,
    },
    Target {
        name: "consensus-message",
        about: "consensus proposal, votes, certificates, sync request/response",
        format: Format::Binary,
        max_len: 64 * 1024,
        seeds: message_seeds,
        run: message_run,
    },
    Target {
        name: "fetch-request",
        about: "request-response codec: framed fetch request (4 KiB limit)",
        format: Format::Binary,
        max_len: 8 * 1024,
        seeds: fetch_request_seeds,
        run: fetch_request_run,
    },
    Target {
        name: "fetch-response",
        about:
            "request-response codec: framed blob or block batch (64 MiB limit), then their decoders",
        format: Format::Binary,
        max_len: 256 * 1024,
        seeds: fetch_response_seeds,
        run: fetch_response_run,
    },
    Target {
        name: "sync-blocks",
        about: "a peer's block batch through the catch-up checks (decode, heights, certificates)",
        format: Format::Binary,
        max_len: 256 * 1024,
        seeds: sync_seeds,
        run: sync_run,
    },
    Target {
        name: "update-blob",
        about: "update bytes (fetched or stored blob)",
        format: Format::Binary,
        max_len: 16 * 1024,
        seeds: blob_seeds,
        run: blob_run,
    },
    Target {
        name: "stored-model",
        about: "the node's persisted global model",
        format: Format::Binary,
        max_len: 16 * 1024,
        seeds: stored_model_seeds,
        run: stored_model_run,
    },
    Target {
        name: "released-update",
        about: "the node's persisted released update (privacy spend)",
        format: Format::Binary,
        max_len: 16 * 1024,
        seeds: released_seeds,
        run: released_run,
    },
    Target {
        name: "safety-state",
        about: "the node's persisted consensus safety state",
        format: Format::Binary,
        max_len: 64 * 1024,
        seeds: safety_seeds,
        run: safety_run,
    },
    Target {
        name: "block",
        about: "a stored, synced or exported block",
        format: Format::Binary,
        max_len: 64 * 1024,
        seeds: block_seeds,
        run: block_run,
    },
    Target {
        name: "block-header",
        about: "a block header (as in proofs)",
        format: Format::Binary,
        max_len: 4 * 1024,
        seeds: header_seeds,
        run: header_run,
    },
    Target {
        name: "entry",
        about: "a ledger entry (as in proofs)",
        format: Format::Binary,
        max_len: 16 * 1024,
        seeds: entry_seeds,
        run: entry_run,
    },
    Target {
        name: "export",
        about: "an export file: header, block frames, trailer and checksum",
        format: Format::Binary,
        max_len: 256 * 1024,
        seeds: export_seeds,
        run: export_run,
    },
    Target {
        name: "export-audit",
        about: "an export file through the full offline audit",
        format: Format::Binary,
        max_len: 256 * 1024,
        seeds: export_seeds,
        run: export_audit_run,
    },
    Target {
        name: "proof",
        about: "an entry proof (JSON) and its verification",
        format: Format::Text,
        max_len: 256 * 1024,
        seeds: proof_seeds,
        run: proof_run,
    },
    Target {
        name: "genesis",
        about: "the genesis TOML",
        format: Format::Text,
        max_len: 64 * 1024,
        seeds: genesis_seeds,
        run: genesis_run,
    },
    Target {
        name: "node-config",
        about: "the node config TOML, parsed and validated",
        format: Format::Text,
        max_len: 64 * 1024,
        seeds: config_seeds,
        run: config_run,
    },
    Target {
        name: "key-file",
        about: "the organization key file (TOML, read from a 0600 file)",
        format: Format::Text,
        max_len: 16 * 1024,
        seeds: key_seeds,
        run: key_run,
    },
    Target {
        name: "schema",
        about: "the data schema TOML",
        format: Format::Text,
        max_len: 64 * 1024,
        seeds: schema_seeds,
        run: schema_run,
    },
    Target {
        name: "csv",
        about: "the CSV data loader, encoded by the credit schema",
        format: Format::Text,
        max_len: 64 * 1024,
        seeds: csv_seeds,
        run: csv_run,
    },
    Target {
        name: "peer-id",
        about: "a PeerId from the network mapped to an organization",
        format: Format::Binary,
        max_len: 1024,
        seeds: peer_seeds,
        run: peer_run,
    },
    Target {
        name: "id-text",
        about: "org ids and digests as text (CLI arguments, /admit?org=, config)",
        format: Format::Text,
        max_len: 1024,
        seeds: id_text_seeds,
        run: id_text_run,
    },
    Target {
        name: "status-json",
        about: "a node's /status JSON as `fedledger status` reads it",
        format: Format::Text,
        max_len: 64 * 1024,
        seeds: status_seeds,
        run: status_run,
    },
];
