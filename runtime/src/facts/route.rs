//! The route the kernel picks for an address (`ip route get`), and for a
//! refused lookup the table entry that refused it.

use std::net::IpAddr;

use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;

use super::netlink::{ask, Refusal};

/// What a route lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// A usable route: its type (`unicast`, `local`, …), table, gateway and
    /// output device.
    Found { kind: String, table: u32, gateway: Option<IpAddr>, oif: Option<u32> },
    /// The lookup failed: `kind` is what the errno says (`unreachable`,
    /// `blackhole`, `prohibit`, `none`), `entry` the matching route of that
    /// type (prefix, table) when one is in the tables.
    Refused { kind: &'static str, entry: Option<(String, u32)> },
}

/// The route for `dst`; for a packet received on `iif` from `src`, the
/// input route (`ip route get DST from SRC iif DEV`).
pub fn get(dst: IpAddr, input: Option<(IpAddr, u32)>) -> Result<Route, String> {
    let mut message = RouteMessage::default();
    message.header.address_family = family(dst);
    message.header.destination_prefix_length = prefix_len(dst);
    message.attributes.push(RouteAttribute::Destination(address(dst)));
    if let Some((src, iif)) = input {
        message.header.source_prefix_length = prefix_len(src);
        message.attributes.push(RouteAttribute::Source(address(src)));
        message.attributes.push(RouteAttribute::Iif(iif));
    }
    match ask(NETLINK_ROUTE, RouteNetlinkMessage::GetRoute(message), false) {
        Ok(answers) => {
            let Some(RouteNetlinkMessage::NewRoute(r)) = answers.into_iter().next() else {
                return Err("no answer to the route lookup".into());
            };
            let table = r.attributes.iter().find_map(|a| if let RouteAttribute::Table(t) = a { Some(*t) } else { None });
            Ok(Route::Found {
                kind: type_name(r.header.kind).to_string(),
                table: table.unwrap_or(r.header.table as u32),
                gateway: r.attributes.iter().find_map(|a| if let RouteAttribute::Gateway(g) = a { ip(g) } else { None }),
                oif: r.attributes.iter().find_map(|a| if let RouteAttribute::Oif(o) = a { Some(*o) } else { None }),
            })
        }
        Err(Refusal::Errno(errno)) => {
            // fib_props: the errno each route type answers with.
            let (kind, ty) = match errno {
                libc::EHOSTUNREACH => ("unreachable", Some(RouteType::Unreachable)),
                libc::EINVAL => ("blackhole", Some(RouteType::BlackHole)),
                libc::EACCES => ("prohibit", Some(RouteType::Prohibit)),
                libc::ENETUNREACH => ("none", None),
                _ => return Err(format!("route lookup failed: {}", std::io::Error::from_raw_os_error(errno))),
            };
            Ok(Route::Refused { kind, entry: ty.and_then(|t| entry_of(dst, t)) })
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The most specific route of type `ty` covering `dst`, from a dump of
/// every table: (prefix, table).
fn entry_of(dst: IpAddr, ty: RouteType) -> Option<(String, u32)> {
    let mut message = RouteMessage::default();
    message.header.address_family = family(dst);
    let routes = ask(NETLINK_ROUTE, RouteNetlinkMessage::GetRoute(message), true).ok()?;
    routes
        .into_iter()
        .filter_map(|m| if let RouteNetlinkMessage::NewRoute(r) = m { Some(r) } else { None })
        .filter(|r| r.header.kind == ty)
        .filter_map(|r| {
            let len = r.header.destination_prefix_length;
            let net = r.attributes.iter().find_map(|a| if let RouteAttribute::Destination(d) = a { ip(d) } else { None });
            let net = match net {
                Some(n) => n,
                None if len == 0 => unspecified(dst),
                None => return None,
            };
            covers(net, len, dst).then(|| {
                let table = r.attributes.iter().find_map(|a| if let RouteAttribute::Table(t) = a { Some(*t) } else { None });
                (len, format!("{net}/{len}"), table.unwrap_or(r.header.table as u32))
            })
        })
        .max_by_key(|(len, ..)| *len)
        .map(|(_, prefix, table)| (prefix, table))
}

pub fn table_name(table: u32) -> String {
    match table {
        t if t == RouteHeader::RT_TABLE_MAIN as u32 => "main".into(),
        255 => "local".into(),
        253 => "default".into(),
        t => t.to_string(),
    }
}

fn type_name(t: RouteType) -> &'static str {
    match t {
        RouteType::Unicast => "unicast",
        RouteType::Local => "local",
        RouteType::Broadcast => "broadcast",
        RouteType::Anycast => "anycast",
        RouteType::Multicast => "multicast",
        RouteType::BlackHole => "blackhole",
        RouteType::Unreachable => "unreachable",
        RouteType::Prohibit => "prohibit",
        RouteType::Throw => "throw",
        RouteType::Nat => "nat",
        _ => "other",
    }
}

fn covers(net: IpAddr, len: u8, addr: IpAddr) -> bool {
    let bits = |a: IpAddr| -> Option<u128> {
        match a {
            IpAddr::V4(a) => Some((u32::from(a) as u128) << 96),
            IpAddr::V6(a) => Some(u128::from(a)),
        }
    };
    if net.is_ipv4() != addr.is_ipv4() {
        return false;
    }
    let (Some(n), Some(a)) = (bits(net), bits(addr)) else { return false };
    // IPv4 sits in the top 32 bits, so a prefix is the top `len` bits either way.
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - len.min(128) as u32) };
    n & mask == a & mask
}

fn family(a: IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn prefix_len(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

fn unspecified(like: IpAddr) -> IpAddr {
    if like.is_ipv4() {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    }
}

fn address(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

fn ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_their_addresses() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(covers(a("10.9.0.0"), 16, a("10.9.1.1")));
        assert!(!covers(a("10.9.0.0"), 16, a("10.8.1.1")));
        assert!(covers(a("0.0.0.0"), 0, a("10.8.1.1")));
        assert!(covers(a("fd00::"), 8, a("fd12::1")));
        assert!(!covers(a("fd00::"), 16, a("fd12::1")));
        assert!(!covers(a("10.0.0.0"), 8, a("fd12::1")));
    }
}
