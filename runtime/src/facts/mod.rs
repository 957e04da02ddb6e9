//! Facts about a packet's surroundings, looked up when its drop is printed,
//! in the packet's own namespace: routes, neighbours, devices and qdiscs,
//! sysctls, sockets and their owners. Each (namespace, question) is asked
//! once per run, so a flood of drops costs one lookup.

mod link;
mod neighbour;
mod netlink;
mod route;
mod socket;
mod sysctl;

use std::collections::HashMap;
use std::net::IpAddr;

pub use link::{Link, Qdisc};
pub use neighbour::Neighbour;
pub use route::{table_name, Route};
pub use socket::Socket;
pub use sysctl::name as sysctl_name;

/// A question about a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// The route to `dst`; with `input`, as for a packet from `src` received on device `iif`.
    Route {
        dst: IpAddr,
        input: Option<(IpAddr, u32)>,
    },
    Neighbour {
        addr: IpAddr,
        ifindex: u32,
    },
    Link(u32),
    RootQdisc(u32),
    /// `net.ipv4.conf.DEV.NAME` (`net.ipv6…` with `ipv6`).
    IpConf {
        ipv6: bool,
        dev: String,
        name: &'static str,
    },
    /// The socket of `proto` bound to `local`:`port` (the one connected to `remote` first), and its owners.
    Socket {
        proto: u8,
        local: IpAddr,
        port: u16,
        remote: Option<(IpAddr, u16)>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Route(Route),
    Neighbour(Option<Neighbour>),
    Link(Link),
    RootQdisc(Option<Qdisc>),
    IpConf(Option<String>),
    Socket(Option<(Socket, Vec<(u32, String)>)>),
}

/// The answers of this run, by namespace inode and question.
#[derive(Default)]
pub struct Facts {
    answers: HashMap<(u64, Query), Result<Answer, String>>,
    /// Questions actually asked of the kernel.
    pub lookups: u64,
}

impl Facts {
    pub fn get(&mut self, netns: u64, query: Query) -> Result<Answer, String> {
        if let Some(a) = self.answers.get(&(netns, query.clone())) {
            return a.clone();
        }
        self.lookups += 1;
        let q = query.clone();
        let answer = match crate::netns::lookup(netns) {
            None => Err(format!("namespace {netns} is gone")),
            Some(ns) => crate::netns::within(&ns, move || ask(q)).map_err(|e| format!("cannot enter namespace {}: {e}", ns.name)).and_then(|a| a),
        };
        self.answers.insert((netns, query), answer.clone());
        answer
    }
}

/// Ask the kernel, in the calling thread's namespace.
fn ask(query: Query) -> Result<Answer, String> {
    Ok(match query {
        Query::Route { dst, input } => Answer::Route(route::get(dst, input)?),
        Query::Neighbour { addr, ifindex } => Answer::Neighbour(neighbour::get(addr, ifindex)?),
        Query::Link(ifindex) => Answer::Link(link::link(ifindex)?),
        Query::RootQdisc(ifindex) => Answer::RootQdisc(link::root_qdisc(ifindex)?),
        Query::IpConf { ipv6, dev, name } => Answer::IpConf(sysctl::ip_conf(ipv6, &dev, name)),
        Query::Socket { proto, local, port, remote } => {
            let found = socket::find(proto, local, port, remote)?;
            Answer::Socket(found.map(|s| {
                let owners = socket::owners(s.inode);
                (s, owners)
            }))
        }
    })
}
