//! The instance's sealing identity: a private key and its certificate (with any chain above it).
//!
//! Either configured by the operator (`COUNTERSIGN_SIGNING_CERT` / `COUNTERSIGN_SIGNING_KEY`: PEM, as a
//! path or inline) so a certificate from a trusted issuer seals the documents, or generated on first
//! start into `<data dir>/seal/` (a self-signed P-256 certificate, valid ten years) and reused after.

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256,
    RSA_PKCS1_SHA384, RsaKeyPair,
};
use der::Decode;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_cert::Certificate;

use crate::SealError;

/// Where a sealing identity comes from.
#[derive(Debug, Clone)]
pub enum IdentitySource {
    /// PEM certificate chain (leaf first) and PEM private key; each a path, or the PEM text itself.
    Configured { certificate: String, key: String },
    /// Generated into (and later read from) this folder.
    Generated { dir: PathBuf },
}

/// The digest a key signs with (SHA-256, or SHA-384 for P-384 and RSA keys of 3072 bits and more
/// configured with a SHA-384 certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha256,
    Sha384,
}

pub(crate) enum Key {
    Ecdsa(EcdsaKeyPair, Digest),
    Rsa(RsaKeyPair),
}

/// A loaded identity: the key, the leaf certificate and the certificates above it.
pub struct Identity {
    pub(crate) key: Key,
    pub(crate) leaf: Certificate,
    pub(crate) leaf_der: Vec<u8>,
    pub(crate) chain: Vec<Certificate>,
    /// Where it came from, for the logs.
    pub origin: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("subject", &self.subject()).field("origin", &self.origin).finish()
    }
}

/// SHA-256 of a certificate's DER, hex.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(der))
}

const CERT_FILE: &str = "certificate.pem";
const KEY_FILE: &str = "key.pem";

impl Identity {
    /// Loads the identity, generating one into `dir` when the source says so and none is there yet.
    pub fn load(source: &IdentitySource) -> Result<Identity, SealError> {
        match source {
            IdentitySource::Configured { certificate, key } => {
                let cert_pem = read_pem_setting(certificate, "COUNTERSIGN_SIGNING_CERT")?;
                let key_pem = read_pem_setting(key, "COUNTERSIGN_SIGNING_KEY")?;
                Identity::from_pem(&cert_pem, &key_pem, "configured (COUNTERSIGN_SIGNING_CERT)".into())
            }
            IdentitySource::Generated { dir } => {
                let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
                if !cert_path.exists() || !key_path.exists() {
                    generate_into(dir)?;
                    tracing::info!(path = %cert_path.display(), "generated the instance's sealing certificate");
                }
                let cert_pem = read_file(&cert_path)?;
                let key_pem = read_file(&key_path)?;
                Identity::from_pem(&cert_pem, &key_pem, format!("generated ({})", cert_path.display()))
            }
        }
    }

    /// An identity from PEM text: the certificate chain (leaf first) and the private key (PKCS#8,
    /// SEC1 or PKCS#1).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], origin: String) -> Result<Identity, SealError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| SealError::Identity(format!("the certificate PEM could not be read: {e}")))?;
        let Some(leaf_der) = certs.first() else {
            return Err(SealError::Identity("the certificate PEM holds no certificate".into()));
        };
        let parse = |der: &CertificateDer<'_>| {
            Certificate::from_der(der.as_ref())
                .map_err(|e| SealError::Identity(format!("a certificate could not be parsed: {e}")))
        };
        let leaf = parse(leaf_der)?;
        let chain = certs[1..].iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        let key_der = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| SealError::Identity(format!("the private key PEM could not be read: {e}")))?;
        let key = load_key(&key_der)?;
        let identity = Identity { key, leaf_der: leaf_der.as_ref().to_vec(), leaf, chain, origin };
        identity.check_pair()?;
        Ok(identity)
    }

    /// The certificate's subject, as text (`CN=…,O=…`).
    pub fn subject(&self) -> String {
        self.leaf.tbs_certificate().subject().to_string()
    }

    /// The leaf certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.leaf_der
    }

    /// SHA-256 of the leaf certificate, hex: how the audit trail and `verify` name the sealing certificate.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.leaf_der)
    }

    pub fn digest(&self) -> Digest {
        match &self.key {
            Key::Ecdsa(_, digest) => *digest,
            Key::Rsa(_) => Digest::Sha256,
        }
    }

    /// Signs `message` (the DER of the signed attributes); returns the signature value.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SealError> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Ecdsa(key, _) => key
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SealError::Signing("the ECDSA signature failed".into())),
            Key::Rsa(key) => {
                let mut out = vec![0; key.public_modulus_len()];
                let padding = if self.digest() == Digest::Sha384 { &RSA_PKCS1_SHA384 } else { &RSA_PKCS1_SHA256 };
                key.sign(padding, &rng, message, &mut out)
                    .map_err(|_| SealError::Signing("the RSA signature failed".into()))?;
                Ok(out)
            }
        }
    }

    /// The key's public half must be the certificate's.
    fn check_pair(&self) -> Result<(), SealError> {
        let spki = self.leaf.tbs_certificate().subject_public_key_info();
        let cert_key = spki.subject_public_key.raw_bytes();
        let key_public: &[u8] = match &self.key {
            Key::Ecdsa(key, _) => key.public_key().as_ref(),
            Key::Rsa(key) => key.public_key().as_ref(),
        };
        if cert_key != key_public {
            return Err(SealError::Identity("the private key does not belong to the certificate".into()));
        }
        Ok(())
    }
}

