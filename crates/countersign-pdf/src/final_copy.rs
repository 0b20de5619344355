//! The final copy of a request: stamped document(s) + audit trail + an empty signature, ready for
//! the seal (`countersign-seal` signs [`PreparedPdf::signed_parts`] and calls [`PreparedPdf::embed`]).

use crate::audit::{AuditTrail, audit_pages};
use crate::signature::{PreparedPdf, SealSpec, prepare_signature};
use crate::stamp::load;
use crate::{PdfError, overlay};

/// Appends the audit trail to the stamped document `stamped` and adds the signature placeholder.
pub fn prepare_final(stamped: &[u8], trail: &AuditTrail, spec: &SealSpec) -> Result<PreparedPdf, PdfError> {
    let mut doc = load(stamped)?;
    let audit = audit_pages(trail)?;
    let pages = overlay::import(&mut doc, audit);
    overlay::append_pages(&mut doc, &pages)?;
    prepare_signature(doc, spec)
}
