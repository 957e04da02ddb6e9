//! Code generation run for real: scripts whose probe is a raw tracepoint are
//! compiled, loaded (not attached) and run with chosen arguments through
//! BPF_PROG_TEST_RUN; the maps they fill are read back and checked exactly.

mod common;

use aya::maps::{HashMap, MapData, PerCpuHashMap};
use aya::programs::{RawTracePoint, RawTracePointRunOptions, TestRun};
use ntr_compiler::artifact::Artifact;
use ntr_lang::check::{check, CheckOptions};
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::source::Sources;
use ntr_lang::syntax::modules;

struct Loaded {
    artifact: Artifact,
    ebpf: aya::Ebpf,
}

fn compile(script: &str) -> Artifact {
    let mut sources = Sources::new();
    let file = sources.add("t.ntr", script);
    let loaded = modules::load(&mut sources, file, None).unwrap_or_else(|d| panic!("{}", d.render(&sources)));
    let scripts: Vec<_> = loaded.iter().map(|m| &m.script).collect();
    let kernel = KernelBtf::from_sys().unwrap();
    let features = ntr_runtime::features::Features::default();
    let program = check(&scripts, &kernel, &CheckOptions { params: &[], attach: &features, host: None, cpid: None, snaplen: None })
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| d.render(&sources)).collect::<String>()));
    ntr_compiler::compile(&program).unwrap_or_else(|e| panic!("{}", e.to_diagnostic().render(&sources)))
}

fn load(script: &str) -> Loaded {
    let artifact = compile(script);
    let mut ebpf = aya::EbpfLoader::new().load(&artifact.elf).expect("load object");
    for p in &artifact.programs {
        let prog: &mut RawTracePoint = ebpf.program_mut(&p.symbol).unwrap().try_into().unwrap();
        if let Err(e) = prog.load() {
            panic!("verifier rejected {}: {e}", p.symbol);
        }
    }
    Loaded { artifact, ebpf }
}

impl Loaded {
    fn run(&self, args: &[u64]) {
        for p in &self.artifact.programs {
            let prog: &RawTracePoint = self.ebpf.program(&p.symbol).unwrap().try_into().unwrap();
            let mut opts = RawTracePointRunOptions::new();
            opts.args[..args.len()].copy_from_slice(args);
            prog.test_run(opts).expect("test run");
        }
    }

    fn symbol(&self, map: &str) -> String {
        self.artifact.maps.iter().find(|m| m.name == map).unwrap_or_else(|| panic!("no map @{map}")).symbol.clone()
    }

    /// A plain `@map[u64 key]` value.
    fn value(&self, map: &str, key: u64) -> Option<u64> {
        let m: HashMap<&MapData, u64, u64> = HashMap::try_from(self.ebpf.map(&self.symbol(map)).unwrap()).unwrap();
        m.get(&key, 0).ok()
    }

    /// An aggregation's value slots (`V` u64s), each summed over the CPUs.
    fn agg<const N: usize, const V: usize>(&self, map: &str, key: [u64; N]) -> [u64; V] {
        let m: PerCpuHashMap<&MapData, [u64; N], [u64; V]> = PerCpuHashMap::try_from(self.ebpf.map(&self.symbol(map)).unwrap()).unwrap();
        let vals = m.get(&key, 0).unwrap_or_else(|e| panic!("@{map}{key:?}: {e}"));
        let mut out = [0; V];
        for v in vals.iter() {
            for (o, x) in out.iter_mut().zip(v) {
                *o += x;
            }
        }
        out
    }
}

#[test]
fn arithmetic_signedness_and_branches() {
    let _k = common::kernel_lock();
    let l = load(
        "on raw_tracepoint:kfree_skb {
            @r[0] = arg0 * 3 + arg1;
            @r[1] = (s64)arg0 / -2;
            @r[2] = arg0 >> 1 | 0x100;
            @r[3] = (s64)(arg1 - arg0) >> 1;
            if arg0 > 10 { @r[4] = 1; } else if arg0 > 5 { @r[4] = 2; } else { @r[4] = 3; }
            @r[5] = arg0 > 5 && arg1 < 5 ? 7 : 8;
            @r[6] = (arg0 == 9 || arg1 == 9) ? 1 : 0;
            @r[7] = (u8)(arg0 + 250);
            @r[8] = arg0 % 4;
        }",
    );
    l.run(&[9, 2]);
    assert_eq!(l.value("r", 0), Some(29));
    assert_eq!(l.value("r", 1), Some((-4i64) as u64));
    assert_eq!(l.value("r", 2), Some(0x104));
    assert_eq!(l.value("r", 3), Some((-4i64) as u64), "arithmetic shift of a negative value");
    assert_eq!(l.value("r", 4), Some(2));
    assert_eq!(l.value("r", 5), Some(7));
    assert_eq!(l.value("r", 6), Some(1));
    assert_eq!(l.value("r", 7), Some(3), "(u8)259 truncates");
    assert_eq!(l.value("r", 8), Some(1));
    l.run(&[3, 3]);
    assert_eq!(l.value("r", 4), Some(3));
    assert_eq!(l.value("r", 5), Some(8));
    assert_eq!(l.value("r", 6), Some(0));
}

