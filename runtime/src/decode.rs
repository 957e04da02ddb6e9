//! Records from the kernel cut into their typed fields, every length
//! checked: a record too short for its layout is refused (and counted by the
//! caller), never read past, and each field gets exactly its own bytes.

use ntr_compiler::artifact::{EventInfo, Field, EVENT_HEADER};
use ntr_lang::types::Type;

/// Why a record could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    /// `len` bytes where the layout needs `need`.
    Short { len: usize, need: usize },
    /// An event id this program does not have.
    UnknownEvent(u64),
}

/// Typed fields, each with exactly its own bytes.
pub type Fields<'a> = Vec<(Type, &'a [u8])>;

/// The bytes of each field of `layout` in `bytes`.
pub fn fields<'a>(layout: &[Field], bytes: &'a [u8]) -> Result<Fields<'a>, Malformed> {
    layout
        .iter()
        .map(|f| {
            let start = f.offset as usize;
            let end = start + f.ty.size() as usize;
            bytes.get(start..end).map(|b| (f.ty.clone(), b)).ok_or(Malformed::Short { len: bytes.len(), need: end })
        })
        .collect()
}

/// An event record: its format (by the id in its header) and its fields.
pub fn event<'a, 'e>(events: &'e [EventInfo], rec: &'a [u8]) -> Result<(&'e EventInfo, Fields<'a>), Malformed> {
    let header = rec.get(..EVENT_HEADER as usize).ok_or(Malformed::Short { len: rec.len(), need: EVENT_HEADER as usize })?;
    let id = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
    let info = events.get(id as usize).ok_or(Malformed::UnknownEvent(id as u64))?;
    Ok((info, fields(&info.fields, rec)?))
}
