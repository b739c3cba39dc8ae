//! Requests the server makes on a user's behalf (webhook deliveries now; replication and
//! proxying later) never reach loopback, link-local, private or otherwise internal
//! addresses unless an administrator listed the network. The check happens on the
//! addresses a name resolves to — inside the HTTP client's resolver, so the connection
//! uses exactly the addresses that were checked (no second lookup to rebind) — on literal
//! addresses in URLs, and on every redirect. Without it a maintainer could point a webhook
//! at the cloud metadata service or scan the internal network through the delivery log.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// A network in CIDR notation (`10.1.0.0/16`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let bad = || format!("{s:?} is not an address or a network (a.b.c.d/n, x::y/n)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(Network { addr, prefix })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u32) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        }
        let ((net, width), (addr, addr_width)) = (bits(self.addr), bits(ip));
        if width != addr_width {
            return false;
        }
        let prefix = u32::from(self.prefix);
        let mask = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix)
        };
        net & mask == addr & mask
    }
}

/// Which destinations outbound requests may reach: public addresses, plus the networks an
/// administrator listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations {
    pub allowed: Vec<Network>,
}

/// Why an address is not public, or `None` for a public one.
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let s = v6.segments();
            Some(match () {
                _ if v6.is_unspecified() => "unspecified",
                _ if v6.is_loopback() => "loopback",
                _ if s[0] & 0xffc0 == 0xfe80 => "link-local",
                _ if s[0] & 0xffc0 == 0xfec0 => "site-local",
                _ if s[0] & 0xfe00 == 0xfc00 => "unique local (private)",
                _ if s[0] & 0xff00 == 0xff00 => "multicast",
                // NAT64 and 6to4 carry an IPv4 address that may be internal.
                _ if s[0] == 0x64 && s[1] == 0xff9b => "NAT64",
                _ if s[0] == 0x2002 => "6to4",
                _ if s[0] == 0x2001 && s[1] == 0xdb8 => "documentation",
                _ if s[..6] == [0; 6] => "IPv4-compatible",
                _ => return None,
            })
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if a == 0 => "unspecified (0.0.0.0/8)",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local (cloud metadata lives here)",
        _ if a == 100 && (64..128).contains(&b) => "carrier-grade NAT",
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol assignments",
        _ if a == 198 && (18..20).contains(&b) => "benchmarking",
        _ if ip.is_documentation() => "documentation",
        _ if ip.is_multicast() => "multicast",
        _ if a >= 240 => "reserved",
        _ => return None,
    })
}

impl Destinations {
    /// `Err(why)` unless `ip` is public or in an allowed network.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let Some(kind) = internal(ip) else {
            return Ok(());
        };
        if self.allowed.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        Err(format!(
            "{ip} is a {kind} address; outbound requests do not go there unless an \
             administrator allows the network ([webhooks] allowed_networks)"
        ))
    }

    /// Checks a URL's host when it is a literal address (names are checked when they
    /// resolve).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.check(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(format!("{url} has no host")),
        }
    }

    /// Resolves `host` and checks every address (creating a webhook: a clear error now
    /// rather than failed deliveries later). A name that does not resolve yet passes; every
    /// delivery checks again.
    pub async fn check_host(&self, url: &reqwest::Url) -> Result<(), String> {
        self.check_url(url)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(0);
            let Ok(addrs) = tokio::net::lookup_host((name, port)).await else {
                return Ok(());
            };
            for a in addrs {
                self.check(a.ip())
                    .map_err(|why| format!("{name} resolves to {why}"))?;
            }
        }
        Ok(())
    }

    /// An HTTP client whose every connection and redirect obeys these destinations. It
    /// uses no proxy from the environment: a proxy would resolve names past the check.
    pub fn client(&self, timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
        let policy = Arc::new(self.clone());
        let redirects = policy.clone();
        reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .dns_resolver(Arc::new(CheckedResolver(policy)))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(why),
                }
            }))
            .build()
    }
}

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 3;

/// Resolves names and drops the addresses the destinations forbid; none left is an error.
struct CheckedResolver(Arc<Destinations>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refused = Some(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| format!("{host} has no addresses"));
                return Err(format!("{host} resolves to {why}").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let none = Destinations::default();
        for ip in [
            "127.0.0.1",
            "10.2.3.4",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(none.check(ip).is_err(), "{ip} must be refused");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(none.check(ip), Ok(()), "{ip}");
        }
        let some = Destinations {
            allowed: vec!["10.2.0.0/16".parse().unwrap(), "::1".parse().unwrap()],
        };
        assert_eq!(some.check("10.2.3.4".parse().unwrap()), Ok(()));
        assert!(some.check("10.3.0.1".parse().unwrap()).is_err());
        assert_eq!(some.check("::1".parse().unwrap()), Ok(()));
        assert!(some.check("127.0.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn networks_parse_and_contain() {
        let n: Network = "192.168.0.0/16".parse().unwrap();
        assert!(n.contains("192.168.200.1".parse().unwrap()));
        assert!(!n.contains("192.169.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("127.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
        assert_eq!(
            "fd00::/8".parse::<Network>().unwrap().to_string(),
            "fd00::/8"
        );
    }
}
