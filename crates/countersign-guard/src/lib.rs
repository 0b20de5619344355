//! The SSRF guard: callbacks and fetched documents reach only public addresses unless the operator
//! allows private ones.
//!
//! The check is made on the addresses a name resolves to, at connect time: the resolver below drops
//! every forbidden address and reqwest connects only to what it returns, so a name that resolved to
//! a public address when the URL was saved and to `127.0.0.1` now (DNS rebinding) still cannot reach
//! this machine. IP-literal URLs do not go through a resolver, so [`check_literal`] covers them;
//! the callback sender follows no redirect and the document fetcher checks every hop; both ignore proxies
//! from the environment.

use std::net::{IpAddr, SocketAddr};

use countersign_domain::callback_url::is_forbidden_ip;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| allow_private || !is_forbidden_ip(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("blocked: {host} resolves only to non-public addresses").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Refuses a URL whose host is a forbidden IP literal (or has no host at all), and, unless private
/// addresses are allowed, any scheme but `https`.
pub fn check_literal(url: &url::Url, allow_private: bool) -> Result<(), String> {
    if !matches!(url.scheme(), "https" | "http") || (url.scheme() == "http" && !allow_private) {
        return Err(format!("blocked: scheme {} is not allowed", url.scheme()));
    }
    check_host_literal(url, allow_private)
}

/// The address half of [`check_literal`], for URLs whose scheme rule differs (documents may come over
/// `http://` from public hosts): a host must be present, and an IP-literal host must be public unless
/// private addresses are allowed. Names are checked at connect time by [`GuardedResolver`].
pub fn check_host_literal(url: &url::Url, allow_private: bool) -> Result<(), String> {
    let ip: Option<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(ip.into()),
        Some(url::Host::Ipv6(ip)) => Some(ip.into()),
        Some(url::Host::Domain(_)) => None,
        None => return Err("the URL has no host".into()),
    };
    match ip {
        Some(ip) if !allow_private && is_forbidden_ip(ip) => Err(format!("blocked: {ip} is not a public address")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_are_checked_unless_allowed() {
        let local = url::Url::parse("http://127.0.0.1:8080/cb").unwrap();
        assert!(check_literal(&local, false).is_err());
        assert!(check_literal(&local, true).is_ok());
        let mapped = url::Url::parse("https://[::ffff:192.168.0.1]/").unwrap();
        assert!(check_literal(&mapped, false).is_err());
        assert!(check_literal(&url::Url::parse("https://8.8.8.8/").unwrap(), false).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_non_public_addresses() {
        let strict = GuardedResolver { allow_private: false };
        let refused = strict.resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err());
        let lax = GuardedResolver { allow_private: true };
        let addrs: Vec<SocketAddr> = lax.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        assert!(!addrs.is_empty());
    }
}
