//! Records from the kernel cut into their typed fields, every length
//! checked: a record too short for its layout, or of an event id the
//! program does not have, is refused (and counted by the caller), never
//! read past, and each field gets exactly its own bytes.

use ntr_compiler::artifact::{EventInfo, Field, EVENT_HEADER};
use ntr_lang::types::Type;

/// Typed fields, each with exactly its own bytes.
pub type Fields<'a> = Vec<(Type, &'a [u8])>;

/// The bytes of each field of `layout` in `bytes`; `None` when they do not fit.
pub fn fields<'a>(layout: &[Field], bytes: &'a [u8]) -> Option<Fields<'a>> {
    layout.iter().map(|f| field(f, bytes).map(|b| (f.ty.clone(), b))).collect()
}

/// Whether every field of `layout` lies within `bytes`.
pub fn fits(layout: &[Field], bytes: &[u8]) -> bool {
    layout.iter().all(|f| field(f, bytes).is_some())
}

/// The bytes of one field.
pub fn field<'a>(f: &Field, bytes: &'a [u8]) -> Option<&'a [u8]> {
    let start = f.offset as usize;
    bytes.get(start..start + f.ty.size() as usize)
}

/// An event record: its format (by the id in its header) and its fields.
pub fn event<'a, 'e>(events: &'e [EventInfo], rec: &'a [u8]) -> Option<(&'e EventInfo, Fields<'a>)> {
    let header = rec.get(..EVENT_HEADER as usize)?;
    let id = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
    let info = events.get(id as usize)?;
    Some((info, fields(&info.fields, rec)?))
}
