//! Detached CMS `SignedData` for a PDF signature (`ETSI.CAdES.detached`, PAdES baseline B-B): signed
//! attributes content-type, message-digest and ESS signing-certificate-v2 (no signing-time: the PDF's
//! `/M` carries the time), the signer's certificate and its chain; and the reverse — reading one back
//! and checking it against the bytes it covers.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, AttributeValue};
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::SealError;
use crate::identity::{Digest, Identity, Key};

pub(crate) const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub(crate) const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
pub(crate) const ID_TIMESTAMP_TOKEN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// ESS `ESSCertIDv2` with the default hash algorithm (SHA-256) left out, as DER requires.
#[derive(Clone, Debug, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
}

/// ESS `SigningCertificateV2` (RFC 5035), naming the signer's certificate by its SHA-256.
#[derive(Clone, Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn digest_algorithm(digest: Digest) -> AlgorithmIdentifierOwned {
    let oid = match digest {
        Digest::Sha256 => ID_SHA256,
        Digest::Sha384 => ID_SHA384,
    };
    AlgorithmIdentifierOwned { oid, parameters: None }
}

pub(crate) fn hash(digest: Digest, parts: &[&[u8]]) -> Vec<u8> {
    match digest {
        Digest::Sha256 => {
            let mut h = sha2::Sha256::new();
            parts.iter().for_each(|p| h.update(p));
            h.finalize().to_vec()
        }
        Digest::Sha384 => {
            let mut h = sha2::Sha384::new();
            parts.iter().for_each(|p| h.update(p));
            h.finalize().to_vec()
        }
    }
}

fn attribute(oid: ObjectIdentifier, value: impl Encode) -> Result<Attribute, SealError> {
    let any = Any::from_der(&value.to_der().map_err(encode_error)?).map_err(encode_error)?;
    let values: SetOfVec<AttributeValue> = SetOfVec::try_from(vec![any]).map_err(encode_error)?;
    Ok(Attribute { oid, values })
}

fn encode_error(e: der::Error) -> SealError {
    SealError::Signing(format!("the signature could not be encoded: {e}"))
}

/// The signed attributes and the signer info's parts for a content digest.
fn signed_attributes(identity: &Identity, content_digest: &[u8]) -> Result<SignedAttributes, SealError> {
    let cert_hash = sha2::Sha256::digest(identity.certificate_der()).to_vec();
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 { cert_hash: OctetString::new(cert_hash).map_err(encode_error)? }],
    };
    let attrs = vec![
        attribute(ID_CONTENT_TYPE, ID_DATA)?,
        attribute(ID_MESSAGE_DIGEST, OctetString::new(content_digest.to_vec()).map_err(encode_error)?)?,
        attribute(ID_SIGNING_CERTIFICATE_V2, ess)?,
    ];
    SetOfVec::try_from(attrs).map_err(encode_error)
}

/// Turns a signature value into an RFC 3161 time-stamp token (DER).
pub(crate) type Stamper<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, SealError>;

/// A detached CMS signature over `parts` (the PDF's signed byte ranges), DER. `timestamp` turns the
/// signature value into an RFC 3161 time-stamp token to add as an unsigned attribute (PAdES B-T).
pub(crate) fn sign_detached(
    identity: &Identity,
    parts: &[&[u8]],
    timestamp: Option<Stamper<'_>>,
) -> Result<Vec<u8>, SealError> {
    let digest = identity.digest();
    let content_digest = hash(digest, parts);
    let signed_attrs = signed_attributes(identity, &content_digest)?;
    let to_sign = signed_attrs.to_der().map_err(encode_error)?;
    let signature = identity.sign(&to_sign)?;
    let signature_algorithm = match (&identity.key, digest) {
        (Key::Ecdsa(..), Digest::Sha256) => AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA256, parameters: None },
        (Key::Ecdsa(..), Digest::Sha384) => AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA384, parameters: None },
        (Key::Rsa(_), d) => AlgorithmIdentifierOwned {
            oid: if d == Digest::Sha384 { SHA384_WITH_RSA } else { SHA256_WITH_RSA },
            parameters: Some(Any::null()),
        },
    };
    let unsigned_attrs = match timestamp {
        Some(stamp) => {
            let token = stamp(&signature)?;
            let token = Any::from_der(&token)
                .map_err(|e| SealError::Timestamp(format!("the time-stamp token could not be read: {e}")))?;
            let values: SetOfVec<AttributeValue> = SetOfVec::try_from(vec![token]).map_err(encode_error)?;
            Some(SetOfVec::try_from(vec![Attribute { oid: ID_TIMESTAMP_TOKEN, values }]).map_err(encode_error)?)
        }
        None => None,
    };
    let tbs = identity.leaf.tbs_certificate();
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: digest_algorithm(digest),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(encode_error)?,
        unsigned_attrs,
    };
    let mut certificates = vec![cms::cert::CertificateChoices::Certificate(identity.leaf.clone())];
    certificates.extend(identity.chain.iter().cloned().map(cms::cert::CertificateChoices::Certificate));
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm(digest)]).map_err(encode_error)?,
        encap_content_info: EncapsulatedContentInfo { econtent_type: ID_DATA, econtent: None },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates).map_err(encode_error)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(encode_error)?),
    };
    let info =
        ContentInfo { content_type: ID_SIGNED_DATA, content: Any::encode_from(&signed_data).map_err(encode_error)? };
    info.to_der().map_err(encode_error)
}

