//! A device's MTU and state, and its root qdisc with its counters.

use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcStats2};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::protocols::NETLINK_ROUTE;

use super::netlink::ask;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub mtu: Option<u32>,
    pub up: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qdisc {
    pub kind: String,
    /// Packets queued now, and dropped since the qdisc was made.
    pub qlen: u32,
    pub drops: u32,
    pub overlimits: u32,
}

pub fn link(ifindex: u32) -> Result<Link, String> {
    let mut message = LinkMessage::default();
    message.header.index = ifindex;
    let answers = ask(NETLINK_ROUTE, RouteNetlinkMessage::GetLink(message), false).map_err(|e| format!("device {ifindex}: {e}"))?;
    let Some(RouteNetlinkMessage::NewLink(l)) = answers.into_iter().next() else {
        return Err(format!("device {ifindex}: no answer"));
    };
    let attr = |f: &dyn Fn(&LinkAttribute) -> Option<String>| l.attributes.iter().find_map(f);
    Ok(Link {
        name: attr(&|a| if let LinkAttribute::IfName(n) = a { Some(n.clone()) } else { None }).unwrap_or_else(|| format!("if{ifindex}")),
        mtu: l.attributes.iter().find_map(|a| if let LinkAttribute::Mtu(m) = a { Some(*m) } else { None }),
        up: l.header.flags.contains(netlink_packet_route::link::LinkFlags::Up),
    })
}

/// The root qdisc of device `ifindex`, if it has one (a `noqueue` device
/// reports none).
pub fn root_qdisc(ifindex: u32) -> Result<Option<Qdisc>, String> {
    let answers = ask(NETLINK_ROUTE, RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()), true).map_err(|e| format!("qdiscs: {e}"))?;
    let root = answers.into_iter().find_map(|m| match m {
        RouteNetlinkMessage::NewQueueDiscipline(q) if q.header.index == ifindex as i32 && q.header.parent == TcHandle::ROOT => Some(q),
        _ => None,
    });
    Ok(root.map(|q| {
        let kind = q.attributes.iter().find_map(|a| if let TcAttribute::Kind(k) = a { Some(k.clone()) } else { None }).unwrap_or_default();
        let queue = q.attributes.iter().find_map(|a| match a {
            TcAttribute::Stats2(s) => s.iter().find_map(|s| if let TcStats2::Queue(q) = s { Some(*q) } else { None }),
            _ => None,
        });
        let stats = q.attributes.iter().find_map(|a| if let TcAttribute::Stats(s) = a { Some(*s) } else { None });
        let (qlen, drops, overlimits) = match (queue, stats) {
            (Some(q), _) => (q.qlen, q.drops, q.overlimits),
            (None, Some(s)) => (s.qlen, s.drops, s.overlimits),
            (None, None) => (0, 0, 0),
        };
        Qdisc { kind, qlen, drops, overlimits }
    }))
}
