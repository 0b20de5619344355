//! Who is acting, for the audit trail: the client's IP address and user agent.
//!
//! The address is the connection's peer. Behind a reverse proxy on the same host (the peer is a
//! loopback address), the last address of `X-Forwarded-For` — the one that proxy added — is used
//! instead; a forwarded header from any other peer is ignored, since anyone could send it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use countersign_domain::lifecycle::Client;

/// Longest user agent kept, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// The acting client (an extractor that never fails).
#[derive(Debug, Clone, Default)]
pub struct Acting(pub Client);

impl<S: Send + Sync> FromRequestParts<S> for Acting {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        let ip = match (peer, forwarded) {
            (Some(peer), Some(forwarded)) if peer.is_loopback() => Some(forwarded),
            (peer, _) => peer,
        };
        let ip = ip.map(|ip| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        });
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
            })
            .filter(|ua| !ua.trim().is_empty());
        Ok(Acting(Client { ip_address: ip.map(|ip| ip.to_string()), user_agent }))
    }
}
