//! Request parameters, whatever the body they came in.
//!
//! Dropbox Sign accepts the same parameters as JSON, `application/x-www-form-urlencoded` and
//! `multipart/form-data` (compat spec §11.8). In forms, nested values come either as bracket keys
//! (`signers[0][email_address]`, `metadata[key]`, `domains[]`) or as JSON text — the official Python SDK
//! sends `domains='["example.com"]'` and booleans as `True`/`False`. So every body is first turned into
//! one JSON object ([`Params`]); typed structs then deserialize from it with the [`lenient`] helpers,
//! which accept a value either as JSON or as the text forms send. Unknown parameters are collected by a
//! `#[serde(flatten)]` map and answered with `parameter_ignored` warnings, as Dropbox Sign does.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::warnings::Warning;

/// A file part of a multipart body.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// The part's name as sent (`files[0]`, `file[]`, `custom_logo_file`).
    pub field: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// The parameters of one request: text values as one JSON object, files apart.
#[derive(Debug, Default)]
pub struct Params {
    pub fields: Map<String, Value>,
    pub files: Vec<UploadedFile>,
}

impl Params {
    /// Parameters from a URL query string (GET endpoints).
    pub fn from_query(query: Option<&str>) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("Malformed query string: {e}")))?;
        Self::checked(nest_bracket_keys(pairs)?, Vec::new())
    }

    /// Parameters whose every text value was checked for NUL characters (no store can keep them, and
    /// both databases must answer alike): one is a `400` naming its parameter.
    fn checked(fields: Map<String, Value>, files: Vec<UploadedFile>) -> ApiResult<Self> {
        let mut path = String::new();
        for (key, value) in &fields {
            path.clear();
            path.push_str(key);
            if key.contains('\0') || holds_nul(value, &mut path) {
                return Err(ApiError::bad_param(path, "Text may not contain NUL characters."));
            }
        }
        Ok(Self { fields, files })
    }

    /// Deserializes the parameters into `T`, naming the parameter at fault on error.
    pub fn parse<T: DeserializeOwned>(&self) -> ApiResult<T> {
        let value = Value::Object(self.fields.clone());
        serde_path_to_error::deserialize(value).map_err(|e| {
            let mut dotted = e.path().to_string();
            let mut message = e.inner().to_string();
            // An error inside a value that `lenient` deserialized on its own carries its inner path.
            if let Some((inner, rest)) = lenient::split_nested(&message) {
                dotted = lenient::join_paths(&dotted, inner);
                message = rest.to_owned();
            }
            let path = bracket_path(&dotted);
            if path.is_empty() || path == "." {
                ApiError::bad_request(message)
            } else {
                ApiError::bad_param(path, message)
            }
        })
    }

    /// The file parts named `name` (exactly).
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.files.iter().find(|f| f.field == name)
    }
}

/// Whether `value` holds a NUL in a text or a key; `path` is left naming where. The walk is as deep as
/// the value, which the JSON parser (128 levels) and [`check_key`] bound.
fn holds_nul(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = holds_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(map) => map.iter().any(|(key, item)| {
            let len = path.len();
            path.push_str(&format!("[{key}]"));
            let found = key.contains('\0') || holds_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

/// `oauth.scopes[0]` (serde_path_to_error's spelling) → `oauth[scopes][0]` (Dropbox Sign's).
fn bracket_path(dotted: &str) -> String {
    let mut out = String::new();
    for (i, part) in dotted.split('.').enumerate() {
        let (head, tail) = part.find('[').map_or((part, ""), |at| part.split_at(at));
        if i == 0 {
            out.push_str(head)
        } else {
            out.push_str(&format!("[{head}]"))
        }
        out.push_str(tail);
    }
    out
}

impl FromRequest<AppState> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_body_bytes;
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| crate::server::body_error(&e, limit))?;
        let mime = content_type.split(';').next().unwrap_or("").trim().to_owned();
        match mime.as_str() {
            _ if bytes.iter().all(u8::is_ascii_whitespace) && mime != "multipart/form-data" => Ok(Self::default()),
            "application/json" | "" if looks_like_json(&bytes) => parse_json(&bytes),
            "application/json" => parse_json(&bytes),
            "application/x-www-form-urlencoded" => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                    .map_err(|e| ApiError::bad_request(format!("Malformed form body: {e}")))?;
                Self::checked(nest_bracket_keys(pairs)?, Vec::new())
            }
            "multipart/form-data" => {
                let req = Request::from_parts(parts, Body::from(bytes));
                parse_multipart(req, state).await
            }
            other => Err(ApiError::bad_request(format!(
                "Unsupported Content-Type {other:?}: send application/json, application/x-www-form-urlencoded or multipart/form-data"
            ))),
        }
    }
}

fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn parse_json(bytes: &[u8]) -> ApiResult<Params> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(fields)) => Params::checked(fields, Vec::new()),
        Ok(_) => Err(ApiError::bad_request("The JSON body must be an object")),
        Err(e) => Err(ApiError::bad_request(format!("Malformed JSON body: {e}"))),
    }
}

async fn parse_multipart(req: Request, state: &AppState) -> ApiResult<Params> {
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::bad_request(format!("Malformed multipart body: {e}")))?;
    let mut pairs = Vec::new();
    let mut files = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::bad_request(format!("Malformed multipart body: {e}")));
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        check_key(&name)?;
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| ApiError::bad_request(format!("Malformed multipart body: {e}")))?;
        if file_name.is_some() {
            files.push(UploadedFile { field: name, file_name, content_type, bytes });
        } else {
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::bad_param(name.clone(), "Text parameters must be UTF-8"))?;
            pairs.push((name, text));
        }
    }
    Params::checked(nest_bracket_keys(pairs)?, files)
}

/// The most segments a parameter name may have (`signers[0][email_address]` has three; the deepest
/// key any Dropbox Sign operation takes, `form_fields_per_document[0][0][api_id]`, has four).
pub const MAX_KEY_SEGMENTS: usize = 8;
/// The longest parameter name accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// Refuses a parameter name that is too long or nested too deeply, before anything walks it: a
/// name is user-shaped data, and every walk of it below is bounded by these limits.
fn check_key(key: &str) -> ApiResult<()> {
    let shown = || {
        let mut end = key.len().min(64);
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        if end < key.len() { format!("{}…", &key[..end]) } else { key.to_owned() }
    };
    if key.matches('[').count() >= MAX_KEY_SEGMENTS {
        return Err(ApiError::bad_param(
            shown(),
            format!("Parameter names may be nested at most {} levels deep.", MAX_KEY_SEGMENTS - 1),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad_param(
            shown(),
            format!("Parameter names may be at most {MAX_KEY_BYTES} bytes long; this one has {}.", key.len()),
        ));
    }
    Ok(())
}

/// Turns `(key, value)` pairs with bracket keys into one JSON object: `a[b][0][c]=v` becomes
/// `{"a": {"b": [{"c": "v"}]}}`; `a[]=x&a[]=y` becomes `{"a": ["x", "y"]}`. Containers whose keys are
/// all indices become arrays, in index order. A later pair wins over an earlier one with the same key.
/// A key longer than [`MAX_KEY_BYTES`] or deeper than [`MAX_KEY_SEGMENTS`] is a `400` naming it.
pub fn nest_bracket_keys(pairs: Vec<(String, String)>) -> ApiResult<Map<String, Value>> {
    let mut root = Map::new();
    for (key, value) in pairs {
        check_key(&key)?;
        let segments = split_key(&key);
        insert_path(&mut root, &segments, Value::String(value));
    }
    let mut root_value = Value::Object(root);
    arrays_from_index_maps(&mut root_value, MAX_KEY_SEGMENTS);
    match root_value {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    if !key.ends_with(']') {
        return vec![key.to_owned()];
    }
    let mut segments = vec![key[..open].to_owned()];
    segments.extend(key[open + 1..key.len() - 1].split("][").map(str::to_owned));
    segments
}

/// Inserts under `segments`; an empty segment (`[]`) appends, by taking the next free index. Walks as
/// deep as the key has segments, which [`check_key`] bounds.
fn insert_path(map: &mut Map<String, Value>, segments: &[String], value: Value) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let key = if first.is_empty() { map.len().to_string() } else { first.clone() };
    if rest.is_empty() {
        map.insert(key, value);
        return;
    }
    let child = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    if let Value::Object(child_map) = child {
        insert_path(child_map, rest, value);
    }
}

/// Turns objects whose keys are all indices into arrays, at most `depth` levels down (the tree was built
/// from keys of at most that many segments, so nothing lies deeper).
fn arrays_from_index_maps(value: &mut Value, depth: usize) {
    if depth == 0 {
        return;
    }
    if let Value::Object(map) = value {
        for child in map.values_mut() {
            arrays_from_index_maps(child, depth - 1);
        }
        if !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok()) {
            let mut entries: Vec<(usize, Value)> =
                std::mem::take(map).into_iter().filter_map(|(k, v)| k.parse().ok().map(|i| (i, v))).collect();
            entries.sort_by_key(|(i, _)| *i);
            *value = Value::Array(entries.into_iter().map(|(_, v)| v).collect());
        }
    }
}

