//! RFC 3161 time stamps for seals (PAdES B-T): the signature value's digest is sent to the configured
//! time-stamping authority, and the token it returns is added to the CMS signature as the
//! `id-aa-timeStampToken` unsigned attribute.

use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString};
use der::{Decode, Encode, Sequence};
use sha2::Digest as _;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::SealError;

const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

#[derive(Clone, Debug, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// `TimeStampReq` (RFC 3161 §2.4.1), without policy or extensions.
#[derive(Clone, Debug, Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    nonce: u64,
    /// The TSA's certificate in the token, so a reader can check it.
    cert_req: bool,
}

/// `PKIStatusInfo`: the status, and the optional text and failure bits (not read).
#[derive(Clone, Debug, Sequence)]
struct PkiStatusInfo {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Any>,
    #[asn1(optional = "true")]
    fail_info: Option<Any>,
}

/// `TimeStampResp` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    token: Option<Any>,
}

/// A time-stamping authority.
#[derive(Debug, Clone)]
pub struct Tsa {
    url: String,
    client: reqwest::Client,
}

fn failed(why: impl std::fmt::Display) -> SealError {
    SealError::Timestamp(why.to_string())
}

impl Tsa {
    /// A TSA at `url` (http or https), each request bounded by `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Tsa, SealError> {
        let parsed = url::Url::parse(url).map_err(|e| failed(format!("{url} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(failed(format!("{url} is not an http(s) URL")));
        }
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(failed)?;
        Ok(Tsa { url: url.to_owned(), client })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A time-stamp token (DER `ContentInfo`) over `signature` (the CMS signature value).
    pub async fn token(&self, signature: &[u8]) -> Result<Vec<u8>, SealError> {
        let imprint = MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned { oid: ID_SHA256, parameters: None },
            hashed_message: OctetString::new(sha2::Sha256::digest(signature).to_vec()).map_err(failed)?,
        };
        let mut nonce = [0u8; 8];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| failed("no randomness for a nonce"))?;
        let request = TimeStampReq {
            version: 1,
            message_imprint: imprint.clone(),
            nonce: u64::from_be_bytes(nonce) >> 1,
            cert_req: true,
        };
        let body = request.to_der().map_err(failed)?;
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/timestamp-query")
            .body(body)
            .send()
            .await
            .map_err(|e| failed(format!("{}: {e}", self.url)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("{} answered {status}", self.url)));
        }
        let bytes = response.bytes().await.map_err(failed)?;
        let reply = TimeStampResp::from_der(&bytes)
            .map_err(|e| failed(format!("the reply is not a time-stamp response: {e}")))?;
        // 0 granted, 1 granted with modifications.
        if reply.status.status > 1 {
            return Err(failed(format!("the TSA refused the request (status {})", reply.status.status)));
        }
        let token = reply.token.ok_or_else(|| failed("the reply holds no token"))?.to_der().map_err(failed)?;
        // The token must be over this signature: its TSTInfo carries the same message imprint.
        let expected = imprint.to_der().map_err(failed)?;
        if !token.windows(expected.len()).any(|w| w == expected.as_slice()) {
            return Err(failed("the token is not over this signature"));
        }
        Ok(token)
    }
}
