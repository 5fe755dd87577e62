//! `fedledger keygen`: create an organization's identity.

use fedledger_ledger::OrgKey;
use std::path::PathBuf;
use std::process::ExitCode;

/// Generate a new organization key (ed25519). Prints the organization id, never the secret.
///
/// The key file is created with mode 0600 and is never overwritten. The organization id (the
/// public key) is what goes into a genesis file or a join request.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the key file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The organization's display name, stored in the key file.
    #[arg(long, default_value = "")]
    name: String,
    /// Print {"org_id", "peer_id", "name", "key_file"} as JSON.
    #[arg(long)]
    json: bool,
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let key = OrgKey::generate(a.name.clone());
    // The error names the file; nothing partial is left behind, so the same command can be
    // retried once the cause is fixed.
    key.write_to(&a.out)?;
    // The node's libp2p identity is the same key: peers dial `/ip4/../tcp/../p2p/PEER_ID`.
    let peer_id = fedledger_node::p2p::peer_of_org(&key.id())
        .map(|p| p.to_string())
        .unwrap_or_default();
    if a.json {
        super::print_json(&serde_json::json!({
            "org_id": key.id().to_hex(),
            "peer_id": peer_id,
            "name": a.name,
            "key_file": a.out.display().to_string(),
        }))?;
    } else {
        println!("{}", key.id());
        eprintln!(
            "wrote {} (mode 0600); keep it secret and back it up; libp2p peer id {peer_id}",
            a.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