/// `parameter_ignored` warnings for the parameters a typed struct did not know.
pub fn ignored_warnings<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<Warning> {
    names
        .into_iter()
        .map(|name| Warning::new("parameter_ignored", format!("The parameter {name} was ignored.")))
        .collect()
}

/// Parameter types that take a value as JSON sends it or as a form sends it (text), with the rules in
/// [`lenient`]. Each is absent (`None`) when the parameter is missing, `null` or (for numbers and
/// flags) empty text, so a parameter struct needs only `#[serde(default)]` on itself:
///
/// ```ignore
/// #[derive(Deserialize, Default)]
/// #[serde(default)]
/// struct P { title: Text, signers: List<SignerParams>, test_mode: Flag, expires_at: Count }
/// ```
macro_rules! lenient_type {
    ($(#[$doc:meta])* $name:ident $(<$t:ident>)?, $inner:ty, $parse:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name$(<$t>)?(pub Option<$inner>);

        impl$(<$t>)? Default for $name$(<$t>)? {
            fn default() -> Self {
                Self(None)
            }
        }

        impl<'de, $($t: DeserializeOwned)?> Deserialize<'de> for $name$(<$t>)? {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $parse(d).map(Self)
            }
        }

        impl$(<$t>)? std::ops::Deref for $name$(<$t>)? {
            type Target = Option<$inner>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
    };
}

lenient_type!(
    /// Text, also from a JSON number or boolean ([`lenient::string_opt`]).
    Text,
    String,
    lenient::string_opt
);
lenient_type!(
    /// A boolean: `true`/`false`/`1`/`0` in any case ([`lenient::parse_bool`]).
    Flag,
    bool,
    lenient::bool_opt
);
lenient_type!(
    /// A whole number from 0 to `u32::MAX` ([`lenient::u32_opt`]).
    Count,
    u32,
    lenient::u32_opt
);
lenient_type!(
    /// A list: an array, text holding one, or one text value as a list of one ([`lenient::list_opt`]).
    List<T>,
    Vec<T>,
    lenient::list_opt
);
lenient_type!(
    /// An object: a JSON object or text holding one ([`lenient::object_opt`]).
    Object<T>,
    T,
    lenient::object_opt
);

impl Text {
    /// The value with surrounding white space removed, unless that leaves nothing.
    pub fn non_blank(&self) -> Option<&str> {
        self.0.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

/// Deserializers that accept a value as JSON sends it or as a form sends it (text).
pub mod lenient {
    use serde::de::{DeserializeOwned, Error};
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// Marks an error message that carries the path inside a nested value: `MARK path MARK message`.
    pub const NESTED_MARK: &str = "\u{1}";

    /// `MARK path MARK message` → `(path, message)`.
    pub fn split_nested(message: &str) -> Option<(&str, &str)> {
        message.strip_prefix(NESTED_MARK).and_then(|m| m.split_once(NESTED_MARK))
    }

    /// Joins serde_path_to_error paths: `oauth` + `scopes[0]` → `oauth.scopes[0]`; `.` is the root.
    pub fn join_paths(outer: &str, inner: &str) -> String {
        match (outer, inner) {
            (_, ".") | (_, "") => outer.to_owned(),
            (".", _) | ("", _) => inner.to_owned(),
            _ if inner.starts_with('[') => format!("{outer}{inner}"),
            _ => format!("{outer}.{inner}"),
        }
    }

    fn nested<T: DeserializeOwned, E: Error>(value: Value) -> Result<T, E> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let outer = e.path().to_string();
            let message = e.inner().to_string();
            // A value nested in a nested value: one mark, with the paths joined.
            let (path, message) = match split_nested(&message) {
                Some((inner, rest)) => (join_paths(&outer, inner), rest.to_owned()),
                None => (outer, message),
            };
            E::custom(format!("{NESTED_MARK}{path}{NESTED_MARK}{message}"))
        })
    }

    /// The one boolean rule (the domain's, shared with the worker).
    pub use countersign_domain::parse_bool;

    /// Booleans: see [`parse_bool`].
    pub fn bool_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        parse_bool(&Value::deserialize(d)?).map_err(D::Error::custom)
    }

    fn out_of_range(shown: &str) -> String {
        format!("{shown} is out of range: give a whole number from 0 to {}", u32::MAX)
    }

    /// Whole numbers from 0 to `u32::MAX`, as JSON numbers or text.
    pub fn u32_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(v), _) => u32::try_from(v).map(Some).map_err(|_| D::Error::custom(out_of_range(&n.to_string()))),
                (None, Some(_)) => Err(D::Error::custom(out_of_range(&n.to_string()))),
                _ => Err(D::Error::custom(format!("{n} is not a whole number"))),
            },
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => {
                let t = s.trim();
                let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    match t.parse::<u32>() {
                        Ok(v) => Ok(Some(v)),
                        Err(_) => Err(D::Error::custom(out_of_range(&format!("{s:?}")))),
                    }
                } else {
                    Err(D::Error::custom(format!("{s:?} is not a whole number")))
                }
            }
            other => Err(D::Error::custom(format!("{other} is not a whole number"))),
        }
    }

    /// Text, also from a JSON number or boolean (forms cannot tell them apart).
    pub fn string_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            other => Err(D::Error::custom(format!("expected text, found {other}"))),
        }
    }

    /// A list: a JSON array, text holding a JSON array, or one plain text value as a list of one.
    pub fn list_opt<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<Vec<T>>, D::Error> {
        let value = match Value::deserialize(d)? {
            Value::Null => return Ok(None),
            Value::String(s) if s.trim_start().starts_with('[') => {
                serde_json::from_str(&s).map_err(D::Error::custom)?
            }
            Value::String(s) if s.is_empty() => Value::Array(Vec::new()),
            Value::String(s) => Value::Array(vec![Value::String(s)]),
            other => other,
        };
        nested(value).map(Some)
    }

    /// An object: a JSON object or text holding one.
    pub fn object_opt<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
        let value = match Value::deserialize(d)? {
            Value::Null => return Ok(None),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => serde_json::from_str(&s).map_err(D::Error::custom)?,
            other => other,
        };
        nested(value).map(Some)
    }
}

