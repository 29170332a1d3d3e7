//! Who the client is behind proxies: `TRUSTED_PROXIES` (the hops whose forwarding header is believed),
//! `CLIENT_IP_HEADER` (the one header they write: `X-Forwarded-For` by default, or `Forwarded`, or `X-Real-IP`) and
//! the walk that finds the client's address from the connection's peer and that header's chain. Only entries appended
//! by trusted hops count, and the other forwarding headers are never read, so a client cannot choose the address its
//! per-IP limits are kept under by sending a header of its own.

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

/// Every header that can carry a client's address; a front hop removes them all before writing its own.
pub const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// The one header whose chain trusted proxies write (`CLIENT_IP_HEADER`); the others are ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (what ingress-nginx, Traefik and most load balancers write).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
    /// `X-Real-IP: client` (one address, set by the last proxy).
    XRealIp,
}

impl ClientIpHeader {
    /// Parses `CLIENT_IP_HEADER`: `x-forwarded-for`, `forwarded` or `x-real-ip` (any case).
    pub fn parse(v: &str) -> Result<Self, String> {
        match v.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            "x-real-ip" => Ok(Self::XRealIp),
            _ => Err("expected x-forwarded-for, forwarded or x-real-ip".into()),
        }
    }

    /// The header's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
            Self::XRealIp => "x-real-ip",
        }
    }

    /// The chain in this header's values (every value of the header, in order), oldest entry first.
    pub fn chain<'a>(self, values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let entries = values.into_iter().flat_map(|value| value.split(','));
        match self {
            Self::Forwarded => entries
                .filter_map(|element| {
                    element.split(';').find_map(|pair| {
                        let (key, value) = pair.trim().split_once('=')?;
                        key.trim()
                            .eq_ignore_ascii_case("for")
                            .then(|| value.trim().trim_matches('"').to_owned())
                    })
                })
                .collect(),
            Self::XForwardedFor | Self::XRealIp => entries
                .map(|entry| entry.trim().to_owned())
                .filter(|entry| !entry.is_empty())
                .collect(),
        }
    }

    /// This header's value naming `client` alone: what a front hop that already resolved the client writes.
    pub fn value_for(self, client: IpAddr) -> String {
        match (self, client) {
            (Self::Forwarded, IpAddr::V6(v6)) => format!("for=\"[{v6}]\""),
            (Self::Forwarded, IpAddr::V4(v4)) => format!("for={v4}"),
            (Self::XForwardedFor | Self::XRealIp, ip) => ip.to_string(),
        }
    }
}

/// The networks whose forwarding header is believed, and which header that is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ClientIpHeader,
}

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
        Ok(Self {
            nets,
            header: ClientIpHeader::default(),
        })
    }

    /// The same networks, believing `header` (`CLIENT_IP_HEADER`).
    pub fn reading(self, header: ClientIpHeader) -> Self {
        Self { header, ..self }
    }

    /// The header trusted proxies write.
    pub fn header(&self) -> ClientIpHeader {
        self.header
    }

    /// Whether `ip` is a trusted hop (IPv4-mapped IPv6 addresses count as their IPv4 address).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` whose headers are read through `values` (every value of the named
    /// header): only the configured header's chain is walked (see [`TrustedProxies::client`]).
    pub fn client_of<'a, I>(&self, peer: IpAddr, values: impl FnOnce(&'static str) -> I) -> IpAddr
    where
        I: IntoIterator<Item = &'a str>,
    {
        self.client(peer, &self.header.chain(values(self.header.name())))
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
    fn parses_each_header_format_with_ports_and_brackets() {
        let forwarded = ClientIpHeader::Forwarded.chain([
            "for=192.0.2.43:47011, For=\"[2001:db8:cafe::17]:4711\";proto=https",
            "for=unknown;by=10.0.0.1",
        ]);
        assert_eq!(
            forwarded,
            chain(&["192.0.2.43:47011", "[2001:db8:cafe::17]:4711", "unknown"])
        );
        assert_eq!(parse_node(&forwarded[0]), Some(ip("192.0.2.43")));
        assert_eq!(parse_node(&forwarded[1]), Some(ip("2001:db8:cafe::17")));
        assert_eq!(parse_node(&forwarded[2]), None);
        let xff = ClientIpHeader::XForwardedFor.chain([" 1.1.1.1, 8.8.4.4 ", "2001:db8::1"]);
        assert_eq!(xff, chain(&["1.1.1.1", "8.8.4.4", "2001:db8::1"]));
        assert_eq!(
            ClientIpHeader::XRealIp.chain(["8.8.4.4"]),
            chain(&["8.8.4.4"])
        );
        assert_eq!(parse_node("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("not an address"), None);
        for header in [
            ClientIpHeader::XForwardedFor,
            ClientIpHeader::Forwarded,
            ClientIpHeader::XRealIp,
        ] {
            assert_eq!(
                ClientIpHeader::parse(&header.name().to_uppercase()),
                Ok(header)
            );
            for client in [ip("8.8.4.4"), ip("2001:db8::1")] {
                let written = header.chain([header.value_for(client).as_str()]);
                assert_eq!(written.len(), 1, "{header:?}");
                assert_eq!(parse_node(&written[0]), Some(client), "{header:?}");
            }
        }
        assert!(ClientIpHeader::parse("x-client-ip").is_err());
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let headers = |name: &str| -> Vec<&'static str> {
            match name {
                "forwarded" => vec!["for=7.7.7.7"],
                "x-forwarded-for" => vec!["8.8.4.4"],
                "x-real-ip" => vec!["6.6.6.6"],
                _ => vec![],
            }
        };
        let trusted = TrustedProxies::parse("loopback").expect("loopback");
        let peer = ip("127.0.0.1");
        assert_eq!(
            trusted.client_of(peer, headers),
            ip("8.8.4.4"),
            "X-Forwarded-For by default"
        );
        let forwarded = trusted.clone().reading(ClientIpHeader::Forwarded);
        assert_eq!(forwarded.client_of(peer, headers), ip("7.7.7.7"));
        let real_ip = trusted.reading(ClientIpHeader::XRealIp);
        assert_eq!(real_ip.client_of(peer, headers), ip("6.6.6.6"));
        let none = TrustedProxies::parse("none").expect("none");
        assert_eq!(none.client_of(peer, headers), peer);
    }
}
