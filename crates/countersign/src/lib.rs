//! The `countersign` server: configuration and wiring. The binary (`main.rs`) is the CLI on top.

pub mod bench;
pub mod bench_bulk;
pub mod bench_documents;
pub mod bench_finalize;
pub mod config;
pub mod startup;
pub mod trigger;
