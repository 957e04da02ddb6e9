//! Any bytes as event records and map entries of types they choose
//! (`ntr_runtime::replay`): printing them as text or JSON ends in output or
//! a count of malformed records, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ntr_runtime::replay::print(data, &mut std::io::sink()).expect("a sink takes every write");
});
