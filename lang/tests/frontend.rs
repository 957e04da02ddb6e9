//! The front end against this kernel's real BTF: scripts parse, probes
//! resolve to the right attach method and arguments, types come out right.

use ntr_lang::check::{check, CheckOptions};
use ntr_lang::diag::Diagnostic;
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::kernel::{AttachSupport, KType, KernelTypes};
use ntr_lang::source::Sources;
use ntr_lang::syntax::modules;
use ntr_lang::tir::{Attach, ExprKind, MapKind, Program, StmtKind};
use ntr_lang::types::Type;

/// This kernel: no kprobes, fentry refused.
struct NoFunctionProbes;

impl AttachSupport for NoFunctionProbes {
    fn kprobe(&self) -> Result<(), String> {
        Err("no kprobe PMU".into())
    }
    fn fentry(&self) -> Result<(), String> {
        Err("EPERM".into())
    }
}

fn front(text: &str, params: &[(&str, &str)]) -> Result<Program, String> {
    let mut sources = Sources::new();
    let file = sources.add("t.ntr", text);
    let render = |sources: &Sources, d: Vec<Diagnostic>| d.iter().map(|d| d.render(sources)).collect::<String>();
    let loaded = modules::load(&mut sources, file, None).map_err(|d| render(&sources, vec![d]))?;
    let kernel = KernelBtf::from_sys().expect("vmlinux BTF");
    let scripts: Vec<_> = loaded.iter().map(|m| &m.script).collect();
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    check(&scripts, &kernel, &CheckOptions { params: &params, attach: &NoFunctionProbes, host: None, cpid: None, snaplen: None }).map_err(|d| render(&sources, d))
}

#[test]
fn kfree_skb_is_tp_btf_with_typed_arguments() {
    let p = front("on kfree_skb { @drops[sym(location), reason] = count(); }", &[]).unwrap();
    assert_eq!(p.probes.len(), 1);
    let Attach::TpBtf { category, name, btf_id } = &p.probes[0].attach else { panic!("{:?}", p.probes[0].attach) };
    assert_eq!((category.as_str(), name.as_str()), ("skb", "kfree_skb"));
    assert!(*btf_id > 0);
    assert_eq!(p.probes[0].name, "tracepoint:skb:kfree_skb");
    let m = &p.maps[0];
    assert_eq!(m.name, "drops");
    assert!(matches!(m.keys[..], [Type::Sym, Type::Enum(_)]), "{:?}", m.keys);
    assert!(matches!(m.kind, MapKind::Agg { .. }));
    let Type::Enum(e) = m.keys[1] else { unreachable!() };
    assert_eq!(p.enums[e].name, "skb_drop_reason");
    assert!(p.enums[e].values.iter().any(|(_, n)| n == "NO_SOCKET"));
}

#[test]
fn enum_names_compare_in_the_argument_enum() {
    let p = front("on kfree_skb if reason == NO_SOCKET { exit(); }", &[]).unwrap();
    let StmtKind::If { cond, .. } = &p.probes[0].body[0].kind else { panic!() };
    let ExprKind::Binary { rhs, .. } = &cond.kind else { panic!() };
    let kernel = KernelBtf::from_sys().unwrap();
    let Some(KType::Enum { id, .. }) = kernel.enum_by_name("skb_drop_reason") else { panic!() };
    let no_socket = kernel.enum_values(id).into_iter().find(|(n, _)| n == "SKB_DROP_REASON_NO_SOCKET").unwrap().1;
    assert!(matches!(rhs.kind, ExprKind::Const(v) if v == no_socket as u64));
}

#[test]
fn fields_follow_pointers_through_btf() {
    let p = front("on kfree_skb { @d[skb.dev.name] = sum(skb.len); }", &[]).unwrap();
    assert_eq!(p.maps[0].keys, vec![Type::Str { len: 16 }]);
    let StmtKind::MapUpdate { keys, .. } = &p.probes[0].body[0].kind else { panic!() };
    let ExprKind::LoadStr { base, .. } = &keys[0].kind else { panic!("{:?}", keys[0].kind) };
    assert!(matches!(base.kind, ExprKind::Load { size: 8, .. }), "dev pointer loaded: {:?}", base.kind);
}

#[test]
fn params_fns_and_map_reads() {
    let text =
        "param min: u32 = 10\nfn big(n) { return n > min; }\non kfree_skb if big(skb.len) { @last[cpu] = nsecs; @gap = hist(nsecs - @last[cpu]); }";
    let p = front(text, &[("min", "700")]).unwrap();
    assert_eq!(p.params, vec![("min".to_string(), "700".to_string())]);
    assert!(matches!(p.maps[0].kind, MapKind::Value(Type::Int { size: 8, signed: false })));
}

#[test]
fn map_read_before_its_assignment_is_typed() {
    front("on kfree_skb { if @last[cpu] != 0 { @gap = hist(nsecs - @last[cpu]); } @last[cpu] = nsecs; }", &[]).unwrap();
}