fn load_key(der: &PrivateKeyDer<'_>) -> Result<Key, SealError> {
    let rejected = |e: aws_lc_rs::error::KeyRejected| SealError::Identity(format!("the private key was refused: {e}"));
    match der {
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()).map(Key::Rsa).map_err(rejected),
        PrivateKeyDer::Sec1(k) => {
            let bytes = k.secret_sec1_der();
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, bytes)
                .map(|k| Key::Ecdsa(k, Digest::Sha256))
                .or_else(|_| {
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_ASN1_SIGNING, bytes)
                        .map(|k| Key::Ecdsa(k, Digest::Sha384))
                })
                .map_err(rejected)
        }
        PrivateKeyDer::Pkcs8(k) => {
            let bytes = k.secret_pkcs8_der();
            if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, bytes) {
                return Ok(Key::Ecdsa(key, Digest::Sha256));
            }
            if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, bytes) {
                return Ok(Key::Ecdsa(key, Digest::Sha384));
            }
            RsaKeyPair::from_pkcs8(bytes)
                .map(Key::Rsa)
                .map_err(|e| SealError::Identity(format!("the private key is neither P-256, P-384 nor RSA ({e})")))
        }
        _ => Err(SealError::Identity("the private key's format is not supported".into())),
    }
}

/// A setting that is either PEM text or the path of a PEM file.
fn read_pem_setting(value: &str, name: &str) -> Result<Vec<u8>, SealError> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    read_file(Path::new(value)).map_err(|e| SealError::Identity(format!("{name}: {e}")))
}

fn read_file(path: &Path) -> Result<Vec<u8>, SealError> {
    std::fs::read(path).map_err(|e| SealError::Identity(format!("{} could not be read: {e}", path.display())))
}

/// A self-signed P-256 leaf certificate for document sealing, written to `dir` (the key readable by
/// the owner only).
fn generate_into(dir: &Path) -> Result<(), SealError> {
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
        PKCS_ECDSA_P256_SHA256,
    };
    let failed = |e: rcgen::Error| SealError::Identity(format!("the sealing certificate could not be made: {e}"));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed)?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let common = if host.is_empty() { "Countersign seal".to_owned() } else { format!("Countersign seal ({host})") };
    name.push(DnType::CommonName, common);
    name.push(DnType::OrganizationName, "Countersign");
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
    // id-kp-documentSigning (RFC 9336).
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 36])];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(86_400)).into();
    params.not_after = (now + std::time::Duration::from_secs(10 * 365 * 86_400)).into();
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| SealError::Identity("no randomness for a serial".into()))?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params.self_signed(&key).map_err(failed)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| SealError::Identity(format!("{} could not be created: {e}", dir.display())))?;
    let write = |path: PathBuf, text: String, private: bool| -> Result<(), SealError> {
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let _ = private;
        let result = (|| {
            use std::io::Write;
            let mut f = options.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        result.map_err(|e| SealError::Identity(format!("{} could not be written: {e}", path.display())))
    };
    // The key first: a certificate without its key would be unusable on the next start.
    write(dir.join(KEY_FILE), key.serialize_pem(), true)?;
    write(dir.join(CERT_FILE), cert.pem(), false)?;
    Ok(())
}
