//! Time-stamped seals against a real RFC 3161 authority: OpenSSL's `openssl ts -reply` behind a small
//! HTTP server on loopback, with its own time-stamping certificate made by the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use countersign_pdf::StampOptions;
use countersign_seal::{Identity, IdentitySource, Sealer, Tsa};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A time-stamping authority on loopback; returns its URL. Each POSTed query is answered by
/// `openssl ts -reply`.
fn start_tsa(dir: PathBuf) -> String {
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.crt",
            "-subj",
            "/CN=Test TSA",
            "-days",
            "2",
            "-addext",
            "extendedKeyUsage=critical,timeStamping",
            "-addext",
            "keyUsage=critical,digitalSignature",
        ],
    );
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("ts.cnf"),
        "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = ./serial\ncrypto_device = builtin\n\
         signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\n\
         ordering = yes\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut query = vec![0; length];
            reader.read_exact(&mut query).unwrap();
            std::fs::write(dir.join("query.tsq"), &query).unwrap();
            let out = Command::new("openssl")
                .args(["ts", "-reply", "-config", "ts.cnf", "-queryfile", "query.tsq", "-signer", "tsa.crt"])
                .args(["-inkey", "tsa.key", "-out", "reply.tsr"])
                .current_dir(&dir)
                .output()
                .unwrap();
            let (status, body) = if out.status.success() {
                ("200 OK", std::fs::read(dir.join("reply.tsr")).unwrap())
            } else {
                ("500 Internal Server Error", out.stderr)
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
        }
    });
    url
}

fn trail(title: &str) -> countersign_pdf::AuditTrail {
    countersign_pdf::AuditTrail {
        title: title.into(),
        signature_request_id: "0".repeat(40),
        documents: Vec::new(),
        signers: Vec::new(),
        sent_at: None,
        completed_at: None,
        stamped_sha256: String::new(),
        sealed_by: "Test".into(),
        certificate_sha256: String::new(),
        page_size: countersign_pdf::LETTER_SIZE,
    }
}

#[tokio::test]
async fn a_time_stamped_seal_verifies_and_names_its_time_stamp() {
    if Command::new("openssl").arg("version").output().is_err() {
        panic!("openssl is needed for the time-stamping authority");
    }
    let dir = tempfile::tempdir().unwrap();
    let tsa_dir = dir.path().join("tsa");
    std::fs::create_dir_all(&tsa_dir).unwrap();
    let url = start_tsa(tsa_dir);
    let identity = Identity::load(&IdentitySource::Generated { dir: dir.path().join("seal") }).unwrap();
    let sealer = Sealer::new(identity).with_tsa(Tsa::new(&url, Duration::from_secs(10)).unwrap());
    let original =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pdf/three-pages.pdf")).unwrap();
    let stamped = countersign_pdf::stamp(&original, &[], StampOptions::default()).unwrap();
    let spec = sealer.spec("https://sign.example", 1_796_651_110);
    let sealed = tokio::task::spawn_blocking(move || {
        let trail = trail("Time-stamped");
        let prepared = countersign_pdf::prepare_final(&stamped, &trail, &spec).unwrap();
        let sealed = sealer.seal(prepared).unwrap();
        (sealer.verify(&sealed), sealed)
    })
    .await
    .unwrap();
    let (verification, bytes) = sealed;
    assert!(verification.intact && verification.timestamped, "{verification:?}");
    let file = dir.path().join("stamped.pdf");
    std::fs::write(&file, &bytes).unwrap();
    if Path::new("/usr/bin/pdfsig").exists() {
        let out = Command::new("/usr/bin/pdfsig").arg(&file).output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(report.contains("Signature is Valid") && report.contains("Total document signed"), "{report}");
    }

    // An authority that is down fails the seal loudly instead of sealing without a time stamp.
    let identity = Identity::load(&IdentitySource::Generated { dir: dir.path().join("seal") }).unwrap();
    let offline = Sealer::new(identity).with_tsa(Tsa::new("http://127.0.0.1:9/tsa", Duration::from_secs(2)).unwrap());
    let stamped = countersign_pdf::stamp(&original, &[], StampOptions::default()).unwrap();
    let spec = offline.spec("https://sign.example", 1_796_651_110);
    let result = tokio::task::spawn_blocking(move || {
        let trail = trail("Offline");
        offline.seal(countersign_pdf::prepare_final(&stamped, &trail, &spec).unwrap())
    })
    .await
    .unwrap();
    assert!(matches!(result, Err(countersign_seal::SealError::Timestamp(_))), "{result:?}");
}
