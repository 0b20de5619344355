//! Black-box tests of the HTTP API: the real server on port 0, on SQLite and on PostgreSQL.

mod helpers;
mod receiver;

mod account;
mod api_app;
mod auth;
mod bulk_send;
mod callback_crate;
mod callbacks;
mod cli;
mod dashboard;
mod edge;
mod final_documents;
mod mail;
mod migrations;
mod oauth;
mod ops;
mod signature_requests;
mod signing;
mod templates;
mod unclaimed_drafts;
