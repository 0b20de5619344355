//! Dropbox Sign's warnings: `{"warnings": [{"warning_msg", "warning_name"}]}` beside a successful body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Warning {
    pub warning_msg: String,
    pub warning_name: String,
}

impl Warning {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        Self { warning_msg: message.into(), warning_name: name.to_owned() }
    }
}

/// A successful answer: a JSON object, with `warnings` added when there are any.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub warnings: Vec<Warning>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body, warnings: Vec::new() }
    }

    pub fn created(body: Value) -> Self {
        Self { status: StatusCode::CREATED, body, warnings: Vec::new() }
    }

    pub fn with_warnings(mut self, warnings: Vec<Warning>) -> Self {
        self.warnings.extend(warnings);
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut body = self.body;
        if let (false, Value::Object(map)) = (self.warnings.is_empty(), &mut body) {
            let warnings = serde_json::to_value(&self.warnings).unwrap_or(Value::Null);
            map.insert("warnings".into(), warnings);
        }
        (self.status, Json(body)).into_response()
    }
}
