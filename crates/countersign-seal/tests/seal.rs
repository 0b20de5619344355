//! A final copy end to end: stamp values in several scripts, append the audit trail, seal it — then
//! check it the way a recipient would (poppler's `pdfsig` and `pdftotext`) and the way `verify` does,
//! before and after one byte is changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use countersign_pdf::{AuditDocument, AuditSigner, AuditStep, AuditTrail, Rect, Stamp, StampContent};
use countersign_seal::{Identity, IdentitySource, Sealer};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pdf").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn require_poppler() -> bool {
    std::env::var("COUNTERSIGN_REQUIRE_POPPLER").is_ok_and(|v| v == "1")
}

/// Runs a poppler tool, or `None` (a notice; a failure under COUNTERSIGN_REQUIRE_POPPLER=1) when it
/// is not installed.
fn poppler(tool: &str, args: &[&str]) -> Option<(bool, String)> {
    let exe = PathBuf::from("/usr/bin").join(tool);
    if !exe.exists() {
        assert!(!require_poppler(), "{tool} is required (COUNTERSIGN_REQUIRE_POPPLER=1) but was not found");
        eprintln!("NOTICE: {tool} not found; skipping its check");
        return None;
    }
    let out = Command::new(exe).args(args).output().expect("run poppler");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Some((out.status.success(), text))
}

/// A 3×2 RGBA PNG, half transparent.
fn png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 3, 2);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer
            .write_image_data(&[0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0])
            .unwrap();
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn trail(original: &[u8], stamped: &[u8], sealer: &Sealer) -> AuditTrail {
    AuditTrail {
        title: "Lease\u{202e} agreement".into(),
        signature_request_id: "fa5c8a0b0f492d768749333ad6fcc214c111e967".into(),
        documents: vec![AuditDocument { name: "lease.pdf".into(), sha256: sha256_hex(original) }],
        signers: vec![AuditSigner {
            name: "Жанна Ли 张伟".into(),
            email: "zhanna@example.com".into(),
            steps: vec![
                AuditStep { action: "Sent".into(), at: 1_796_650_000, ip: None, user_agent: None },
                AuditStep {
                    action: "Signed".into(),
                    at: 1_796_651_109,
                    ip: Some("203.0.113.7".into()),
                    user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)\nForged: line".into()),
                },
            ],
        }],
        sent_at: Some(1_796_650_000),
        completed_at: Some(1_796_651_109),
        stamped_sha256: sha256_hex(stamped),
        sealed_by: sealer.identity().subject(),
        certificate_sha256: sealer.identity().fingerprint(),
        page_size: countersign_pdf::LETTER_SIZE,
    }
}

