//! Any bytes as a script: parsing ends in a script or a diagnostic, and the
//! diagnostic renders, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntr_lang::source::Sources;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut sources = Sources::new();
    let file = sources.add("fuzz.ntr", text);
    if let Err(d) = ntr_lang::syntax::parse(&sources, file) {
        let _ = format!("{d:?}");
    }
});
