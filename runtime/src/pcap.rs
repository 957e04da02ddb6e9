//! `--pcap FILE`: the packets of `pcap(skb)` statements in a pcapng file
//! (written with the `pcap-file` crate). Packets start at their network
//! header (link type RAW: IPv4 or IPv6), timestamps are in nanoseconds,
//! each (namespace, device) is one interface named `dev@netns`, and each
//! packet's comment says where it was seen (for a drop: the site and the
//! reason). The file is bounded: a packet that would take it past the
//! limit, and every later one, is counted instead of written.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

/// Bytes of each packet captured when `--snaplen` is not given.
pub const DEFAULT_SNAPLEN: u16 = 256;
/// The most `--snaplen` takes: the packet travels in one event record, built
/// in the probe's per-CPU scratch memory, whose offsets the BPF instructions
/// address in 16 bits beside the probe's other values.
pub const MAX_SNAPLEN: u16 = 4096;
/// The file's size when `--pcap-limit` is not given.
pub const DEFAULT_LIMIT: u64 = 64 << 20;

#[derive(Clone, Debug)]
pub struct Options {
    pub path: PathBuf,
    /// Bytes the file may reach.
    pub limit: u64,
}

/// One packet of a `pcap(skb)` record.
pub struct Packet<'a> {
    /// Nanoseconds since the Unix epoch.
    pub unix_ns: i128,
    /// The interface, `dev@netns`.
    pub interface: String,
    pub snaplen: u32,
    /// The packet's length from its network header.
    pub wire_len: u32,
    pub data: &'a [u8],
    pub comment: String,
}

fn write_error(path: &std::path::Path, e: &dyn std::fmt::Display) -> String {
    format!("cannot write the capture file {}: {e}", path.display())
}

pub struct Capture {
    writer: PcapNgWriter<BufWriter<File>>,
    /// The same blocks written nowhere: what each would add to the file.
    measure: PcapNgWriter<std::io::Sink>,
    interfaces: HashMap<String, u32>,
    path: PathBuf,
    limit: u64,
    size: u64,
    pub written: u64,
    pub not_written: u64,
}

impl Capture {
    /// Create the file and write its section header.
    pub fn create(options: &Options) -> Result<Capture, String> {
        let err = |e: &dyn std::fmt::Display| write_error(&options.path, e);
        let file = File::create(&options.path).map_err(|e| err(&e))?;
        let writer = PcapNgWriter::new(BufWriter::new(file)).map_err(|e| err(&e))?;
        let mut measure = PcapNgWriter::new(std::io::sink()).map_err(|e| err(&e))?;
        let size = measure.write_pcapng_block(writer.section().clone()).map_err(|e| err(&e))? as u64;
        Ok(Capture {
            writer,
            measure,
            interfaces: HashMap::new(),
            path: options.path.clone(),
            limit: options.limit,
            size,
            written: 0,
            not_written: 0,
        })
    }

    fn err(&self, e: &dyn std::fmt::Display) -> String {
        write_error(&self.path, e)
    }

    /// Write a packet, and its interface's description the first time it
    /// is seen; past the limit, count it.
    pub fn packet(&mut self, p: Packet) -> Result<(), String> {
        let known = self.interfaces.get(&p.interface).copied();
        let idb = known.is_none().then(|| InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: p.snaplen,
            options: vec![InterfaceDescriptionOption::IfName(p.interface.clone().into()), InterfaceDescriptionOption::IfTsResol(9)],
        });
        let epb = EnhancedPacketBlock {
            interface_id: known.unwrap_or(self.interfaces.len() as u32),
            timestamp: Duration::from_nanos(p.unix_ns.clamp(0, u64::MAX as i128) as u64),
            original_len: p.wire_len.max(p.data.len() as u32),
            data: p.data.into(),
            options: vec![EnhancedPacketOption::Comment(p.comment.into())],
        };
        if self.not_written > 0 {
            self.not_written += 1;
            return Ok(());
        }
        let mut need = 0;
        if let Some(idb) = &idb {
            need += self.measure.write_pcapng_block(idb.clone()).map_err(|e| self.err(&e))? as u64;
        }
        need += self.measure.write_pcapng_block(epb.clone()).map_err(|e| self.err(&e))? as u64;
        if self.size + need > self.limit {
            self.not_written += 1;
            return Ok(());
        }
        if let Some(idb) = idb {
            self.writer.write_pcapng_block(idb).map_err(|e| self.err(&e))?;
            self.interfaces.insert(p.interface, self.interfaces.len() as u32);
        }
        self.writer.write_pcapng_block(epb).map_err(|e| self.err(&e))?;
        self.size += need;
        self.written += 1;
        Ok(())
    }

    /// Flush the file.
    pub fn finish(&mut self) -> Result<(), String> {
        self.writer.get_mut().flush().map_err(|e| self.err(&e))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}
