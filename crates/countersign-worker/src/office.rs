//! Word, OpenDocument, RTF and plain-text documents made into PDFs by LibreOffice, run headless from
//! the operator's installation (`soffice` on the `PATH`, or a configured program). Every conversion
//! gets a fresh temporary profile and folder (two conversions never share state, and nothing is left
//! behind), its own process group (killed whole when the time limit passes), an address-space limit
//! and an output-file limit; a zip-based file is checked against a zip bomb before LibreOffice opens it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use countersign_pdf::DocumentFormat;
use tokio::io::AsyncReadExt;

/// How LibreOffice is run.
#[derive(Debug, Clone)]
pub struct OfficeConverter {
    /// `soffice` (or `libreoffice`), by path.
    pub program: PathBuf,
    /// Time budget for one conversion, LibreOffice's start included.
    pub timeout: Duration,
    /// The converter's address-space limit, in bytes.
    pub max_memory_bytes: u64,
    /// Most bytes a zip-based document may expand to.
    pub max_expanded_bytes: u64,
}

impl OfficeConverter {
    /// LibreOffice found on the `PATH` (`soffice`, then `libreoffice`), with the default limits.
    pub fn from_path() -> Option<Self> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| ["soffice", "libreoffice"].map(|name| dir.join(name)))
            .find(|candidate| is_executable(candidate))
            .map(Self::with_program)
    }

    /// `program` with the default limits: two minutes, 2 GiB of address space, 256 MB unpacked.
    pub fn with_program(program: PathBuf) -> Self {
        Self { program, timeout: Duration::from_secs(120), max_memory_bytes: 2 << 30, max_expanded_bytes: 256_000_000 }
    }

    /// A PDF of `bytes` (of `format`), at most `max_pdf_bytes` long.
    pub async fn convert(
        &self,
        bytes: &[u8],
        format: DocumentFormat,
        max_pdf_bytes: usize,
    ) -> Result<Vec<u8>, OfficeError> {
        countersign_pdf::check_office_zip(bytes, self.max_expanded_bytes).map_err(OfficeError::Refused)?;
        let dir = tempfile::Builder::new().prefix("countersign-office-").tempdir().map_err(OfficeError::io)?;
        let input = dir.path().join(format!("document.{}", format.extension()));
        let output_dir = dir.path().join("out");
        tokio::fs::write(&input, bytes).await.map_err(OfficeError::io)?;
        let profile = url::Url::from_directory_path(dir.path().join("profile"))
            .map_err(|()| OfficeError::Failed("the temporary folder has no file URL".into()))?;
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg(format!("-env:UserInstallation={profile}"))
            .args(["--headless", "--invisible", "--norestore", "--nolockcheck", "--nodefault", "--nologo"])
            .args(["--convert-to", "pdf:writer_pdf_Export", "--outdir"])
            .arg(&output_dir)
            .arg(&input)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let (memory, file_size) = (self.max_memory_bytes, (max_pdf_bytes as u64).saturating_add(1));
        // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                limit(libc::RLIMIT_AS, memory)?;
                limit(libc::RLIMIT_FSIZE, file_size)?;
                limit(libc::RLIMIT_CORE, 0)
            });
        }
        let started = Instant::now();
        let mut child =
            command.spawn().map_err(|e| OfficeError::Unavailable(format!("{}: {e}", self.program.display())))?;
        let group = child.id();
        let mut stderr = child.stderr.take();
        let waited = tokio::time::timeout(self.timeout, async {
            let mut said = Vec::new();
            if let Some(stderr) = stderr.as_mut() {
                // Keep the first few kilobytes of what LibreOffice says; read the rest so it never blocks.
                let mut buffer = [0u8; 4096];
                loop {
                    match stderr.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) if said.len() < 4096 => said.extend_from_slice(&buffer[..n]),
                        Ok(_) => {}
                    }
                }
            }
            (child.wait().await, said)
        })
        .await;
        // LibreOffice's helpers live in its process group: none outlives the conversion.
        if let Some(pid) = group.and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) with a negative pid signals that process group; it has no memory effects.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let (status, said) = match waited {
            Ok((status, said)) => (status.map_err(OfficeError::io)?, said),
            Err(_) => return Err(OfficeError::TimedOut(self.timeout)),
        };
        let pdf = output_dir.join("document.pdf");
        let produced = tokio::fs::metadata(&pdf).await.ok().map(|m| m.len());
        let said = String::from_utf8_lossy(&said).trim().chars().take(300).collect::<String>();
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, %status, "LibreOffice finished");
        match produced {
            Some(len) if len > max_pdf_bytes as u64 => {
                Err(OfficeError::Refused(format!("its PDF is larger than the {} MB limit", max_pdf_bytes / 1_000_000)))
            }
            Some(_) if status.success() => tokio::fs::read(&pdf).await.map_err(OfficeError::io),
            _ if status.code().is_none() => Err(OfficeError::Failed(format!(
                "the converter stopped ({status}), which happens when a file needs more than the {} MB it may use",
                self.max_memory_bytes / 1_000_000
            ))),
            _ => Err(OfficeError::Failed(if said.is_empty() {
                format!("the converter could not read it ({status})")
            } else {
                format!("the converter could not read it ({status}): {said}")
            })),
        }
    }
}

