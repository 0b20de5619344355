//! One module per API resource, each with the same three steps: parse the parameters, call the domain
//! and store, turn the result into Dropbox Sign's wire shape.

pub mod account;
pub mod api_app;
pub mod bulk_send;
pub mod download;
pub mod events;
pub mod oauth;
pub mod ops;
pub mod outbox;
pub mod signature_request;
pub mod template;
pub mod unclaimed_draft;
