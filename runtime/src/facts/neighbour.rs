//! The neighbour (ARP/NDP) entry of a next hop.

use std::net::IpAddr;

use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;

use super::netlink::ask;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// `FAILED`, `INCOMPLETE`, `REACHABLE`, … as `ip neigh` prints them.
    pub state: String,
    /// Seconds since the entry last changed.
    pub updated_secs: Option<u32>,
}

/// The entry for `addr` on device `ifindex`; `None` when there is none.
pub fn get(addr: IpAddr, ifindex: u32) -> Result<Option<Neighbour>, String> {
    let mut message = NeighbourMessage::default();
    message.header.family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let answers = ask(NETLINK_ROUTE, RouteNetlinkMessage::GetNeighbour(message), true).map_err(|e| format!("neighbours: {e}"))?;
    Ok(answers.into_iter().find_map(|m| {
        let RouteNetlinkMessage::NewNeighbour(n) = m else { return None };
        let dst = n.attributes.iter().find_map(|a| match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => Some(IpAddr::V4(*a)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
            _ => None,
        })?;
        (dst == addr && n.header.ifindex == ifindex).then(|| Neighbour {
            state: state_name(n.header.state),
            // Clock ticks of USER_HZ (100 a second).
            updated_secs: n.attributes.iter().find_map(|a| if let NeighbourAttribute::CacheInfo(c) = a { Some(c.updated / 100) } else { None }),
        })
    }))
}

fn state_name(s: NeighbourState) -> String {
    match s {
        NeighbourState::Incomplete => "INCOMPLETE".into(),
        NeighbourState::Reachable => "REACHABLE".into(),
        NeighbourState::Stale => "STALE".into(),
        NeighbourState::Delay => "DELAY".into(),
        NeighbourState::Probe => "PROBE".into(),
        NeighbourState::Failed => "FAILED".into(),
        NeighbourState::Noarp => "NOARP".into(),
        NeighbourState::Permanent => "PERMANENT".into(),
        NeighbourState::None => "NONE".into(),
        NeighbourState::Other(n) => format!("state {n}"),
        _ => "UNKNOWN".into(),
    }
}
