//! Who the client is behind proxies: `TRUSTED_PROXIES` (the hops whose forwarding headers are believed) and the walk
//! that finds the client's address from the connection's peer and its `Forwarded` / `X-Forwarded-For` chain. Only
//! entries appended by trusted hops count, so a client cannot choose the address its per-IP limits are kept under by
//! sending its own header.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// Loopback: the all-mode front hop and a sidecar proxy.
const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];
/// Private, shared (CGNAT) and unique-local ranges: where a cluster's ingress and pod networks live.
const PRIVATE: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// The networks whose forwarding headers are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `TRUSTED_PROXIES`: comma-separated CIDRs or addresses, and the words `loopback`, `private` and
    /// `none` (trust no proxy: the peer is always the client).
    pub fn parse(v: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        let mut none = false;
        for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "none" => none = true,
                "loopback" => nets.extend(networks(&LOOPBACK)),
                "private" => nets.extend(networks(&PRIVATE)),
                _ => nets.push(
                    item.parse::<IpNet>()
                        .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                        .map_err(|_| {
                            format!(
                                "{item:?} is not a CIDR (10.0.0.0/8), an address, loopback, private or none"
                            )
                        })?,
                ),
            }
        }
        if none && !nets.is_empty() {
            return Err("none cannot be combined with networks".into());
        }
        if !none && nets.is_empty() {
            return Err("list networks, or none to trust no proxy".into());
        }
        Ok(Self(nets))
    }

    /// Whether `ip` is a trusted hop (IPv4-mapped IPv6 addresses count as their IPv4 address).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: starting at the connection's peer, each trusted hop's forwarded entry is believed in
    /// turn, right to left; the first address that is not a trusted hop is the client. An entry that is not an
    /// address (`unknown`, an obfuscated name) ends the walk at the hop that wrote it.
    pub fn client(&self, peer: IpAddr, chain: &[String]) -> IpAddr {
        let mut current = peer.to_canonical();
        for entry in chain.iter().rev() {
            if !self.trusts(current) {
                break;
            }
            match parse_node(entry) {
                Some(ip) => current = ip.to_canonical(),
                None => break,
            }
        }
        current
    }
}

/// The forwarded chain of a request, oldest first: the `for=` nodes of its `Forwarded` headers (RFC 7239) when it
/// has any, else the entries of its `X-Forwarded-For` headers. Each argument holds every value of that header.
pub fn forwarded_chain<'a>(
    forwarded: impl IntoIterator<Item = &'a str>,
    x_forwarded_for: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let from_forwarded: Vec<String> = forwarded
        .into_iter()
        .flat_map(|value| value.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
        })
        .collect();
    if !from_forwarded.is_empty() {
        return from_forwarded;
    }
    x_forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(|entry| entry.trim().to_owned())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// The networks of a built-in list (constants, checked by the tests below).
fn networks(list: &[&str]) -> impl Iterator<Item = IpNet> {
    list.iter().filter_map(|n| n.parse().ok())
}

/// An address in a forwarded entry: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_node(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    entry.parse().ok().or_else(|| {
        let (host, port) = entry.split_once(':')?;
        port.parse::<u16>().ok()?;
        host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn chain(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| (*e).to_owned()).collect()
    }

    #[test]
    fn parses_words_networks_and_addresses() {
        let trusted = TrustedProxies::parse("loopback, private, 203.0.113.0/24, 198.51.100.7")
            .expect("valid list");
        for yes in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "172.31.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
        ] {
            assert!(trusted.trusts(ip(yes)), "{yes}");
        }
        assert!(trusted.trusts(ip("203.0.113.99")));
        assert!(trusted.trusts(ip("198.51.100.7")));
        assert!(trusted.trusts(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        for no in ["8.8.8.8", "172.32.0.1", "198.51.100.8", "2001:db8::1"] {
            assert!(!trusted.trusts(ip(no)), "{no}");
        }
        assert_eq!(
            TrustedProxies::parse("none").expect("none"),
            TrustedProxies::default()
        );
        assert_eq!(
            networks(&LOOPBACK).count() + networks(&PRIVATE).count(),
            7,
            "every built-in range parses"
        );
    }

    #[test]
    fn rejects_bad_lists_with_a_reason() {
        for bad in [
            "",
            " , ",
            "10.0.0.0/33",
            "proxy.example",
            "none, 10.0.0.0/8",
        ] {
            let err = TrustedProxies::parse(bad).expect_err("rejected");
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert!(
            TrustedProxies::parse("localhost")
                .expect_err("rejected")
                .contains("\"localhost\"")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = TrustedProxies::parse("loopback, private").expect("default");
        let forged = chain(&["1.1.1.1"]);
        assert_eq!(trusted.client(ip("8.8.8.8"), &forged), ip("8.8.8.8"));
        let none = TrustedProxies::parse("none").expect("none");
        assert_eq!(none.client(ip("127.0.0.1"), &forged), ip("127.0.0.1"));
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop_from_the_right() {
        let trusted = TrustedProxies::parse("loopback, private").expect("default");
        // The client forged 1.1.1.1; the ingress (10.0.0.5) appended the real client 8.8.4.4; the all-mode front
        // appended the ingress.
        let hops = chain(&["1.1.1.1", "8.8.4.4", "10.0.0.5"]);
        assert_eq!(trusted.client(ip("127.0.0.1"), &hops), ip("8.8.4.4"));
        // Every hop trusted: the oldest entry is the client (a client on the private network).
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &chain(&["192.168.1.20"])),
            ip("192.168.1.20")
        );
        // No header at all.
        assert_eq!(trusted.client(ip("10.0.0.5"), &[]), ip("10.0.0.5"));
        // An entry that is no address ends the walk at the hop that wrote it.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &chain(&["unknown"])),
            ip("10.0.0.5")
        );
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &chain(&["8.8.4.4"])),
            ip("8.8.4.4")
        );
    }

    #[test]
    fn reads_forwarded_before_x_forwarded_for_with_ports_and_brackets() {
        let both = forwarded_chain(
            [
                "for=192.0.2.43:47011, For=\"[2001:db8:cafe::17]:4711\";proto=https",
                "for=unknown;by=10.0.0.1",
            ],
            ["9.9.9.9"],
        );
        assert_eq!(
            both,
            chain(&["192.0.2.43:47011", "[2001:db8:cafe::17]:4711", "unknown"])
        );
        assert_eq!(parse_node(&both[0]), Some(ip("192.0.2.43")));
        assert_eq!(parse_node(&both[1]), Some(ip("2001:db8:cafe::17")));
        assert_eq!(parse_node(&both[2]), None);
        let xff = forwarded_chain([], [" 1.1.1.1, 8.8.4.4 ", "2001:db8::1"]);
        assert_eq!(xff, chain(&["1.1.1.1", "8.8.4.4", "2001:db8::1"]));
        assert_eq!(parse_node("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("not an address"), None);
    }
}