#[test]
fn kernel_function_probes_are_refused_here() {
    let e = front("on kprobe:nf_hook_slow { exit(); }", &[]).unwrap_err();
    assert!(e.contains("does not allow kprobes") && e.contains("kfree_skb"), "{e}");
    let e = front("on nf_hook_slow { exit(); }", &[]).unwrap_err();
    assert!(e.contains("cannot probe kernel function `nf_hook_slow`"), "{e}");
}

#[test]
fn unknown_probe_suggests_near_misses() {
    let e = front("on kfree_skbb { exit(); }", &[]).unwrap_err();
    assert!(e.contains("unknown probe `kfree_skbb`") && e.contains("skb:kfree_skb"), "{e}");
    assert!(e.contains("t.ntr:1:4"), "{e}");
}

#[test]
fn syntax_errors_are_located() {
    let e = front("on kfree_skb { @x = ; }", &[]).unwrap_err();
    assert!(e.contains("t.ntr:1:21") && e.contains("expected an expression"), "{e}");
    let e = front("every 5xs { exit(); }", &[]).unwrap_err();
    assert!(e.contains("unknown duration unit `xs`"), "{e}");
}

#[test]
fn probe_specs_are_read_raw() {
    let p = front("on tracepoint:skb:kfree_skb, skb:consume_skb if cpu == 0 { @c[probe] = count(); }", &[]).unwrap();
    assert_eq!(p.probes.len(), 2);
    assert_eq!(p.probes[1].name, "tracepoint:skb:consume_skb");
}

/// Older kernels refuse to mmap `/sys/kernel/btf/vmlinux` (ENODEV), as a pipe
/// does here: the bytes are read instead, and lookups give the same answers.
#[test]
fn btf_that_refuses_mmap_is_read_and_answers_alike() {
    use ntr_lang::kernel::btf_open::BtfSource;
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("ntr-btf-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("vmlinux");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let bytes = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(&fifo).unwrap().write_all(&bytes).unwrap())
    };
    let piped = KernelBtf::from_file(&fifo).expect("BTF read through a pipe");
    writer.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(piped.source(), BtfSource::Copied);
    let mapped = KernelBtf::from_sys().unwrap();
    let skb = |k: &KernelBtf| {
        let Some(KType::Struct { id, size, .. }) = k.struct_by_name("sk_buff") else { panic!("no sk_buff") };
        (size, k.members(id).into_iter().map(|m| (m.name, m.offset_bits)).collect::<Vec<_>>())
    };
    let (size, members) = skb(&piped);
    assert!(size > 0 && members.iter().any(|(n, _)| n == "len"), "{members:?}");
    assert_eq!((size, members), skb(&mapped));
}

/// `if has(arg)`: only the branch this kernel's probe can run is checked.
#[test]
fn has_checks_only_the_branch_the_probe_can_run() {
    let p = front("on kfree_skb { if has(skb) { @n = count(); } else { @m[no_such_name] = count(); } }", &[]).unwrap();
    assert_eq!(p.maps.len(), 1);
    assert_eq!(p.maps[0].name, "n");
    let p = front("on kfree_skb { if !has(no_such_arg) && has(reason) { @r[reason] = count(); } else { print(no_such_arg); } }", &[]).unwrap();
    assert_eq!(p.maps[0].name, "r");
    let err = front("on kfree_skb { if has(no_such_arg) { @n = count(); } else { print(no_such_arg); } }", &[]).unwrap_err();
    assert!(err.contains("unknown name `no_such_arg`"), "{err}");
    let err = front("on kfree_skb { if has(1) { } }", &[]).unwrap_err();
    assert!(err.contains("`has` takes a probe argument's name"), "{err}");
}

/// `has(arg) && …` short-circuits at check time where the probe lacks `arg`.
#[test]
fn has_short_circuits_the_rest_of_a_condition() {
    let p = front("on kfree_skb { if has(no_such_arg) && no_such_arg == 1 { @a = count(); } else { @b = count(); } }", &[]).unwrap();
    assert_eq!(p.maps.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["b"]);
    let p = front("on kfree_skb { if !has(no_such_arg) || no_such_arg == 1 { @a = count(); } }", &[]).unwrap();
    assert_eq!(p.maps.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a"]);
}

/// A string's capacity is storage, not type: map keys and values widen to
/// the longest use, also for uses typed before the longer one was seen.
#[test]
fn strings_of_different_lengths_share_a_map() {
    let p = front(r#"begin { @cap[0] = "CAP_CHOWN"; @seen[@cap[0]] = 1; @cap[1] = "CAP_DAC_OVERRIDE_AND_MORE"; @seen["x"] = 2; }"#, &[]).unwrap();
    let map = |name: &str| p.maps.iter().find(|m| m.name == name).unwrap();
    assert!(matches!(map("cap").kind, MapKind::Value(Type::Str { len }) if len >= 26), "{:?}", map("cap").kind);
    assert!(matches!(map("seen").keys[..], [Type::Str { len }] if len >= 26), "{:?}", map("seen").keys);
}
