//! Session tokens: 256 random bits shown to the client once, stored only as SHA-256.
//! A fast hash is enough here: unlike passwords, the tokens cannot be guessed.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

/// A fresh token, URL- and cookie-safe (43 characters).
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the database keys sessions by.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_distinct_and_cookie_safe() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
    }

    #[test]
    fn digest_is_stable_and_not_the_token() {
        let token = generate().unwrap();
        assert_eq!(digest(&token), digest(&token));
        assert_ne!(digest(&token), digest(&generate().unwrap()));
        assert_ne!(&digest(&token)[..], token.as_bytes());
    }
}