#[test]
fn map_reads_updates_and_deletes() {
    let _k = common::kernel_lock();
    let l = load(
        "on raw_tracepoint:kfree_skb {
            @v[arg0] = arg1;
            @r[0] = @v[arg0] + @v[999];
            @acc[0] += arg1;
            @acc[1] -= 1;
            if arg1 == 0 { delete(@v[arg0]); }
        }",
    );
    l.run(&[5, 40]);
    l.run(&[6, 2]);
    assert_eq!(l.value("v", 5), Some(40));
    assert_eq!(l.value("r", 0), Some(2), "last run: @v[6] + absent @v[999]");
    assert_eq!(l.value("acc", 0), Some(42));
    assert_eq!(l.value("acc", 1), Some((-2i64) as u64));
    l.run(&[5, 0]);
    assert_eq!(l.value("v", 5), None, "deleted");
}

#[test]
fn aggregations_and_histogram_buckets() {
    let _k = common::kernel_lock();
    let l = load(
        "on raw_tracepoint:kfree_skb {
            @c = count(); @s = sum(arg0); @mn = min(arg0); @mx = max(arg0); @a = avg(arg0);
            @h = hist(arg0); @l = lhist(arg0, 0, 100, 10);
        }",
    );
    for v in [5, 100, 0, 64, 1] {
        l.run(&[v]);
    }
    assert_eq!(l.agg("c", [0]), [5]);
    assert_eq!(l.agg("s", [0]), [170]);
    assert_eq!(l.agg("mn", [0]), [0, 1]);
    assert_eq!(l.agg("mx", [0]), [100, 1]);
    assert_eq!(l.agg("a", [0]), [170, 5], "avg keeps sum and count");
    // hist buckets: 1 = zero, 2 = [1], k+2 = [2^k, 2^(k+1)).
    assert_eq!(l.agg("h", [0, 1]), [1]);
    assert_eq!(l.agg("h", [0, 2]), [1]);
    assert_eq!(l.agg("h", [0, 4]), [1], "5 is in [4, 8)");
    assert_eq!(l.agg("h", [0, 8]), [2], "64 and 100 are in [64, 128)");
    // lhist: 0 below min, i+1 = [i*10, (i+1)*10), 11 = at or above max.
    assert_eq!(l.agg("l", [0, 1]), [3], "0, 1 and 5");
    assert_eq!(l.agg("l", [0, 7]), [1], "64");
    assert_eq!(l.agg("l", [0, 11]), [1], "100");
}

#[test]
fn strings_fns_and_helpers() {
    let _k = common::kernel_lock();
    let l = load(
        "fn pick(a, b) { if a > b { return a; } return b; }
         on raw_tracepoint:kfree_skb {
            let name = comm;
            @r[0] = name == \"no-such-task\" ? 1 : 2;
            @r[1] = \"abc\" == \"abc\" && \"abc\" != \"abd\" ? 1 : 0;
            @r[2] = pick(arg0, arg1) + pick(arg1, 3);
            @r[3] = pid == tid || pid != 0 ? 1 : 0;
            @r[4] = nsecs > 0 ? 1 : 0;
        }",
    );
    l.run(&[4, 11]);
    assert_eq!(l.value("r", 0), Some(2));
    assert_eq!(l.value("r", 1), Some(1));
    assert_eq!(l.value("r", 2), Some(22));
    assert_eq!(l.value("r", 3), Some(1));
    assert_eq!(l.value("r", 4), Some(1));
}

/// `walltime` reads the boot-time clock (CLOCK_BOOTTIME), which the runtime
/// turns into wall-clock time.
#[test]
fn walltime_reads_the_boot_clock() {
    let _k = common::kernel_lock();
    let boottime = || {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let l = load("on raw_tracepoint:kfree_skb { let t = walltime; @r[0] = (u64)(walltime - t); @t[0] = t; }");
    let before = boottime();
    l.run(&[]);
    let after = boottime();
    let t = l.value("t", 0).expect("stored");
    assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
    assert!(l.value("r", 0).is_some_and(|d| d < 1_000_000), "two readings microseconds apart");
}

#[test]
fn many_live_values_are_spilled_correctly() {
    let _k = common::kernel_lock();
    // 24 values alive across helper calls: more than the 4 callee-saved
    // registers, so most live in stack slots.
    let mut s = String::from("on raw_tracepoint:kfree_skb {\n");
    for i in 0..24 {
        s.push_str(&format!("  let v{i} = arg0 * {} + nsecs * 0 + arg1;\n", i + 1));
    }
    s.push_str("  @r[0] = ");
    s.push_str(&(0..24).map(|i| format!("v{i}")).collect::<Vec<_>>().join(" + "));
    s.push_str(";\n}\n");
    let l = load(&s);
    let spills = l.artifact.programs[0].insns.iter().filter(|i| i.code == 0x7b && i.dst == 10).count();
    assert!(spills > 10, "expected spill stores to r10, found {spills}");
    l.run(&[2, 1]);
    // sum over i of (2*(i+1) + 1) = 2*300 + 24
    assert_eq!(l.value("r", 0), Some(624));
}
