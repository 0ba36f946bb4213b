//! Spin's `allowed_outbound_hosts`: parsing entries and checking outbound
//! addresses against them. One matcher for two users: `cp-host` enforces a
//! component's list with it, and a component checks a URL a client
//! configures (a chain's RPC URL) against the pattern it was deployed with,
//! so what the API accepts is what the host will let through.
//!
//! Entries are `scheme://host[:port]` with `*` for any scheme, host or port, `*.domain` for
//! any subdomain, an IP address or CIDR network as host, and `a..b` port ranges (end
//! exclusive). A missing port means the scheme's well-known port (postgres 5432, http 80,
//! https 443, ...). This follows Spin's rules, so a manifest that works here works there.

#![deny(missing_docs)]

use std::net::IpAddr;

use anyhow::{bail, Context as _};

/// A component's parsed `allowed_outbound_hosts` list.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// Stored with its leading dot: `.example.com`.
    Subdomain(String),
    Exact(String),
    Network {
        addr: IpAddr,
        prefix: u8,
    },
    /// `self` (service chaining to the app itself) is not implemented: it matches nothing.
    ToSelf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    Range(u16, u16),
}

/// The port a scheme uses when an address names none.
pub fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHosts {
    /// Whether `url` (`scheme://host[:port]/...`) may be reached.
    pub fn allows_url(&self, url: &str) -> bool {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return false;
        }
        let (host, port) = split_host_port(authority);
        let port = if port.is_empty() {
            None
        } else {
            match port.parse() {
                Ok(port) => Some(port),
                Err(_) => return false,
            }
        };
        !host.is_empty() && self.allows(&scheme.to_ascii_lowercase(), host, port)
    }

    /// Parses entries whose `{{ var }}` templates have already been expanded.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> anyhow::Result<Self> {
        if entries.len() == 1 && entries[0].as_ref() == "insecure:allow-all" {
            bail!(
                "'insecure:allow-all' is not allowed: use '*://*:*' to allow all outbound traffic"
            );
        }
        let entries = entries
            .iter()
            .map(|e| {
                AllowedHost::parse(e.as_ref()).with_context(|| {
                    format!("invalid allowed_outbound_hosts entry {:?}", e.as_ref())
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { entries })
    }

    /// Whether a connection to `host` (and `port`, or the scheme's default) over `scheme` is allowed.
    ///
    /// `host` is lower-cased and may carry IPv6 brackets.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let Some(port) = port.or_else(|| well_known_port(scheme)) else {
            return false;
        };
        self.entries
            .iter()
            .any(|entry| entry.allows(scheme, &host, port))
    }
}

impl AllowedHost {
    fn parse(entry: &str) -> anyhow::Result<Self> {
        let entry = entry.trim();
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("expected <scheme>://<host>[:<port>] (use '*://*:*' to allow everything)");
        };
        let scheme = if scheme == "*" {
            None
        } else if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            Some(scheme.to_ascii_lowercase())
        } else {
            bail!("invalid scheme {scheme:?}");
        };

        let (host, port) = split_host_port(rest);
        let port = match port.split_once('/') {
            Some((_, path)) if !path.is_empty() => bail!("an allowed host must not have a path"),
            Some((port, _)) => port,
            None => port,
        };
        let host = host.trim_end_matches('/');

        let port = if port.is_empty() {
            let scheme = scheme.as_deref().unwrap_or("*");
            let default = well_known_port(scheme).with_context(|| {
                format!("no port given and scheme {scheme:?} has no well-known port")
            })?;
            PortPattern::Port(default)
        } else if port == "*" {
            PortPattern::Any
        } else if let Some((start, end)) = port.split_once("..") {
            let start = start
                .parse()
                .with_context(|| format!("bad port range {port:?}"))?;
            let end = end
                .parse()
                .with_context(|| format!("bad port range {port:?}"))?;
            PortPattern::Range(start, end)
        } else {
            PortPattern::Port(port.parse().with_context(|| format!("bad port {port:?}"))?)
        };

        Ok(Self {
            scheme,
            host: HostPattern::parse(host)?,
            port,
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && self.host.allows(host)
            && self.port.allows(port)
    }
}

/// Splits `host[:port]`, keeping IPv6 literals (`[::1]:80`) intact.
fn split_host_port(rest: &str) -> (&str, &str) {
    if rest.starts_with('[') {
        if let Some(end) = rest.find(']') {
            let (host, after) = rest.split_at(end + 1);
            return (host, after.strip_prefix(':').unwrap_or(after));
        }
    }
    rest.rsplit_once(':').unwrap_or((rest, ""))
}

