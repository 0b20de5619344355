//! Callback URL rules (DECISIONS.md, "Callback URL rules").
//!
//! By default a callback URL must be `https://` and point at a public address. `http://` and
//! loopback, private, link-local and other non-public ranges are allowed only when the operator says so
//! (`COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS=1`, for development and tests). This module makes the check
//! when a URL is *set*; the delivery engine repeats the address check on the resolved IP at connect
//! time, so DNS rebinding cannot get around it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use url::{Host, Url};

use crate::InvalidInput;

/// How strict the rules are on this instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallbackPolicy {
    /// Allow `http://` and non-public addresses.
    pub allow_private: bool,
}

/// A callback URL that passed the rules when it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl(Url);

impl CallbackUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// Longest URL accepted; longer ones are almost certainly mistakes and bloat every delivery row.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;

/// Checks what can be checked without the network: length, syntax, scheme, credentials, literal
/// addresses and names that always mean this machine.
pub fn parse_callback_url(raw: &str, policy: CallbackPolicy, path: &str) -> Result<CallbackUrl, InvalidInput> {
    let refuse = |why: &str| InvalidInput::new(path, format!("Invalid callback URL {raw:?}: {why}"));
    let trimmed = raw.trim();
    if trimmed.len() > MAX_CALLBACK_URL_LEN {
        return Err(refuse("longer than 2048 characters"));
    }
    let url = Url::parse(trimmed).map_err(|e| refuse(&e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        "http" => {
            return Err(refuse(
                "must use https:// (http:// is allowed only when the operator permits private callbacks)",
            ));
        }
        _ => return Err(refuse("must be an https:// URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must not contain credentials"));
    }
    let host = url.host().ok_or_else(|| refuse("has no host"))?;
    if !policy.allow_private {
        match host {
            Host::Ipv4(ip) if is_forbidden_ip(IpAddr::V4(ip)) => {
                return Err(refuse("points at a non-public address"));
            }
            Host::Ipv6(ip) if is_forbidden_ip(IpAddr::V6(ip)) => {
                return Err(refuse("points at a non-public address"));
            }
            Host::Domain(name) if is_local_name(name) => {
                return Err(refuse("points at this machine"));
            }
            _ => {}
        }
    }
    Ok(CallbackUrl(url))
}

/// The full set-time check: [`parse_callback_url`], then, for host names, a DNS look-up (bounded by
/// `timeout`) that refuses a name resolving only to non-public addresses. A name that does not resolve
/// now is accepted: DNS may not be reachable from here, and the connect-time guard still applies.
pub async fn check_callback_url(
    raw: &str,
    policy: CallbackPolicy,
    path: &str,
    timeout: Duration,
) -> Result<CallbackUrl, InvalidInput> {
    check_callback_url_with(raw, policy, path, |host, port| async move {
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            _ => Vec::new(),
        }
    })
    .await
}

/// [`check_callback_url`] with the resolver given: `resolve(host, port)` returns the host's addresses
/// (empty when it cannot tell).
pub async fn check_callback_url_with<F, Fut>(
    raw: &str,
    policy: CallbackPolicy,
    path: &str,
    resolve: F,
) -> Result<CallbackUrl, InvalidInput>
where
    F: FnOnce(String, u16) -> Fut,
    Fut: std::future::Future<Output = Vec<IpAddr>>,
{
    let url = parse_callback_url(raw, policy, path)?;
    if policy.allow_private {
        return Ok(url);
    }
    if let Some(Host::Domain(name)) = url.url().host() {
        let port = url.url().port_or_known_default().unwrap_or(443);
        let addrs = resolve(name.to_owned(), port).await;
        if !addrs.is_empty() && addrs.iter().all(|ip| is_forbidden_ip(*ip)) {
            return Err(InvalidInput::new(
                path,
                format!("Invalid callback URL {raw:?}: its host resolves only to non-public addresses"),
            ));
        }
    }
    Ok(url)
}

fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name == "localhost.localdomain"
}

/// True for every address a callback must not reach unless private callbacks are allowed: loopback,
/// RFC 1918, CGNAT, link-local (cloud metadata), unspecified, multicast, broadcast, documentation and
/// benchmarking ranges, IPv6 ULA and link-local, and IPv4 addresses hidden in IPv6 (mapped, NAT64,
/// compatible).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || a >= 240 // reserved
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let embedded = embedded_v4(ip);
    if embedded.iter().flatten().any(|v4| is_forbidden_v4(*v4)) {
        return true;
    }
    let [first, second, third, ..] = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (first == 0x2001 && second == 0x0db8) // documentation
        || (first == 0x0064 && second == 0xff9b && third == 0x0001) // local-use NAT64 64:ff9b:1::/48, never global
        || (first == 0x0100 && second == 0 && ip.segments()[2] == 0 && ip.segments()[3] == 0) // discard-only 100::/64
}

