//! One file per job kind. Each `run` does its job and commits its outcome, or returns a [`Transient`]
//! error for the runner to retry (see `retry_after` in the crate root).
//!
//! [`Transient`]: crate::Transient

pub(crate) mod bulk_send;
pub(crate) mod expire;
pub(crate) mod finalize;
pub(crate) mod process_documents;
pub(crate) mod process_template;
pub(crate) mod send_email;
