//! Who is calling: the client's address and whether it reached us over HTTPS, taken
//! from the connection, or from a trusted reverse proxy's `X-Forwarded-*` headers.
//! Everything per-address (log-in and sign-up limits, connection caps) and every
//! `Secure` cookie decision reads it from here.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use app::services::ClientAddr;
use axum::{
    extract::{ConnectInfo, Request},
    http::{header, HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

/// Browsers remember for two years to use HTTPS only.
const HSTS: &str = "max-age=63072000";

/// A `--trusted-proxy` value: a CIDR block, or one address standing for itself.
pub fn parse_trusted_proxy(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is neither an address nor a CIDR block"))
}

/// How requests reach the server: directly (TLS or not), or through proxies.
#[derive(Clone, Debug, Default)]
pub struct Reach {
    /// The server terminates TLS itself.
    pub tls: bool,
    pub trusted_proxies: Vec<IpNet>,
}

impl Reach {
    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: the peer itself, unless it is a trusted proxy; then
    /// the right-most `X-Forwarded-For` address that is not a trusted proxy (the
    /// left part of that header is whatever the client chose to send).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return ClientAddr {
                ip: peer,
                https: self.tls,
            };
        }
        let mut ip = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(hop) => {
                    ip = canonical(hop);
                    if !self.trusts(ip) {
                        break;
                    }
                }
                // Garbage: the proxy that appended it is the last address known.
                Err(_) => break,
            }
        }
        // The client-facing proxy's scheme is the first entry.
        let https = self.tls
            || headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        ClientAddr { ip, https }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:1.2.3.4`, as a dual-stack socket reports
/// it) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The key that per-address limits count by: an IPv4 address, or an IPv6 address's
/// /64, since one subscriber is usually given a whole /64 and could rotate through it.
pub fn address_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

/// Puts the [`ClientAddr`] into the request for handlers and server functions, and
/// sends `Strict-Transport-Security` on what was served over HTTPS.
pub async fn identify(reach: Reach, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = peer.map(|peer| reach.client(peer, request.headers()));
    if let Some(client) = client {
        request.extensions_mut().insert(client);
    }
    let mut response = next.run(request).await;
    if client.is_some_and(|client| client.https) {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(proxies: &[&str]) -> Reach {
        Reach {
            tls: false,
            trusted_proxies: proxies
                .iter()
                .map(|p| parse_trusted_proxy(p).unwrap())
                .collect(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_from_strangers_are_ignored() {
        let reach = reach(&["10.0.0.1"]);
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = reach.client(ip("203.0.113.9"), &h);
        assert_eq!(client.ip, ip("203.0.113.9"));
        assert!(!client.https);
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let reach = reach(&["10.0.0.0/8", "::1"]);
        // The client forged the first entry; the proxy appended the real one.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-for", "10.1.2.3"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = reach.client(ip("10.0.0.1"), &h);
        assert_eq!(client.ip, ip("198.51.100.7"));
        assert!(client.https);
        // Through IPv6 loopback, written as a mapped address by a dual-stack socket.
        let client = reach.client(ip("::1"), &headers(&[("x-forwarded-for", "198.51.100.8")]));
        assert_eq!(client.ip, ip("198.51.100.8"));
    }

    #[test]
    fn garbage_or_only_proxies_leave_the_last_known_hop() {
        let reach = reach(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.7, nonsense, 10.9.9.9")]);
        assert_eq!(reach.client(ip("10.0.0.1"), &h).ip, ip("10.9.9.9"));
        let h = headers(&[("x-forwarded-for", "10.2.2.2")]);
        assert_eq!(reach.client(ip("10.0.0.1"), &h).ip, ip("10.2.2.2"));
        assert_eq!(
            reach.client(ip("10.0.0.1"), &HeaderMap::new()).ip,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn tls_served_directly_is_https() {
        let reach = Reach {
            tls: true,
            trusted_proxies: vec![],
        };
        assert!(reach.client(ip("192.0.2.1"), &HeaderMap::new()).https);
    }

    #[test]
    fn ipv6_counts_by_its_slash_64() {
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            address_key(ip("2001:db8:1:2:bbbb::9")),
            address_key(ip("2001:db8:1:2:aaaa::1"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:3::1")),
            address_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(address_key(ip("192.0.2.1")), "192.0.2.1");
    }

    #[test]
    fn proxies_are_addresses_or_blocks() {
        assert!(parse_trusted_proxy("127.0.0.1").is_ok());
        assert!(parse_trusted_proxy("10.0.0.0/8").is_ok());
        assert!(parse_trusted_proxy("fd00::/8").is_ok());
        assert!(parse_trusted_proxy("proxy.local").is_err());
    }
}
