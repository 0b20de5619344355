//! Sealing final documents: the instance's identity ([`Identity`]: a generated self-signed P-256
//! certificate in the data dir, or the operator's certificate and key), the PAdES signature over a
//! prepared PDF ([`Sealer::seal`]), and checking a PDF's seal ([`Sealer::verify`]).
//!
//! The PDF structure (signature field, placeholder, byte ranges) is `countersign-pdf`'s; the
//! cryptography (CMS, certificates, keys, digests) is here.

mod cms;
mod identity;
mod tsa;

pub use cms::CmsCheck;
pub use identity::{Digest, Identity, IdentitySource};
pub use tsa::Tsa;

use countersign_pdf::{PreparedPdf, SealSpec};

/// The `/SubFilter` of the seals this crate makes (PAdES baseline).
pub const SUB_FILTER: &str = "ETSI.CAdES.detached";
/// Bytes reserved for the CMS signature in the PDF: room for a certificate chain and a time stamp.
pub const SIGNATURE_CAPACITY: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealing identity: {0}")]
    Identity(String),
    #[error("the seal could not be made: {0}")]
    Signing(String),
    #[error("the time stamp could not be had: {0}")]
    Timestamp(String),
    #[error(transparent)]
    Pdf(#[from] countersign_pdf::PdfError),
}

/// Seals PDFs with one identity (and, when configured, time stamps from one authority).
#[derive(Debug)]
pub struct Sealer {
    identity: Identity,
    tsa: Option<Tsa>,
}

/// What [`Sealer::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The file carries at least one signature.
    pub signed: bool,
    /// The last signature verifies, covers the whole file, and nothing was changed after it.
    pub intact: bool,
    /// The last signature was made by this instance's certificate.
    pub sealed_by_this_instance: bool,
    pub timestamped: bool,
    /// Why it is not intact (or not ours).
    pub problem: Option<String>,
    /// SHA-256 of the signer's certificate, hex.
    pub certificate_sha256: Option<String>,
}

impl Sealer {
    pub fn new(identity: Identity) -> Sealer {
        Sealer { identity, tsa: None }
    }

    /// Seals carry an RFC 3161 time stamp from `tsa` (PAdES B-T); [`Sealer::seal`] then asks it over
    /// HTTP, so it must run on a blocking thread of a Tokio runtime (`spawn_blocking`).
    pub fn with_tsa(mut self, tsa: Tsa) -> Sealer {
        self.tsa = Some(tsa);
        self
    }

    pub fn tsa(&self) -> Option<&Tsa> {
        self.tsa.as_ref()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The signature dictionary's settings for a seal made now.
    pub fn spec(&self, location: &str, signed_at: i64) -> SealSpec {
        SealSpec {
            name: self.identity.subject(),
            reason: "Signed with Countersign: the signers' values and the audit trail are sealed.".into(),
            location: location.to_owned(),
            signed_at,
            sub_filter: SUB_FILTER.into(),
            capacity: SIGNATURE_CAPACITY,
        }
    }

    /// Signs the prepared document's byte ranges and writes the signature in.
    pub fn seal(&self, prepared: PreparedPdf) -> Result<Vec<u8>, SealError> {
        let parts = prepared.signed_parts();
        let stamp = |signature: &[u8]| -> Result<Vec<u8>, SealError> {
            let tsa = self.tsa.as_ref().ok_or_else(|| SealError::Timestamp("no authority".into()))?;
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|_| SealError::Timestamp("time stamps need a Tokio runtime".into()))?;
            runtime.block_on(tsa.token(signature))
        };
        let stamper: Option<cms::Stamper<'_>> = if self.tsa.is_some() { Some(&stamp) } else { None };
        let signature = cms::sign_detached(&self.identity, &parts, stamper)?;
        Ok(prepared.embed(&signature)?)
    }

    /// Checks the last signature of `file`.
    pub fn verify(&self, file: &[u8]) -> Verification {
        let found = countersign_pdf::signatures(file);
        let Some(last) = found.last() else {
            return Verification {
                signed: false,
                intact: false,
                sealed_by_this_instance: false,
                timestamped: false,
                problem: Some("the file carries no digital signature".into()),
                certificate_sha256: None,
            };
        };
        let parts = last.signed_parts(file);
        let check = cms::check_detached(&last.contents, &parts);
        let certificate_sha256 = check.signer_certificate.as_deref().map(identity::fingerprint);
        let ours = check.signer_certificate.as_deref() == Some(self.identity.certificate_der());
        let mut problem = check.problem.clone();
        if check.intact && !last.covers_whole_file {
            problem = Some("the file was changed or extended after it was sealed".into());
        } else if check.intact && !ours {
            problem = Some("the seal was not made by this instance".into());
        }
        Verification {
            signed: true,
            intact: check.intact && last.covers_whole_file,
            sealed_by_this_instance: ours,
            timestamped: check.timestamped,
            problem,
            certificate_sha256,
        }
    }
}
