//! Secrets and how they are kept (DECISIONS.md, "Identity and compatibility").
//!
//! An API key is shown once, at creation. It is stored twice: a SHA-256 digest, for look-up at
//! authentication (the key has 256 bits of entropy, so no slow KDF is needed), and sealed with
//! AES-256-GCM under the instance master key, because callbacks' `event_hash` is an HMAC keyed by the
//! plain key. Other secrets the API must show again later (an app's OAuth secret) are sealed the same way.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{fill_random, random_hex};

const NONCE_LEN: usize = 12;

/// A plain API key: 64 lowercase hex characters (32 random bytes), like Dropbox Sign's.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    pub fn generate() -> Self {
        Self(random_hex(32))
    }

    /// Wrap a key presented by a client. No shape check: an unknown key simply matches nothing.
    pub fn presented(s: &str) -> Self {
        Self(s.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest under which the key is looked up.
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    /// Constant-time comparison of this key's digest with a stored one.
    pub fn matches_digest(&self, stored: &[u8]) -> bool {
        self.digest().as_slice().ct_eq(stored).into()
    }
}

/// The instance master key (AES-256-GCM). Generated into the data dir on first start unless configured,
/// so that all nodes sharing one PostgreSQL database can be given the same key.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    /// Key for signed links (embedded sign URLs, file URLs), derived from the master key.
    link_key: [u8; 32],
    /// Keys the digests of signers' PINs.
    pin_key: [u8; 32],
}

/// A signer's access code as the sender gave it (4 to 12 characters). Never stored or logged: only
/// [`MasterKey::pin_digest`] of it is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    pub fn new(pin: impl Into<String>) -> Self {
        Self(pin.into())
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the master key must be 64 hex characters (32 bytes)")]
    BadMasterKey,
    #[error("a sealed secret could not be opened: wrong master key or corrupted data")]
    CannotOpen,
}

impl MasterKey {
    /// A new random key, returned with its hex text for the operator to keep.
    pub fn generate() -> (Self, String) {
        let mut raw = [0u8; 32];
        fill_random(&mut raw);
        let hex_text = hex::encode(raw);
        (Self::from_bytes(&raw), hex_text)
    }

    pub fn from_hex(text: &str) -> Result<Self, SecretError> {
        let raw = hex::decode(text.trim()).map_err(|_| SecretError::BadMasterKey)?;
        if raw.len() != 32 {
            return Err(SecretError::BadMasterKey);
        }
        Ok(Self::from_bytes(&raw))
    }

    fn from_bytes(raw: &[u8]) -> Self {
        let key = aes_gcm::Key::<Aes256Gcm>::try_from(raw).expect("32 bytes checked by the callers");
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(raw).expect("HMAC takes any key length");
        mac.update(b"countersign signed links v1");
        let link_key: [u8; 32] = mac.finalize().into_bytes().into();
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(raw).expect("HMAC takes any key length");
        mac.update(b"countersign signer pins v1");
        let pin_key: [u8; 32] = mac.finalize().into_bytes().into();
        Self { cipher: Aes256Gcm::new(&key), link_key, pin_key }
    }

    /// `nonce || ciphertext+tag`, with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        fill_random(&mut nonce_bytes);
        let nonce = Nonce::from(nonce_bytes);
        let mut out = nonce_bytes.to_vec();
        // Encryption with a valid key into a Vec cannot fail.
        out.extend(self.cipher.encrypt(&nonce, plaintext).expect("AES-GCM encryption into a Vec"));
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretError::CannotOpen);
        }
        let (nonce_bytes, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce_array: [u8; NONCE_LEN] = nonce_bytes.try_into().map_err(|_| SecretError::CannotOpen)?;
        self.cipher.decrypt(&Nonce::from(nonce_array), ciphertext).map_err(|_| SecretError::CannotOpen)
    }

    /// The signer of links (embedded sign URLs, file URLs, confirmation links), keyed by a key derived
    /// from this one.
    pub fn link_signer(&self) -> crate::links::LinkSigner {
        crate::links::LinkSigner::new(self.link_key)
    }

    /// What is stored of a signer's PIN: an HMAC keyed from this key over the signature id and the PIN.
    pub fn pin_digest(&self, signature_id: &str, pin: &Pin) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.pin_key).expect("32-byte key");
        mac.update(signature_id.as_bytes());
        mac.update(&[0]);
        mac.update(pin.0.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `pin` is the one whose digest is stored, compared in constant time.
    pub fn pin_matches(&self, signature_id: &str, pin: &Pin, stored: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.pin_digest(signature_id, pin).ct_eq(stored).into()
    }

    pub fn open_string(&self, sealed: &[u8]) -> Result<String, SecretError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| SecretError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_kept_as_keyed_digests_bound_to_the_signer() {
        let (key, _) = MasterKey::generate();
        let pin = Pin::new("4821");
        let stored = key.pin_digest("aaaa", &pin);
        assert!(key.pin_matches("aaaa", &pin, &stored));
        assert!(!key.pin_matches("aaaa", &Pin::new("4822"), &stored));
        assert!(!key.pin_matches("bbbb", &pin, &stored), "another signer's digest");
        let (other, _) = MasterKey::generate();
        assert!(!other.pin_matches("aaaa", &pin, &stored), "another instance's key");
        assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
    }

    #[test]
    fn each_master_key_signs_links_with_its_own_key() {
        let link = crate::links::Link::Sign { signature_id: "abc", expires: 2_000 };
        let (one, _) = MasterKey::generate();
        let (two, _) = MasterKey::generate();
        let token = one.link_signer().token(&link);
        assert!(one.link_signer().check(&link, &token, 1_000));
        assert!(!two.link_signer().check(&link, &token, 1_000), "another instance's key");
    }

    #[test]
    fn api_keys_are_64_hex_and_never_debug_printed() {
        let key = ApiKey::generate();
        assert_eq!(key.expose().len(), 64);
        assert!(!format!("{key:?}").contains(key.expose()));
        assert!(key.matches_digest(&key.digest()));
        assert!(!ApiKey::generate().matches_digest(&key.digest()));
    }

    #[test]
    fn sealed_secrets_open_only_under_their_key() {
        let (master, hex_text) = MasterKey::generate();
        let sealed = master.seal(b"324e3b0840f065eb");
        assert!(!sealed.windows(16).any(|w| w == b"324e3b0840f065eb"));
        assert_eq!(MasterKey::from_hex(&hex_text).unwrap().open(&sealed).unwrap(), b"324e3b0840f065eb");
        let (other, _) = MasterKey::generate();
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(master.open(&tampered).is_err());
        assert!(MasterKey::from_hex("abcd").is_err());
    }
}