/// What a CMS signature says about the bytes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmsCheck {
    /// The message digest matches the covered bytes and the signature verifies with the signer's
    /// certificate.
    pub intact: bool,
    /// The signer's certificate, DER (when found).
    pub signer_certificate: Option<Vec<u8>>,
    /// Why it is not intact.
    pub problem: Option<String>,
    /// Whether an RFC 3161 time-stamp token is attached.
    pub timestamped: bool,
}

/// Checks a detached CMS signature against the bytes it covers.
pub(crate) fn check_detached(cms_der: &[u8], parts: &[&[u8]]) -> CmsCheck {
    match check_inner(cms_der, parts) {
        Ok(check) => check,
        Err(problem) => {
            CmsCheck { intact: false, signer_certificate: None, problem: Some(problem), timestamped: false }
        }
    }
}

fn check_inner(cms_der: &[u8], parts: &[&[u8]]) -> Result<CmsCheck, String> {
    // The /Contents placeholder is zero-padded after the DER.
    let info = ContentInfo::from_der(trim_der(cms_der)).map_err(|e| format!("the signature is not CMS: {e}"))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err("the signature is not CMS SignedData".into());
    }
    let signed: SignedData = info.content.decode_as().map_err(|e| format!("the SignedData is unreadable: {e}"))?;
    let signer = signed.signer_infos.0.iter().next().ok_or("the signature has no signer")?;
    let digest = match signer.digest_alg.oid {
        ID_SHA256 => Digest::Sha256,
        ID_SHA384 => Digest::Sha384,
        other => return Err(format!("digest algorithm {other} is not supported")),
    };
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        return Err("the signer is not named by issuer and serial number".into());
    };
    let cert: Certificate = signed
        .certificates
        .as_ref()
        .and_then(|set| {
            set.0.iter().find_map(|c| match c {
                cms::cert::CertificateChoices::Certificate(c)
                    if c.tbs_certificate().issuer() == &sid.issuer
                        && c.tbs_certificate().serial_number() == &sid.serial_number =>
                {
                    Some(c.clone())
                }
                _ => None,
            })
        })
        .ok_or("the signer's certificate is not in the signature")?;
    let cert_der = cert.to_der().map_err(|e| e.to_string())?;
    let timestamped = signer.unsigned_attrs.as_ref().is_some_and(|a| a.iter().any(|a| a.oid == ID_TIMESTAMP_TOKEN));
    let not_intact = |why: &str| CmsCheck {
        intact: false,
        signer_certificate: Some(cert_der.clone()),
        problem: Some(why.to_owned()),
        timestamped,
    };
    let attrs = signer.signed_attrs.as_ref().ok_or("the signature has no signed attributes")?;
    let message_digest = attrs
        .iter()
        .find(|a| a.oid == ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or("the signature has no message digest")?;
    if message_digest.as_bytes() != hash(digest, parts).as_slice() {
        return Ok(not_intact("the document was changed after it was sealed"));
    }
    let signed_bytes = attrs.to_der().map_err(|e| e.to_string())?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    let key = spki.subject_public_key.raw_bytes();
    use aws_lc_rs::signature::{self, UnparsedPublicKey};
    let algorithm: &dyn signature::VerificationAlgorithm = match (spki.algorithm.oid, signer.signature_algorithm.oid) {
        (EC_PUBLIC_KEY, ECDSA_WITH_SHA256) if key.len() == 65 => &signature::ECDSA_P256_SHA256_ASN1,
        (EC_PUBLIC_KEY, ECDSA_WITH_SHA384) if key.len() == 97 => &signature::ECDSA_P384_SHA384_ASN1,
        (EC_PUBLIC_KEY, ECDSA_WITH_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
        (RSA_ENCRYPTION, SHA256_WITH_RSA) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (RSA_ENCRYPTION, SHA384_WITH_RSA) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (k, s) => return Err(format!("key {k} with signature algorithm {s} is not supported")),
    };
    if UnparsedPublicKey::new(algorithm, key).verify(&signed_bytes, signer.signature.as_bytes()).is_err() {
        return Ok(not_intact("the seal's signature does not verify"));
    }
    Ok(CmsCheck { intact: true, signer_certificate: Some(cert_der), problem: None, timestamped })
}

/// The DER value at the start of `bytes` (dropping the placeholder's zero padding).
fn trim_der(bytes: &[u8]) -> &[u8] {
    der_len(bytes).map_or(bytes, |n| &bytes[..n.min(bytes.len())])
}

fn der_len(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some(2 + first as usize);
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | *bytes.get(2 + i)? as usize;
    }
    Some(2 + n + len)
}
