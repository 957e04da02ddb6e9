//! The BPF ELF object aya loads: one section per program, legacy map
//! definitions in `maps`, a license, and R_BPF_64_64 relocations for map
//! loads (see shared notes: the layout aya 0.14 accepts).

use object::write::{Object, Relocation, Symbol, SymbolSection};
use object::{elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope};

use crate::bpf::Insn;

pub struct MapDef {
    pub symbol: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

pub struct ProgramDef<'a> {
    pub section: &'a str,
    pub symbol: &'a str,
    pub insns: &'a [Insn],
    /// (slot index of an ld_imm64, map symbol).
    pub map_relocs: &'a [(usize, String)],
}

pub fn write(programs: &[ProgramDef], maps: &[MapDef], license: &str) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let symbol = |name: &str, kind| Symbol {
        name: name.as_bytes().to_vec(),
        value: 0,
        size: 0,
        kind,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Undefined,
        flags: SymbolFlags::None,
    };

    let lic = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut text = license.as_bytes().to_vec();
    text.push(0);
    let lic_sym = obj.add_symbol(symbol("_license", SymbolKind::Data));
    obj.add_symbol_data(lic_sym, lic, &text, 1);

    // aya refuses a maps section without symbols: none without maps.
    let maps_sec = (!maps.is_empty()).then(|| obj.add_section(Vec::new(), b"maps".to_vec(), SectionKind::Data));
    let mut map_syms = std::collections::HashMap::new();
    for (m, sec) in maps.iter().zip(std::iter::repeat_with(|| maps_sec.expect("maps exist"))) {
        let def: Vec<u8> = [m.map_type, m.key_size, m.value_size, m.max_entries, m.flags, 0, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let id = obj.add_symbol(symbol(&m.symbol, SymbolKind::Data));
        obj.add_symbol_data(id, sec, &def, 4);
        map_syms.insert(m.symbol.as_str(), id);
    }

    for p in programs {
        let sec = obj.add_section(Vec::new(), p.section.as_bytes().to_vec(), SectionKind::Text);
        let bytes: Vec<u8> = p.insns.iter().flat_map(|i| i.to_bytes()).collect();
        let id = obj.add_symbol(symbol(p.symbol, SymbolKind::Text));
        obj.add_symbol_data(id, sec, &bytes, 8);
        for (slot, map) in p.map_relocs {
            let Some(&target) = map_syms.get(map.as_str()) else { continue };
            // Addend 0: an implicit addend would be written into the instruction.
            let reloc = Relocation { offset: *slot as u64 * 8, symbol: target, addend: 0, flags: RelocationFlags::Elf { r_type: elf::R_BPF_64_64 } };
            obj.add_relocation(sec, reloc).expect("BPF relocations are valid for ELF");
        }
    }
    obj.write().expect("writing an in-memory ELF object cannot fail")
}