/// The document parameters of the calls that take files: `file_urls[]` (or the old `file_url[]`).
/// File parts arrive as files ([`Params::files`]), so a text value named `files` / `file` (an SDK
/// sending nothing) is ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DocumentParams {
    file_urls: List<String>,
    file_url: List<String>,
    #[serde(rename = "files")]
    _files: Option<Value>,
    #[serde(rename = "file")]
    _file: Option<Value>,
}

impl DocumentParams {
    /// The URLs given, in order.
    pub fn urls(self) -> Vec<String> {
        self.file_urls.0.into_iter().chain(self.file_url.0).flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn bracket_keys_nest_into_objects_and_arrays() {
        let map = nest_bracket_keys(pairs(&[
            ("title", "NDA"),
            ("signers[1][name]", "Bob Ü"),
            ("signers[0][email_address]", "a@example.com"),
            ("signers[0][name]", "Alice"),
            ("metadata[custom_id]", "1234"),
            ("cc_email_addresses[]", "x@example.com"),
            ("cc_email_addresses[]", "y@example.com"),
            ("test_mode", "1"),
        ]))
        .unwrap();
        assert_eq!(
            Value::Object(map),
            json!({
                "title": "NDA",
                "signers": [{"email_address": "a@example.com", "name": "Alice"}, {"name": "Bob Ü"}],
                "metadata": {"custom_id": "1234"},
                "cc_email_addresses": ["x@example.com", "y@example.com"],
                "test_mode": "1"
            })
        );
    }

    #[test]
    fn keys_too_deep_or_too_long_are_refused_without_walking_them() {
        let deep = format!("a{}", "[a]".repeat(100_000));
        let error = nest_bracket_keys(pairs(&[(&deep, "x")])).unwrap_err();
        assert_eq!(error.name, "bad_request");
        assert!(error.path.as_deref().unwrap().len() < 80, "the name is shortened in the answer");
        let nested = format!("a{}", "[a]".repeat(MAX_KEY_SEGMENTS - 1));
        assert!(nest_bracket_keys(pairs(&[(&nested, "x")])).is_ok(), "the deepest allowed key still nests");
        let too_deep = format!("a{}", "[a]".repeat(MAX_KEY_SEGMENTS));
        assert!(nest_bracket_keys(pairs(&[(&too_deep, "x")])).is_err());
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(nest_bracket_keys(pairs(&[(&long, "x")])).unwrap_err().message.contains("512 bytes"));
    }

    #[test]
    fn a_wrong_type_two_levels_down_names_its_path_without_markers() {
        #[derive(serde::Deserialize, Default, Debug)]
        #[serde(default)]
        struct Inner {
            #[allow(dead_code)]
            scopes: List<String>,
        }
        #[derive(serde::Deserialize, Default, Debug)]
        #[serde(default)]
        struct Outer {
            #[allow(dead_code)]
            oauth: Object<Inner>,
        }
        let params =
            Params { fields: nest_bracket_keys(pairs(&[("oauth[scopes][x]", "y")])).unwrap(), files: Vec::new() };
        let error = params.parse::<Outer>().unwrap_err();
        assert_eq!(error.path.as_deref(), Some("oauth[scopes]"));
        assert!(!error.message.contains(lenient::NESTED_MARK), "{:?}", error.message);
    }

    #[test]
    fn integers_out_of_range_say_so() {
        for (raw, needle) in [
            (json!(-1), "out of range"),
            (json!("-3"), "out of range"),
            (json!("99999999999"), "out of range"),
            (json!(1.5), "not a whole number"),
            (json!("abc"), "not a whole number"),
        ] {
            let error = serde_json::from_value::<Sample>(json!({ "page": raw })).err().unwrap().to_string();
            assert!(error.contains(needle), "{raw}: {error}");
        }
    }

    #[test]
    fn nul_characters_are_refused_naming_the_parameter() {
        let error = Params::from_query(Some("title=a%00b")).unwrap_err();
        assert_eq!(error.path.as_deref(), Some("title"));
        let error = parse_json(br#"{"signers": [{"name": "ok"}, {"name": "x\u0000"}]}"#).unwrap_err();
        assert_eq!(error.path.as_deref(), Some("signers[1][name]"));
        assert!(parse_json(br#"{"message": "line one\nline two\t"}"#).is_ok());
    }

    #[test]
    fn error_paths_use_brackets() {
        assert_eq!(bracket_path("oauth.scopes[0]"), "oauth[scopes][0]");
        assert_eq!(bracket_path("domains"), "domains");
    }

    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Sample {
        flag: Flag,
        domains: List<String>,
        page: Count,
    }

    #[test]
    fn lenient_values_accept_json_and_form_spellings() {
        for (flag, expected) in
            [(json!(true), true), (json!("True"), true), (json!("0"), false), (json!(1), true), (json!("FALSE"), false)]
        {
            let s: Sample = serde_json::from_value(json!({"flag": flag})).unwrap();
            assert_eq!(s.flag.0, Some(expected));
        }
        assert!(serde_json::from_value::<Sample>(json!({"flag": "yes"})).is_err());
        let s: Sample = serde_json::from_value(json!({"domains": "[\"a.com\", \"b.com\"]", "page": "3"})).unwrap();
        assert_eq!(s.domains.0.unwrap(), vec!["a.com", "b.com"]);
        assert_eq!(s.page.0, Some(3));
        let s: Sample = serde_json::from_value(json!({"domains": "a.com"})).unwrap();
        assert_eq!(s.domains.0.unwrap(), vec!["a.com"]);
    }
}