/// The IPv4 addresses an IPv6 address carries, by the prefix that embeds them:
/// - IPv4-mapped `::ffff:a.b.c.d` (`::ffff:0:0/96`), IPv4-translated `::ffff:0:a.b.c.d`
///   (`::ffff:0:0:0/96`, SIIT) and IPv4-compatible `::a.b.c.d`: the last 32 bits;
/// - NAT64 `64:ff9b::/96` and local-use `64:ff9b:1::/48`: the last 32 bits;
/// - 6to4 `2002:AABB:CCDD::/48`: bits 16–47;
/// - Teredo `2001:0::/32`: the server at bits 32–63 and the client, inverted, in the last 32 bits.
fn embedded_v4(ip: Ipv6Addr) -> [Option<Ipv4Addr>; 2] {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    let tail = v4(s[6], s[7]);
    let mapped = s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff;
    let translated = s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0;
    let compatible = s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0, 0, 0, 0] || s[2] == 1);
    if mapped || translated || compatible || nat64 {
        return [Some(tail), None];
    }
    if s[0] == 0x2002 {
        return [Some(v4(s[1], s[2])), None];
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return [Some(v4(s[2], s[3])), Some(v4(!s[6], !s[7]))];
    }
    [None, None]
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: CallbackPolicy = CallbackPolicy { allow_private: false };
    const LAX: CallbackPolicy = CallbackPolicy { allow_private: true };

    #[test]
    fn https_public_urls_pass() {
        for ok in [
            "https://www.example.com/callback",
            "https://8.8.8.8/cb",
            "https://[2606:4700::1111]/x",
            "https://[2002:808:808::1]/",           // 6to4 of a public address
            "https://[2001:0:808:808::f7f7:f7f7]/", // Teredo between public addresses
        ] {
            assert!(parse_callback_url(ok, STRICT, "callback_url").is_ok(), "{ok}");
        }
    }

    #[test]
    fn non_public_targets_are_refused_in_every_spelling() {
        for bad in [
            "http://www.example.com/cb",
            "ftp://example.com/",
            "https://127.0.0.1/",
            "https://2130706433/", // decimal 127.0.0.1, normalised by the URL parser
            "https://0x7f.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/", // 169.254.169.254, the metadata address
            "https://169.254.169.254/latest/meta-data",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[::ffff:0:7f00:1]/",           // SIIT ::ffff:0:0:0/96, 127.0.0.1
            "https://[::ffff:0:a00:1]/",            // SIIT, 10.0.0.1
            "https://[64:ff9b:1::a9fe:a9fe]/",      // local-use NAT64, 169.254.169.254
            "https://[64:ff9b:1::808:808]/",        // local-use NAT64 is never global, even for 8.8.8.8
            "https://[2002:7f00:1::1]/",            // 6to4 of 127.0.0.1
            "https://[2002:c0a8:101::]/",           // 6to4 of 192.168.1.1
            "https://[2001:0:a9fe:a9fe::1]/",       // Teredo, server 169.254.169.254
            "https://[2001:0:808:808::f5ff:fffe]/", // Teredo, client 10.0.0.1 (inverted)
            "https://localhost/cb",
            "https://api.localhost./cb",
            "https://user:pass@example.com/",
            "not a url",
        ] {
            let err = parse_callback_url(bad, STRICT, "callback_url").unwrap_err();
            assert_eq!(err.path, "callback_url", "{bad}");
        }
    }

    #[test]
    fn the_operator_can_allow_http_and_private_addresses() {
        for ok in ["http://127.0.0.1:9/cb", "http://localhost:8080/", "https://10.0.0.1/"] {
            assert!(parse_callback_url(ok, LAX, "callback_url").is_ok(), "{ok}");
        }
        assert!(parse_callback_url("ftp://127.0.0.1/", LAX, "callback_url").is_err());
    }

    #[tokio::test]
    async fn names_resolving_only_to_non_public_addresses_are_refused() {
        let loopback =
            |_: String, _: u16| async { vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(Ipv6Addr::LOCALHOST)] };
        let err =
            check_callback_url_with("https://rebind.example/cb", STRICT, "callback_url", loopback).await.unwrap_err();
        assert_eq!(err.path, "callback_url");
        let mixed = |_: String, _: u16| async { vec![IpAddr::from([10, 0, 0, 1]), IpAddr::from([93, 184, 216, 34])] };
        assert!(check_callback_url_with("https://mixed.example/cb", STRICT, "callback_url", mixed).await.is_ok());
        let unknown = |_: String, _: u16| async { Vec::new() };
        assert!(check_callback_url_with("https://offline.example/cb", STRICT, "callback_url", unknown).await.is_ok());
        assert!(check_callback_url_with("https://rebind.example/cb", LAX, "callback_url", loopback).await.is_ok());
    }
}
