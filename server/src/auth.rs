//! Who is asking: static user tokens (stored only as SHA-256, compared in constant time), signed
//! user tokens (JWT, as Realm's custom-JWT provider), and the admin token.

use crate::config::JwtConfig;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 of a token, lowercase hex: what the server database stores.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two secrets are equal, in time that does not depend on where they differ (both are
/// hashed first, so neither does it depend on their lengths).
pub fn same_secret(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// Whether a stored hash (hex) is the hash of `token`, in constant time.
pub fn token_matches_hash(token: &str, stored_hash: &str) -> bool {
    hash_token(token).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Whether a token looks like a JWT (three base64url parts), so it is checked as one.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

/// The user a signed token names (`sub`) and when it expires (`exp`, Unix seconds), once its
/// signature, `exp` (required) and the configured `aud` / `iss` check out.
pub fn user_of_jwt(cfg: &JwtConfig, token: &str) -> Result<(String, u64), String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let (key, alg) = match (&cfg.hs256_secret, &cfg.rs256_public_key_pem) {
        (Some(secret), _) => (DecodingKey::from_secret(secret.as_bytes()), Algorithm::HS256),
        (None, Some(pem)) => {
            (DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| format!("the configured RS256 key: {e}"))?, Algorithm::RS256)
        }
        (None, None) => return Err("signed tokens are not configured".into()),
    };
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "sub"]);
    v.leeway = cfg.leeway();
    match &cfg.audience {
        Some(a) => v.set_audience(&[a]),
        None => v.validate_aud = false,
    }
    if let Some(i) = &cfg.issuer {
        v.set_issuer(&[i]);
    }
    decode::<Claims>(token, &key, &v).map(|d| (d.claims.sub, d.claims.exp)).map_err(|e| format!("signed token refused: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex_and_comparisons_agree() {
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(token_matches_hash("abc", &hash_token("abc")));
        assert!(!token_matches_hash("abd", &hash_token("abc")));
        assert!(same_secret("x", "x"));
        assert!(!same_secret("x", "xx"));
    }
}
