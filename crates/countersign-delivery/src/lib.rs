//! The callback delivery engine.
//!
//! Deliveries are rows written by the transactional outbox (`countersign_store::outbox`) in the same
//! transaction as the change that caused their event. This crate takes it from there: it claims due
//! deliveries in batches with a lease ([`engine`]), POSTs each exactly as Dropbox Sign does
//! ([`sender`]), judges the answer (HTTP 200 and a body containing `Hello API Event Received`),
//! records every attempt, and schedules the next one or gives up ([`schedule`]). Connections go only to
//! public addresses unless the operator allows private ones, checked on the resolved IP at connect time
//! (`countersign-guard`).
//!
//! Not for: deciding who gets an event or what it says (that is fixed at commit), HTTP serving.

pub mod config;
pub mod engine;
pub mod schedule;
pub mod sender;

pub use config::DeliveryConfig;
pub use engine::DeliveryEngine;
