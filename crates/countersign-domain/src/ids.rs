//! Public identifiers, with the lengths SDK users see on Dropbox Sign (DECISIONS.md, "IDs"):
//! `account_id` and `signature_request_id` 40 lowercase hex, `client_id` and `signature_id` 32 hex, API
//! keys 64 hex.

/// `n` random bytes from the operating system, as lowercase hex (`2n` characters).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    fill_random(&mut bytes);
    hex::encode(bytes)
}

/// Fill `buf` from the operating system's random source. The OS source failing is not a condition a
/// server can continue from (every id and secret depends on it), so it aborts loudly.
pub fn fill_random(buf: &mut [u8]) {
    if let Err(err) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {err}");
    }
}

/// Whether `s` is exactly `len` lowercase hex characters (the shape of every id this server issues).
pub(crate) fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $bytes:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Hex characters in this id.
            pub const LEN: usize = $bytes * 2;

            pub fn generate() -> Self {
                Self(random_hex($bytes))
            }

            /// Accepts only the exact shape this server issues; anything else cannot name a resource.
            pub fn parse(s: &str) -> Option<Self> {
                is_lower_hex(s, Self::LEN).then(|| Self(s.to_owned()))
            }

            /// For values read back from our own database.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

hex_id!(
    /// An account's public id: 40 lowercase hex characters.
    AccountId,
    20
);
hex_id!(
    /// An API app's public id (`client_id`): 32 lowercase hex characters.
    ClientId,
    16
);

hex_id!(
    /// A signature request's id: 40 lowercase hex characters, as Dropbox Sign's.
    SignatureRequestId,
    20
);
hex_id!(
    /// A template's id: 40 lowercase hex characters, as Dropbox Sign's.
    TemplateId,
    20
);
hex_id!(
    /// One signer's signature id: 32 lowercase hex characters.
    SignatureId,
    16
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_lengths_sdk_users_see() {
        let account = AccountId::generate();
        assert_eq!(account.as_str().len(), 40);
        assert!(AccountId::parse(account.as_str()).is_some());
        let client = ClientId::generate();
        assert_eq!(client.as_str().len(), 32);
        assert!(ClientId::parse(client.as_str()).is_some());
        assert_ne!(ClientId::generate(), client);
        assert_eq!(SignatureRequestId::generate().as_str().len(), 40);
        assert_eq!(SignatureId::generate().as_str().len(), 32);
    }

    #[test]
    fn parse_refuses_other_shapes() {
        assert!(ClientId::parse("0dd3b823a682527788c4e40cb7b6f7e9").is_some());
        assert!(ClientId::parse("0DD3B823A682527788C4E40CB7B6F7E9").is_none());
        assert!(ClientId::parse("0dd3b823a682527788c4e40cb7b6f7e").is_none());
        assert!(ClientId::parse("../etc/passwd").is_none());
        assert!(AccountId::parse("").is_none());
    }
}
