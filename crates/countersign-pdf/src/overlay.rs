//! Pages drawn with krilla (stamps, the audit trail) brought into a document edited with lopdf: the
//! krilla document's objects are renumbered into the target, then a page either becomes a form
//! XObject drawn over an original page, or is appended to the page tree. The original pages' own
//! content streams are never rewritten by this module.

use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::PdfError;

fn failed(why: impl std::fmt::Display) -> PdfError {
    PdfError::Unreadable(format!("the final document could not be composed: {why}"))
}

/// A new krilla document with the settings every drawn page uses (no tagging, no XMP: these pages
/// join another document).
pub(crate) fn krilla_document() -> krilla::Document {
    krilla::Document::new_with(krilla::SerializeSettings {
        xmp_metadata: false,
        enable_tagging: false,
        ..krilla::SerializeSettings::default()
    })
}

/// Serializes a krilla document and reads it back with lopdf.
pub(crate) fn finish(doc: krilla::Document) -> Result<Document, PdfError> {
    let bytes = doc.finish().map_err(|e| failed(format!("{e:?}")))?;
    Document::load_mem(&bytes).map_err(failed)
}

/// Moves every object of `source` but its catalog and page-tree nodes into `target`, renumbered
/// after `target`'s; returns `source`'s pages (new ids), in order.
pub(crate) fn import(target: &mut Document, mut source: Document) -> Vec<ObjectId> {
    source.renumber_objects_with(target.max_id + 1);
    let pages: Vec<ObjectId> = source.get_pages().into_values().collect();
    target.max_id = target.max_id.max(source.max_id);
    for (id, object) in source.objects {
        let kind = object.as_dict().ok().and_then(|d| d.get(b"Type").ok()).and_then(|t| t.as_name().ok());
        if matches!(kind, Some(b"Catalog" | b"Pages")) {
            continue;
        }
        target.objects.insert(id, object);
    }
    pages
}

/// Turns an imported page into a form XObject of its own size; returns the form's id. The page
/// dictionary itself is dropped.
pub(crate) fn page_as_form(target: &mut Document, page: ObjectId) -> Result<ObjectId, PdfError> {
    let dict = target.get_dictionary(page).map_err(failed)?.clone();
    let media = dict.get(b"MediaBox").map_err(failed)?.clone();
    let resources = dict.get(b"Resources").map_err(failed)?.clone();
    let content_id = match dict.get(b"Contents").map_err(failed)? {
        Object::Reference(id) => *id,
        Object::Array(list) if list.len() == 1 => list[0].as_reference().map_err(failed)?,
        _ => return Err(failed("a drawn page has several content streams")),
    };
    target.objects.remove(&page);
    let stream = target.get_object_mut(content_id).and_then(Object::as_stream_mut).map_err(failed)?;
    stream.dict.set("Type", Object::Name(b"XObject".to_vec()));
    stream.dict.set("Subtype", Object::Name(b"Form".to_vec()));
    stream.dict.set("BBox", media);
    stream.dict.set("Resources", resources);
    Ok(content_id)
}

/// Appends imported pages at the end of `target`'s page tree.
pub(crate) fn append_pages(target: &mut Document, pages: &[ObjectId]) -> Result<(), PdfError> {
    let catalog = target.catalog().map_err(failed)?;
    let root = catalog.get(b"Pages").and_then(Object::as_reference).map_err(failed)?;
    for page in pages {
        target
            .get_object_mut(*page)
            .and_then(Object::as_dict_mut)
            .map_err(failed)?
            .set("Parent", Object::Reference(root));
    }
    let node = target.get_object_mut(root).and_then(Object::as_dict_mut).map_err(failed)?;
    let mut kids = match node.get(b"Kids") {
        Ok(Object::Array(list)) => list.clone(),
        _ => Vec::new(),
    };
    kids.extend(pages.iter().map(|p| Object::Reference(*p)));
    let count = node.get(b"Count").and_then(Object::as_i64).unwrap_or(0) + pages.len() as i64;
    node.set("Kids", Object::Array(kids));
    node.set("Count", Object::Integer(count));
    Ok(())
}

/// The page's resources with everything it inherits folded in (a copy, to be set on the page).
pub(crate) fn own_resources(doc: &Document, page_id: ObjectId) -> Result<Dictionary, PdfError> {
    let (own, inherited) = doc.get_page_resources(page_id).map_err(failed)?;
    let mut merged = own.cloned().unwrap_or_default();
    for id in inherited {
        if let Ok(dict) = doc.get_dictionary(id) {
            for (key, value) in dict.iter() {
                if !merged.has(key) {
                    merged.set(key.clone(), value.clone());
                }
            }
        }
    }
    Ok(merged)
}

/// Draws the form `form` over the page with matrix `m` (from the form's space to the page's): the
/// page's content is wrapped in `q … Q` first, so a page that leaves its graphics state changed
/// cannot move what is drawn over it.
pub(crate) fn draw_over(doc: &mut Document, page_id: ObjectId, form: ObjectId, m: [f64; 6]) -> Result<(), PdfError> {
    let mut resources = own_resources(doc, page_id)?;
    let mut xobjects = match resources.get(b"XObject") {
        Ok(Object::Dictionary(d)) => d.clone(),
        Ok(Object::Reference(id)) => doc.get_dictionary(*id).cloned().unwrap_or_default(),
        _ => Dictionary::new(),
    };
    let mut name = b"CsOverlay".to_vec();
    while xobjects.has(&name) {
        name.push(b'x');
    }
    xobjects.set(name.clone(), Object::Reference(form));
    resources.set("XObject", Object::Dictionary(xobjects));
    let [a, b, c, d, e, f] = m;
    let after = format!("Q q {a} {b} {c} {d} {e} {f} cm /{} Do Q\n", String::from_utf8_lossy(&name));
    let before = doc.add_object(lopdf::Stream::new(Dictionary::new(), b"q\n".to_vec()));
    let after = doc.add_object(lopdf::Stream::new(Dictionary::new(), after.into_bytes()));
    let existing = doc.get_dictionary(page_id).map_err(failed)?.get(b"Contents").ok().cloned();
    let mut contents = vec![Object::Reference(before)];
    match existing {
        Some(Object::Array(list)) => contents.extend(list),
        // A reference to an array of streams, or to the one stream.
        Some(Object::Reference(id)) => match doc.get_object(id) {
            Ok(Object::Array(list)) => contents.extend(list.iter().cloned()),
            _ => contents.push(Object::Reference(id)),
        },
        Some(other) => contents.push(other),
        None => {}
    }
    let page = doc.get_object_mut(page_id).and_then(Object::as_dict_mut).map_err(failed)?;
    contents.push(Object::Reference(after));
    page.set("Contents", Object::Array(contents));
    page.set("Resources", Object::Dictionary(resources));
    Ok(())
}