fn limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: a plain system call on a stack value.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why a document was not converted.
#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    /// The file is refused before or after conversion (zip bomb, output too large).
    #[error("{0}")]
    Refused(String),
    /// The conversion took longer than its budget; its processes were killed.
    #[error("converting it took longer than {} s", .0.as_secs())]
    TimedOut(Duration),
    /// The converter ran and made no PDF.
    #[error("{0}")]
    Failed(String),
    /// The converter could not be started.
    #[error("no office converter could be started ({0})")]
    Unavailable(String),
    /// The temporary folder failed (disk full…): the job is tried again later.
    #[error("the conversion's temporary files: {0}")]
    Io(String),
}

impl OfficeError {
    fn io(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/office").join(name)).unwrap()
    }

    /// LibreOffice when it is installed; a notice otherwise (a failure under COUNTERSIGN_REQUIRE_OFFICE=1).
    fn converter() -> Option<OfficeConverter> {
        let found = OfficeConverter::from_path();
        if found.is_none() {
            assert!(
                std::env::var("COUNTERSIGN_REQUIRE_OFFICE").as_deref() != Ok("1"),
                "LibreOffice (soffice) is required (COUNTERSIGN_REQUIRE_OFFICE=1) but was not found"
            );
            eprintln!("NOTICE: soffice not found; office conversion is not exercised");
        }
        found
    }

    #[tokio::test]
    async fn office_files_become_pdfs_with_their_text() {
        let Some(office) = converter() else { return };
        for (name, needle) in [
            ("lease.docx", "[date|req|signer1]"),
            ("lease.odt", "[date|req|signer1]"),
            ("order.rtf", "[sig|req|signer1]"),
            ("memo.txt", "[sig|req|signer1]"),
        ] {
            let bytes = fixture(name);
            let format = DocumentFormat::of_file(&bytes, name);
            assert!(format.needs_office(), "{name}: {format:?}");
            let pdf = office.convert(&bytes, format, 10 << 20).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            let limits =
                countersign_pdf::Limits { max_pages: 10, max_bytes: 10 << 20, timeout: Duration::from_secs(10) };
            let analysis = countersign_pdf::analyze(&pdf, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!analysis.tags.is_empty(), "{name}: its text tags are read from the PDF ({needle})");
        }
    }

    #[tokio::test]
    async fn a_conversion_over_its_time_is_killed_and_a_broken_file_is_named() {
        let Some(mut office) = converter() else { return };
        let broken = b"PK\x03\x04[Content_Types].xml word/document.xml and then nothing".to_vec();
        let error = office.convert(&broken, DocumentFormat::Docx, 10 << 20).await.unwrap_err();
        assert!(matches!(error, OfficeError::Refused(_)), "a zip without a directory is refused first: {error}");
        office.timeout = Duration::from_millis(50);
        let error = office.convert(&fixture("lease.docx"), DocumentFormat::Docx, 10 << 20).await.unwrap_err();
        assert!(matches!(error, OfficeError::TimedOut(_)), "{error}");
        let missing = OfficeConverter::with_program("/nonexistent/soffice".into());
        let error = missing.convert(b"hello", DocumentFormat::Text, 1 << 20).await.unwrap_err();
        assert!(matches!(error, OfficeError::Unavailable(_)), "{error}");
    }
}
