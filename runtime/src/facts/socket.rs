//! The socket a packet was for (sock_diag), its buffers, and the process
//! holding it.

use std::net::IpAddr;

use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use super::netlink::ask;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub inode: u32,
    pub uid: u32,
    /// Bytes in the receive queue now, and the buffer's size (SO_RCVBUF as
    /// the kernel keeps it, doubled).
    pub rmem: Option<u32>,
    pub rcvbuf: Option<u32>,
    /// Packets the socket dropped since it was made.
    pub drops: Option<u32>,
}

/// The socket bound to `local`:`port` for `proto` (6 tcp, 17 udp): the
/// connected one of `remote` if there is one, else the listener or an
/// unconnected socket of the port.
pub fn find(proto: u8, local: IpAddr, port: u16, remote: Option<(IpAddr, u16)>) -> Result<Option<Socket>, String> {
    let family = if local.is_ipv4() { AF_INET } else { AF_INET6 };
    let request = InetRequest {
        family,
        protocol: proto,
        extensions: ExtensionFlags::SKMEMINFO,
        states: StateFlags::all(),
        socket_id: if local.is_ipv4() { SocketId::new_v4() } else { SocketId::new_v6() },
    };
    let answers = ask(NETLINK_SOCK_DIAG, SockDiagMessage::InetRequest(request), true).map_err(|e| format!("sockets: {e}"))?;
    let mut best: Option<(bool, Socket)> = None;
    for answer in answers {
        let SockDiagMessage::InetResponse(r) = answer else { continue };
        let id = &r.header.socket_id;
        if id.source_port != port || !(id.source_address == local || id.source_address.is_unspecified()) {
            continue;
        }
        let connected = !id.destination_address.is_unspecified();
        let exact = remote.is_some_and(|(a, p)| id.destination_address == a && id.destination_port == p);
        if connected && !exact {
            continue;
        }
        let mem = r.nlas.iter().find_map(|n| if let Nla::MemInfo(m) = n { Some(m.clone()) } else { None });
        let socket = Socket {
            inode: r.header.inode,
            uid: r.header.uid,
            rmem: mem.as_ref().map(|m| m.receive_queue),
            rcvbuf: mem.as_ref().map(|m| m.receive_queue_max),
            drops: mem.as_ref().map(|m| m.drops),
        };
        if best.as_ref().is_none_or(|(was_exact, _)| exact && !was_exact) {
            best = Some((exact, socket));
        }
    }
    Ok(best.map(|(_, s)| s))
}

/// The processes holding socket `inode` open: (pid, comm), by their fds.
pub fn owners(inode: u32) -> Vec<(u32, String)> {
    let target = format!("socket:[{inode}]");
    let mut out = Vec::new();
    for proc_dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = proc_dir.file_name().to_string_lossy().parse::<u32>() else { continue };
        let holds = std::fs::read_dir(proc_dir.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()));
        if holds {
            let comm = std::fs::read_to_string(proc_dir.path().join("comm")).unwrap_or_default();
            out.push((pid, comm.trim().to_string()));
        }
    }
    out
}
