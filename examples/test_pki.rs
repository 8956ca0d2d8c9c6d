//! Makes a throwaway certificate authority and a server certificate it signed, for the bindings'
//! `wss://` tests (they run this, then start `driftsync-server` with the result):
//!
//! `cargo run --example test_pki -- DIR [NAME…]` writes `DIR/ca.pem`, `DIR/server.pem` and
//! `DIR/server.key` (names default to `localhost` and `127.0.0.1`). Test use only: the keys are
//! made fresh each run and never protected.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// (CA PEM, server certificate PEM, server key PEM): a CA named `ca_name` and a certificate for
/// `names` it signed. Shared with the Rust tests (`tests/common`).
pub fn make_pki(ca_name: &str, names: Vec<String>) -> Result<(String, String, String), rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(names)?.signed_by(&key, &ca_cert, &ca_key)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

#[allow(dead_code)] // tests/common includes this file for make_pki only
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: test_pki DIR [NAME…]")?);
    let mut names: Vec<String> = args.collect();
    if names.is_empty() {
        names = vec!["localhost".into(), "127.0.0.1".into()];
    }
    let (ca, cert, key) = make_pki("driftsync test CA", names)?;
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("ca.pem"), ca)?;
    std::fs::write(dir.join("server.pem"), cert)?;
    std::fs::write(dir.join("server.key"), key)?;
    Ok(())
}
