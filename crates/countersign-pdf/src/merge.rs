//! Several PDFs as one, pages in order (`GET /v3/signature_request/files/{id}` for a request with more
//! than one document).
//!
//! Each document's objects are renumbered into one id space; every page is re-parented under one page
//! tree, after the attributes it inherited from its old tree (`Resources`, `MediaBox`, `CropBox`,
//! `Rotate`) are copied onto it, so no page loses its fonts or size.

use lopdf::{Dictionary, Document, Object, ObjectId};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("document {index} could not be read: {message}")]
    Unreadable { index: usize, message: String },
    #[error("the merged document could not be written: {0}")]
    Write(String),
}

const INHERITABLE: [&[u8]; 4] = [b"Resources", b"MediaBox", b"CropBox", b"Rotate"];

/// The attributes `page` inherits from its ancestors, copied onto it.
fn with_inherited(doc: &Document, page_id: ObjectId) -> Option<Dictionary> {
    let mut page = doc.get_object(page_id).ok()?.as_dict().ok()?.clone();
    let mut parent = page.get(b"Parent").and_then(Object::as_reference).ok();
    let mut depth = 0;
    while let (Some(id), true) = (parent, depth < 64) {
        let Some(node) = doc.get_object(id).ok().and_then(|o| o.as_dict().ok()) else { break };
        for key in INHERITABLE {
            if !page.has(key)
                && let Ok(value) = node.get(key)
            {
                page.set(key.to_vec(), value.clone());
            }
        }
        parent = node.get(b"Parent").and_then(Object::as_reference).ok();
        depth += 1;
    }
    Some(page)
}

/// `parts` as one PDF, in order.
pub fn merge(parts: &[&[u8]]) -> Result<Vec<u8>, MergeError> {
    let mut merged = Document::with_version("1.7");
    let mut next_id = 1;
    let mut page_ids: Vec<ObjectId> = Vec::new();
    let mut page_dicts: Vec<(ObjectId, Dictionary)> = Vec::new();
    for (index, bytes) in parts.iter().enumerate() {
        let unreadable = |e: lopdf::Error| MergeError::Unreadable { index, message: e.to_string() };
        let mut doc = crate::open_for_editing(bytes, unreadable, unreadable)?;
        doc.renumber_objects_with(next_id);
        next_id = doc.max_id + 1;
        let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
        for page_id in &pages {
            let dict = with_inherited(&doc, *page_id)
                .ok_or_else(|| MergeError::Unreadable { index, message: "a page is not a dictionary".into() })?;
            page_dicts.push((*page_id, dict));
        }
        page_ids.extend(pages);
        // Keep every object but the old catalogs and page-tree nodes (pages are re-added below).
        for (id, object) in doc.objects {
            let kind = object.as_dict().ok().and_then(|d| d.get(b"Type").ok()).and_then(|t| t.as_name().ok());
            if matches!(kind, Some(b"Catalog" | b"Pages" | b"Outlines")) {
                continue;
            }
            merged.objects.insert(id, object);
        }
    }
    let pages_id = (next_id, 0);
    let catalog_id = (next_id + 1, 0);
    for (page_id, mut dict) in page_dicts {
        dict.set("Parent", Object::Reference(pages_id));
        merged.objects.insert(page_id, Object::Dictionary(dict));
    }
    let mut pages = Dictionary::new();
    pages.set("Type", Object::Name(b"Pages".to_vec()));
    pages.set("Count", Object::Integer(page_ids.len() as i64));
    pages.set("Kids", Object::Array(page_ids.iter().map(|id| Object::Reference(*id)).collect()));
    merged.objects.insert(pages_id, Object::Dictionary(pages));
    let mut catalog = Dictionary::new();
    catalog.set("Type", Object::Name(b"Catalog".to_vec()));
    catalog.set("Pages", Object::Reference(pages_id));
    merged.objects.insert(catalog_id, Object::Dictionary(catalog));
    merged.trailer.set("Root", Object::Reference(catalog_id));
    merged.max_id = next_id + 1;
    let mut out = Vec::new();
    merged.save_to(&mut out).map_err(|e| MergeError::Write(e.to_string()))?;
    Ok(out)
}
