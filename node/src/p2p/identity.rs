//! One key per organization: the node's libp2p identity is its ledger key, so a PeerId maps to
//! exactly one organization id and back.

use fedledger_ledger::{OrgId, OrgKey};
use libp2p::identity::{ed25519, Keypair, PublicKey};
use libp2p::PeerId;

/// The libp2p keypair of an organization key.
pub fn keypair_for(key: &OrgKey) -> Keypair {
    let mut secret = key.secret_bytes();
    // `try_from_bytes` zeroizes its input; it only fails on a wrong length, which 32 is not.
    match ed25519::SecretKey::try_from_bytes(&mut secret) {
        Ok(sk) => Keypair::from(ed25519::Keypair::from(sk)),
        Err(_) => unreachable_keypair(),
    }
}

#[cold]
fn unreachable_keypair() -> Keypair {
    // A 32-byte ed25519 secret always decodes; fall back to a fresh identity rather than panic.
    Keypair::generate_ed25519()
}

/// The PeerId an organization's node has.
pub fn peer_of_org(org: &OrgId) -> Option<PeerId> {
    let pk = ed25519::PublicKey::try_from_bytes(&org.0).ok()?;
    Some(PeerId::from_public_key(&PublicKey::from(pk)))
}

/// The organization behind a PeerId, if it is an ed25519 identity (inlined in the PeerId).
pub fn org_of_peer(peer: &PeerId) -> Option<OrgId> {
    let mh = peer.as_ref();
    // Identity multihash (code 0) of the protobuf-encoded public key.
    if mh.code() != 0 {
        return None;
    }
    let pk = PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let ed = pk.try_into_ed25519().ok()?;
    Some(OrgId(ed.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_and_org_ids_map_one_to_one() {
        let key = OrgKey::from_secret([9; 32], "x");
        let kp = keypair_for(&key);
        let peer = kp.public().to_peer_id();
        assert_eq!(peer_of_org(&key.id()), Some(peer));
        assert_eq!(org_of_peer(&peer), Some(key.id()));
        let other = Keypair::generate_ed25519().public().to_peer_id();
        assert_ne!(org_of_peer(&other), Some(key.id()));
    }
}
