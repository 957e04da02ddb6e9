//! What the running kernel offers, asked of the kernel itself (not of ntr),
//! so tests know whether ntr should use a probe kind or refuse it.

use std::path::Path;

/// aya attaches kprobes through the kprobe PMU only.
pub fn has_kprobes() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
}

/// Whether the kernel loads an fentry program: ntr compiles one, aya loads
/// it directly (no ntr feature probing involved).
pub fn fentry_loads() -> bool {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (src, obj) = (dir.join("fentry_probe.ntr"), dir.join("fentry_probe.o"));
    std::fs::write(&src, "on fentry:do_sys_openat2 { @n = count(); }").unwrap();
    super::Run::from(super::ntr().arg("compile").arg(&src).arg("-o").arg(&obj).output().unwrap()).ok();
    let bytes = std::fs::read(&obj).unwrap();
    let mut ebpf = aya::EbpfLoader::new().load(&bytes).expect("aya loads the object's maps");
    let btf = aya::Btf::from_sys_fs().expect("kernel BTF");
    let (_, program) = ebpf.programs_mut().next().expect("one program");
    let fentry: &mut aya::programs::FEntry = program.try_into().expect("an fentry program");
    fentry.load("do_sys_openat2", &btf).is_ok()
}

/// The tracefs format of a tracepoint: its record fields as the kernel
/// describes them. Mounts tracefs where nothing has yet.
pub fn tracepoint_format(category: &str, name: &str) -> String {
    let rel = format!("events/{category}/{name}/format");
    for root in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if let Ok(text) = std::fs::read_to_string(Path::new(root).join(&rel)) {
            return text;
        }
    }
    let ok = std::process::Command::new("mount").args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"]).status().unwrap();
    assert!(ok.success(), "mount tracefs");
    std::fs::read_to_string(Path::new("/sys/kernel/tracing").join(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Whether the kernel has tracepoint `category:name` (tracefs says).
pub fn tracepoint_exists(category: &str, name: &str) -> bool {
    tracepoint_format("sched", "sched_switch");
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"].iter().any(|root| Path::new(root).join(format!("events/{category}/{name}/format")).is_file())
}

/// Whether tracepoint `category:name` has a record field `field`.
pub fn tracepoint_has_field(category: &str, name: &str, field: &str) -> bool {
    tracepoint_format(category, name).lines().any(|l| l.trim_start().starts_with("field:") && l.contains(&format!(" {field};")))
}