#[test]
fn a_sealed_final_copy_passes_pdfsig_and_verify_and_one_changed_byte_fails_both() {
    let dir = tempfile::tempdir().unwrap();
    let identity = Identity::load(&IdentitySource::Generated { dir: dir.path().join("seal") }).unwrap();
    let sealer = Sealer::new(identity);
    let original = fixture("simple-two-signers.pdf");
    let stamps = vec![
        Stamp {
            page: 1,
            rect: Rect { x: 300.0, y: 500.0, width: 200.0, height: 20.0 },
            content: StampContent::Text("Жанна Ли 张伟".into()),
        },
        Stamp {
            page: 1,
            rect: Rect { x: 100.0, y: 600.0, width: 120.0, height: 40.0 },
            content: StampContent::Image(png()),
        },
        Stamp {
            page: 1,
            rect: Rect { x: 100.0, y: 660.0, width: 12.0, height: 12.0 },
            content: StampContent::Check(true),
        },
    ];
    let stamped = countersign_pdf::stamp(&original, &stamps, countersign_pdf::StampOptions::default()).unwrap();
    let trail = trail(&original, &stamped, &sealer);
    let prepared =
        countersign_pdf::prepare_final(&stamped, &trail, &sealer.spec("https://sign.example", 1_796_651_110)).unwrap();
    let sealed = sealer.seal(prepared).unwrap();

    let verification = sealer.verify(&sealed);
    assert!(verification.intact && verification.sealed_by_this_instance, "{verification:?}");
    assert_eq!(verification.certificate_sha256.as_deref(), Some(sealer.identity().fingerprint().as_str()));

    let file = dir.path().join("final.pdf");
    std::fs::write(&file, &sealed).unwrap();
    // To look at it: COUNTERSIGN_TEST_OUT=/tmp/final.pdf cargo test -p countersign-seal
    if let Ok(out) = std::env::var("COUNTERSIGN_TEST_OUT") {
        std::fs::write(out, &sealed).unwrap();
    }
    let path = file.to_str().unwrap();
    if let Some((_, report)) = poppler("pdfsig", &[path]) {
        assert!(report.contains("Signature Validation: Signature is Valid."), "{report}");
        assert!(report.contains("Total document signed"), "{report}");
        assert!(report.contains("ETSI.CAdES.detached"), "{report}");
    }
    if let Some((ok, text)) = poppler("pdftotext", &["-enc", "UTF-8", path, "-"]) {
        assert!(ok, "{text}");
        assert!(text.contains("Жанна Ли 张伟"), "the stamped name extracts back: {text}");
        assert!(text.contains("Audit trail"), "{text}");
        assert!(text.contains("fa5c8a0b0f492d768749333ad6fcc214c111e967"), "{text}");
        assert!(text.contains(&sha256_hex(&original)), "the original's SHA-256 is on the audit trail");
        assert!(text.contains(&sha256_hex(&stamped)), "the stamped copy's SHA-256 is on the audit trail");
        assert!(text.contains("203.0.113.7"));
        assert!(text.contains("2026-12-07 13:45:09 UTC"));
        assert!(!text.lines().any(|l| l.trim_start().starts_with("Forged")), "a value cannot start a line: {text}");
        assert!(!text.contains('\u{202e}'));
    }

    // One byte changed inside the signed range (a letter of the signature's /Reason).
    let mut tampered = sealed.clone();
    let at = tampered.windows(11).position(|w| w == b"Signed with").expect("the reason is in the file") + 7;
    tampered[at] = b'W';
    let verification = sealer.verify(&tampered);
    assert!(!verification.intact, "{verification:?}");
    assert!(verification.problem.as_deref().is_some_and(|p| p.contains("changed")), "{verification:?}");
    let file = dir.path().join("tampered.pdf");
    std::fs::write(&file, &tampered).unwrap();
    if let Some((_, report)) = poppler("pdfsig", &[file.to_str().unwrap()]) {
        assert!(!report.contains("Signature is Valid"), "{report}");
    }

    // Bytes appended after the seal: the signature still verifies but no longer covers the file.
    let mut extended = sealed.clone();
    extended.extend_from_slice(b"\n% appended\n");
    let verification = sealer.verify(&extended);
    assert!(!verification.intact, "{verification:?}");
}

#[test]
fn the_generated_identity_is_kept_and_a_configured_one_must_match_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let source = IdentitySource::Generated { dir: dir.path().join("seal") };
    let first = Identity::load(&source).unwrap();
    let again = Identity::load(&source).unwrap();
    assert_eq!(first.fingerprint(), again.fingerprint(), "the certificate is generated once");
    assert!(first.subject().contains("Countersign"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("seal/key.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
    }
    let cert = std::fs::read_to_string(dir.path().join("seal/certificate.pem")).unwrap();
    let key = std::fs::read_to_string(dir.path().join("seal/key.pem")).unwrap();
    // Configured inline PEM, and by path.
    let inline = Identity::load(&IdentitySource::Configured { certificate: cert.clone(), key: key.clone() }).unwrap();
    assert_eq!(inline.fingerprint(), first.fingerprint());
    let by_path = Identity::load(&IdentitySource::Configured {
        certificate: dir.path().join("seal/certificate.pem").display().to_string(),
        key: dir.path().join("seal/key.pem").display().to_string(),
    })
    .unwrap();
    assert_eq!(by_path.fingerprint(), first.fingerprint());
    // Another instance's key does not belong to this certificate.
    let other = tempfile::tempdir().unwrap();
    Identity::load(&IdentitySource::Generated { dir: other.path().to_path_buf() }).unwrap();
    let other_key = std::fs::read_to_string(other.path().join("key.pem")).unwrap();
    let err = Identity::load(&IdentitySource::Configured { certificate: cert, key: other_key }).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    let err = Identity::load(&IdentitySource::Configured { certificate: "/nonexistent.pem".into(), key }).unwrap_err();
    assert!(err.to_string().contains("COUNTERSIGN_SIGNING_CERT"), "{err}");
}