impl HostPattern {
    fn parse(host: &str) -> anyhow::Result<Self> {
        let host = host.trim();
        if host == "*" {
            return Ok(Self::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(Self::ToSelf);
        }
        if let Some(network) = parse_network(host) {
            return Ok(network);
        }
        if let Some(domain) = host.strip_prefix("*.") {
            if domain.contains('*') {
                bail!("wildcards are allowed only as a leading '*.'");
            }
            return Ok(Self::Subdomain(format!(".{}", domain.to_ascii_lowercase())));
        }
        if host.contains('*') {
            bail!("wildcards are allowed only as a leading '*.'");
        }
        if host.is_empty() || host.contains('/') {
            bail!("invalid host {host:?}");
        }
        Ok(Self::Exact(host.to_ascii_lowercase()))
    }

    fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Subdomain(suffix) => host.ends_with(suffix.as_str()),
            Self::Exact(name) => name == host,
            Self::Network { addr, prefix } => host
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_network(ip, *addr, *prefix)),
            Self::ToSelf => false,
        }
    }
}

/// Parses `ip` or `ip/prefix` (brackets around IPv6 allowed).
fn parse_network(host: &str) -> Option<HostPattern> {
    let (addr, prefix) = match host.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
        None => (host, None),
    };
    let addr: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some(HostPattern::Network { addr, prefix })
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

impl PortPattern {
    fn allows(&self, port: u16) -> bool {
        match *self {
            Self::Any => true,
            Self::Port(p) => p == port,
            Self::Range(start, end) => (start..end).contains(&port),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries).unwrap()
    }

    #[test]
    fn default_ports_apply_on_both_sides() {
        let h = hosts(&["postgres://db.internal", "https://api.example.com"]);
        assert!(h.allows("postgres", "db.internal", None));
        assert!(h.allows("postgres", "db.internal", Some(5432)));
        assert!(!h.allows("postgres", "db.internal", Some(5433)));
        assert!(h.allows("https", "api.example.com", None));
        assert!(h.allows("https", "API.example.com", Some(443)));
        assert!(!h.allows("http", "api.example.com", None));
        assert!(!h.allows("https", "other.example.com", None));
    }

    #[test]
    fn explicit_ports_ranges_and_wildcards() {
        let h = hosts(&["postgres://127.0.0.1:55432", "http://localhost:8000..8010"]);
        assert!(h.allows("postgres", "127.0.0.1", Some(55432)));
        assert!(!h.allows("postgres", "127.0.0.1", None));
        assert!(h.allows("http", "localhost", Some(8000)));
        assert!(h.allows("http", "localhost", Some(8009)));
        assert!(!h.allows("http", "localhost", Some(8010)));

        let any_port = hosts(&["http://localhost:*"]);
        assert!(any_port.allows("http", "localhost", Some(1)));
        assert!(!any_port.allows("https", "localhost", Some(1)));

        let everything = hosts(&["*://*:*"]);
        assert!(everything.allows("postgres", "anything", Some(1)));
        assert!(everything.allows("https", "x.y", None));

        let any_host = hosts(&["https://*"]);
        assert!(any_host.allows("https", "x.y", None));
        assert!(!any_host.allows("https", "x.y", Some(8443)));
    }

    #[test]
    fn subdomain_and_network_hosts() {
        let h = hosts(&[
            "https://*.example.com",
            "http://10.0.0.0/8:*",
            "http://[::1]:80",
        ]);
        assert!(h.allows("https", "api.example.com", None));
        assert!(h.allows("https", "a.b.example.com", None));
        assert!(!h.allows("https", "example.com", None));
        assert!(!h.allows("https", "badexample.com", None));
        assert!(h.allows("http", "10.1.2.3", Some(9000)));
        assert!(!h.allows("http", "11.1.2.3", Some(9000)));
        assert!(h.allows("http", "[::1]", None));
        assert!(h.allows("http", "::1", Some(80)));

        let ip = hosts(&["postgres://127.0.0.1"]);
        assert!(ip.allows("postgres", "127.0.0.1", None));
        assert!(!ip.allows("postgres", "localhost", None));
    }

    #[test]
    fn invalid_entries_are_rejected() {
        for bad in [
            "localhost",
            "*",
            "ftp://host",
            "http://host/path",
            "http://a*b.com",
            "http://*.a*.com",
            "http://host:notaport",
            "1http://host",
        ] {
            assert!(AllowedHosts::parse(&[bad]).is_err(), "{bad}");
        }
        assert!(AllowedHosts::parse(&["insecure:allow-all"]).is_err());
        assert!(AllowedHosts::parse(&["http://host/"]).is_ok());
    }

    #[test]
    fn empty_list_allows_nothing() {
        assert!(!AllowedHosts::default().allows("https", "example.com", None));
    }

    #[test]
    fn urls_are_checked_by_their_origin() {
        let h = hosts(&["https://*.infura.io", "http://127.0.0.1:8545"]);
        assert!(h.allows_url("https://mainnet.infura.io/v3/key"));
        assert!(h.allows_url("HTTPS://sepolia.infura.io"));
        assert!(h.allows_url("http://127.0.0.1:8545/"));
        for not in [
            "http://mainnet.infura.io/v3/key",
            "https://infura.io.evil.example/",
            "http://127.0.0.1:8546",
            "http://127.0.0.1",
            "https://user@mainnet.infura.io/",
            "http://127.0.0.1:notaport/",
            "mainnet.infura.io",
            "https:///path",
        ] {
            assert!(!h.allows_url(not), "{not}");
        }
    }
}
