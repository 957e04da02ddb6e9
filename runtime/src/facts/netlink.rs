//! One netlink request and its answers, on a socket made in the calling
//! thread's network namespace.

use netlink_packet_core::{NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_sys::{Socket, SocketAddr};

/// Why a request got no answer: the kernel's refusal (its errno, which
/// often is the answer: a route lookup's EHOSTUNREACH) or a failure to ask.
#[derive(Debug)]
pub enum Refusal {
    Errno(i32),
    Failed(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Refusal::Errno(e) => write!(f, "{}", std::io::Error::from_raw_os_error(*e)),
            Refusal::Failed(why) => f.write_str(why),
        }
    }
}

/// Send `message` (a dump when `dump`) and collect the answers.
pub fn ask<M>(protocol: isize, message: M, dump: bool) -> Result<Vec<M>, Refusal>
where
    M: NetlinkSerializable + NetlinkDeserializable + std::fmt::Debug,
    NetlinkPayload<M>: From<M>,
{
    let failed = |what: &str, e: std::io::Error| Refusal::Failed(format!("netlink {what}: {e}"));
    let mut socket = Socket::new(protocol).map_err(|e| failed("socket", e))?;
    socket.bind_auto().map_err(|e| failed("bind", e))?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(|e| failed("connect", e))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
    let mut request = NetlinkMessage::new(header, NetlinkPayload::from(message));
    request.finalize();
    let mut bytes = vec![0; request.buffer_len()];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0).map_err(|e| failed("send", e))?;
    let mut answers = Vec::new();
    loop {
        let (data, _) = socket.recv_from_full().map_err(|e| failed("receive", e))?;
        if data.is_empty() {
            return Err(Refusal::Failed("netlink: the kernel closed the conversation".into()));
        }
        let mut at = 0;
        while at < data.len() {
            let answer = NetlinkMessage::<M>::deserialize(&data[at..]).map_err(|e| Refusal::Failed(format!("netlink answer: {e}")))?;
            let len = answer.header.length as usize;
            match answer.payload {
                NetlinkPayload::Done(_) => return Ok(answers),
                NetlinkPayload::Error(e) if e.code.is_some() => return Err(Refusal::Errno(-e.raw_code())),
                NetlinkPayload::Error(_) => return Ok(answers),
                NetlinkPayload::InnerMessage(m) => {
                    answers.push(m);
                    if !dump {
                        return Ok(answers);
                    }
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            at += len.next_multiple_of(4);
        }
    }
}
