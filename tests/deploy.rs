//! deploy/: the container image and the Kubernetes manifests that run ntr
//! on every node, checked without a cluster, a registry or a network: the
//! manifests parse (saphyr, duplicate keys refused) into the kinds and API
//! versions expected; the container runs a stdlib script the built `ntr`
//! lists, with flags its `run --help` has, serving `--metrics` on the port
//! the scrape annotation, the containerPort, the Service and the image name;
//! it gets exactly the capabilities the README's table lists and justifies,
//! is not privileged, has a read-only root and read-only host mounts, each a
//! path ntr's code reads; the Containerfile builds ntr with cargo and runs it
//! from a final stage without a toolchain, installing exactly the packages of
//! the tools ntr starts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use saphyr::{LoadableYamlNode, YamlOwned};

/// The capabilities the DaemonSet adds, as Kubernetes names them; each is
/// justified in the README's table and in the manifest's comments.
const CAPABILITIES: [&str; 7] = ["BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "SYSLOG"];

/// The host paths mounted, each read by ntr's code at this place.
const HOST_PATHS: [(&str, &str); 3] = [
    ("/sys/kernel/btf", "lang/src/kernel/modules.rs"),
    ("/sys/kernel/tracing", "lang/src/kernel/tracefs.rs"),
    ("/run/netns", "runtime/src/netns.rs"),
];

/// The programs ntr starts (runtime/src/netfilter.rs) and the Debian
/// packages that hold them.
const TOOLS: [(&str, &str); 3] = [("iptables-save", "iptables"), ("ip6tables-save", "iptables"), ("nft", "nftables")];

/// The libraries ntr loads beyond bookworm-slim's (libpcap, which compiles
/// `filter()` expressions, opened by soname) and the Debian packages that
/// hold them.
const LIBS: [(&str, &str); 1] = [("libpcap.so.0.8", "libpcap0.8")];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every document of a YAML file.
fn documents(path: &str) -> Vec<YamlOwned> {
    YamlOwned::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

/// The node at `path` (mapping keys, or sequence indexes as numbers).
fn at<'a>(node: &'a YamlOwned, path: &[&str]) -> &'a YamlOwned {
    let mut here = node;
    for (i, key) in path.iter().enumerate() {
        let next = match key.parse::<usize>() {
            Ok(n) if here.is_sequence() => here.as_sequence_get(n),
            _ => here.as_mapping_get(key),
        };
        here = next.unwrap_or_else(|| panic!("no {} in {node:?}", path[..=i].join(" → ")));
    }
    here
}

/// The node at `path` if there is one (mapping keys only).
fn opt<'a>(node: &'a YamlOwned, path: &[&str]) -> Option<&'a YamlOwned> {
    path.iter().try_fold(node, |here, key| here.as_mapping_get(key))
}

fn text<'a>(node: &'a YamlOwned, path: &[&str]) -> &'a str {
    at(node, path).as_str().unwrap_or_else(|| panic!("{} is not a string: {:?}", path.join(" → "), at(node, path)))
}

fn int(node: &YamlOwned, path: &[&str]) -> i64 {
    at(node, path).as_integer().unwrap_or_else(|| panic!("{} is not an integer: {:?}", path.join(" → "), at(node, path)))
}

fn flag(node: &YamlOwned, path: &[&str]) -> bool {
    at(node, path).as_bool().unwrap_or_else(|| panic!("{} is not a boolean: {:?}", path.join(" → "), at(node, path)))
}

fn list<'a>(node: &'a YamlOwned, path: &[&str]) -> &'a [YamlOwned] {
    at(node, path).as_vec().unwrap_or_else(|| panic!("{} is not a list", path.join(" → ")))
}

fn strings(node: &YamlOwned, path: &[&str]) -> Vec<String> {
    list(node, path).iter().map(|v| v.as_str().unwrap_or_else(|| panic!("{}: {v:?} is not a string", path.join(" → "))).to_string()).collect()
}

/// The document of this kind.
fn kind<'a>(docs: &'a [YamlOwned], kind: &str) -> &'a YamlOwned {
    docs.iter().find(|d| d.as_mapping_get("kind").and_then(|k| k.as_str()) == Some(kind)).unwrap_or_else(|| panic!("no {kind}"))
}

fn daemonset() -> YamlOwned {
    kind(&documents("deploy/daemonset.yaml"), "DaemonSet").clone()
}

/// The DaemonSet's one container.
fn container(ds: &YamlOwned) -> &YamlOwned {
    let containers = list(ds, &["spec", "template", "spec", "containers"]);
    assert_eq!(containers.len(), 1, "one container: ntr");
    &containers[0]
}

/// The container's arguments with `$(NAME)` replaced by its env values, as
/// the kubelet does.
fn resolved_args(c: &YamlOwned) -> Vec<String> {
    let env: Vec<(String, String)> = opt(c, &["env"])
        .and_then(|e| e.as_vec())
        .map(|e| e.iter().map(|v| (text(v, &["name"]).to_string(), text(v, &["value"]).to_string())).collect())
        .unwrap_or_default();
    strings(c, &["args"])
        .into_iter()
        .map(|arg| env.iter().fold(arg, |a, (name, value)| a.replace(&format!("$({name})"), value)))
        .inspect(|a| assert!(!a.contains("$("), "{a}: an env variable the container does not set"))
        .collect()
}

fn ntr(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ntr")).args(args).env("NO_COLOR", "1").output().unwrap();
    assert!(out.status.success(), "ntr {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The metrics address of `ntr run … --metrics ADDR:PORT`.
fn metrics_addr(args: &[String]) -> std::net::SocketAddr {
    let i = args.iter().position(|a| a == "--metrics").expect("the container runs with --metrics");
    args[i + 1].parse().unwrap_or_else(|e| panic!("--metrics {}: {e}", args[i + 1]))
}

fn api(doc: &YamlOwned) -> (&str, &str) {
    (text(doc, &["apiVersion"]), text(doc, &["kind"]))
}

#[test]
fn manifests_parse_into_the_kinds_a_cluster_takes() {
    let ds = documents("deploy/daemonset.yaml");
    assert_eq!(ds.iter().map(api).collect::<Vec<_>>(), [("v1", "Namespace"), ("v1", "ServiceAccount"), ("apps/v1", "DaemonSet")]);
    let sm = documents("deploy/servicemonitor.yaml");
    assert_eq!(sm.iter().map(api).collect::<Vec<_>>(), [("v1", "Service"), ("monitoring.coreos.com/v1", "ServiceMonitor")]);

    // Everything lives in the Namespace the file makes.
    let namespace = text(kind(&ds, "Namespace"), &["metadata", "name"]);
    for doc in ds.iter().chain(&sm).filter(|d| api(d).1 != "Namespace") {
        assert_eq!(text(doc, &["metadata", "namespace"]), namespace, "{:?}", api(doc));
    }
    assert_eq!(text(kind(&ds, "Namespace"), &["metadata", "labels", "pod-security.kubernetes.io/enforce"]), "privileged");

    // The DaemonSet selects its own pods, which run as the ServiceAccount,
    // without an API token.
    let d = kind(&ds, "DaemonSet");
    let labels = at(d, &["spec", "template", "metadata", "labels"]);
    let selector = at(d, &["spec", "selector", "matchLabels"]).as_mapping().unwrap();
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(labels.as_mapping_get(k.as_str().unwrap()), Some(v), "selector {k:?} does not match the pod's labels");
    }
    let pod = at(d, &["spec", "template", "spec"]);
    assert_eq!(text(pod, &["serviceAccountName"]), text(kind(&ds, "ServiceAccount"), &["metadata", "name"]));
    assert!(!flag(kind(&ds, "ServiceAccount"), &["automountServiceAccountToken"]));
    assert!(!flag(pod, &["automountServiceAccountToken"]));

    // On every node, tainted or not.
    let tolerations = list(pod, &["tolerations"]);
    assert!(tolerations.iter().any(|t| text(t, &["operator"]) == "Exists" && opt(t, &["key"]).is_none()), "{tolerations:?}");

    // The Service and the ServiceMonitor find those pods.
    let service = kind(&sm, "Service");
    assert_eq!(at(service, &["spec", "selector"]), at(d, &["spec", "selector", "matchLabels"]));
    let monitor = kind(&sm, "ServiceMonitor");
    assert_eq!(at(monitor, &["spec", "selector", "matchLabels"]), at(service, &["metadata", "labels"]));
    assert_eq!(strings(monitor, &["spec", "namespaceSelector", "matchNames"]), [namespace]);

    // kustomize applies the DaemonSet and sets the image by its name.
    let kustomization = &documents("deploy/kustomization.yaml")[0];
    for file in strings(kustomization, &["resources"]) {
        assert!(repo("deploy").join(&file).is_file(), "deploy/kustomization.yaml names {file}, which is not there");
    }
    let image = text(container(d), &["image"]);
    assert_eq!(image.split(':').next(), Some(text(kustomization, &["images", "0", "name"])), "{image}");
}

#[test]
fn the_container_runs_a_stdlib_script_and_serves_metrics_where_they_are_scraped() {
    let ds = daemonset();
    let c = container(&ds);
    let args = resolved_args(c);
    assert_eq!(args[0], "run", "{args:?}");
    let scripts = ntr(&["list", "scripts"]);
    let listed: Vec<&str> = scripts.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(listed.contains(&args[1].as_str()), "{} is not a stdlib script; `ntr list scripts`:\n{scripts}", args[1]);

    // Every option the manifest passes is one `ntr run` takes.
    let help = ntr(&["run", "--help"]);
    let words: BTreeSet<&str> = help.split(|ch: char| ch.is_whitespace() || ",=[]<>".contains(ch)).collect();
    for option in args.iter().filter(|a| a.starts_with('-')) {
        assert!(words.contains(option.as_str()), "`ntr run --help` has no {option}:\n{help}");
    }
    assert!(words.contains("--metrics"), "{help}");

    // One port: --metrics, the containerPort, the scrape annotation, the
    // readiness probe, the Service, the ServiceMonitor.
    let port = metrics_addr(&args).port();
    let ports = list(c, &["ports"]);
    assert_eq!(ports.len(), 1);
    assert_eq!(int(&ports[0], &["containerPort"]), i64::from(port));
    let name = text(&ports[0], &["name"]);
    let annotations = at(&ds, &["spec", "template", "metadata", "annotations"]);
    // Annotation values must be strings, or the API server refuses the pod.
    assert_eq!(text(annotations, &["prometheus.io/scrape"]), "true");
    assert_eq!(text(annotations, &["prometheus.io/port"]), port.to_string());
    assert_eq!(text(annotations, &["prometheus.io/path"]), "/metrics");
    assert_eq!(text(c, &["readinessProbe", "tcpSocket", "port"]), name);

    let sm = documents("deploy/servicemonitor.yaml");
    let service_port = &list(kind(&sm, "Service"), &["spec", "ports"])[0];
    assert_eq!(int(service_port, &["port"]), i64::from(port));
    assert_eq!(text(service_port, &["targetPort"]), name);
    let endpoint = &list(kind(&sm, "ServiceMonitor"), &["spec", "endpoints"])[0];
    assert_eq!(text(endpoint, &["port"]), text(service_port, &["name"]));
    assert_eq!(text(endpoint, &["path"]), "/metrics");

    // The image, run without arguments, does what the DaemonSet asks.
    let image = stages(&read("deploy/Containerfile"));
    let last = image.last().unwrap();
    assert_eq!(exec_form(last, "CMD"), args, "the Containerfile's CMD and the DaemonSet's args differ");
    assert_eq!(instruction(last, "EXPOSE"), Some(port.to_string()));
}

#[test]
fn the_pod_has_the_documented_privileges_and_no_more() {
    let ds = daemonset();
    let pod = at(&ds, &["spec", "template", "spec"]);
    assert!(flag(pod, &["hostPID"]), "ntr finds other pods' namespaces through their processes");
    assert!(flag(pod, &["hostNetwork"]));
    assert!(opt(pod, &["hostIPC"]).is_none_or(|v| v.as_bool() == Some(false)));
    assert!(opt(pod, &["securityContext", "privileged"]).is_none());

    let sc = at(container(&ds), &["securityContext"]);
    assert!(!flag(sc, &["privileged"]));
    assert!(!flag(sc, &["allowPrivilegeEscalation"]));
    assert!(flag(sc, &["readOnlyRootFilesystem"]));
    assert_eq!(int(sc, &["runAsUser"]), 0, "tracefs is root's");
    assert_eq!(strings(sc, &["capabilities", "drop"]), ["ALL"]);
    assert_eq!(strings(sc, &["capabilities", "add"]), CAPABILITIES, "capabilities added");
    assert_eq!(text(sc, &["seccompProfile", "type"]), "RuntimeDefault");
    assert_eq!(text(sc, &["appArmorProfile", "type"]), "Unconfined");

    // The manifest's comments justify each, and so does the README's table,
    // which lists exactly these.
    let manifest = read("deploy/daemonset.yaml");
    for cap in CAPABILITIES {
        assert!(manifest.lines().any(|l| l.trim_start().starts_with(&format!("# {cap} "))), "no comment says why {cap}");
    }
    let readme = read("README.md");
    let section = readme.split("\n## Deploying on a cluster\n").nth(1).expect("README: a \"Deploying on a cluster\" section");
    let section = section.split("\n## ").next().unwrap();
    let table: Vec<&str> = section.lines().filter_map(|l| l.strip_prefix("| `CAP_")).map(|l| l.split('`').next().unwrap()).collect();
    assert_eq!(table, CAPABILITIES, "the README's table of capabilities");
    for step in ["deploy/Containerfile", "kubectl apply -f deploy/daemonset.yaml", "deploy/servicemonitor.yaml", "NTR_SCRIPT"] {
        assert!(section.contains(step), "the README's deployment section does not say {step}");
    }

    // Resources are bounded.
    let resources = at(container(&ds), &["resources"]);
    for key in ["requests", "limits"] {
        for what in ["cpu", "memory"] {
            assert!(at(resources, &[key, what]).as_str().is_some(), "resources.{key}.{what}");
        }
    }
}

#[test]
fn host_mounts_are_read_only_and_each_read_by_ntr() {
    let ds = daemonset();
    let pod = at(&ds, &["spec", "template", "spec"]);
    let volumes = list(pod, &["volumes"]);
    let mounts = list(container(&ds), &["volumeMounts"]);
    assert_eq!(volumes.len(), mounts.len(), "every volume mounted, once");
    let mut paths = Vec::new();
    for mount in mounts {
        let name = text(mount, &["name"]);
        let volume = volumes.iter().find(|v| text(v, &["name"]) == name).unwrap_or_else(|| panic!("no volume {name}"));
        let host = text(volume, &["hostPath", "path"]);
        assert_eq!(text(mount, &["mountPath"]), host, "{name} is mounted where ntr looks for it on a host");
        assert!(flag(mount, &["readOnly"]), "{name} ({host}) is mounted writable");
        assert!(
            opt(mount, &["mountPropagation"]).is_none_or(|p| p.as_str() == Some("HostToContainer")),
            "{name}: only the host's mounts propagate, into the container"
        );
        paths.push(host);
    }
    assert_eq!(paths, HOST_PATHS.map(|(p, _)| p));
    for (path, source) in HOST_PATHS {
        assert!(read(source).contains(&format!("\"{path}\"")), "{source} no longer reads {path}: is its mount still needed?");
    }
}

/// A Containerfile's stages: each its instructions, continuation lines
/// joined, comments left out, as (INSTRUCTION, rest).
fn stages(text: &str) -> Vec<Vec<(String, String)>> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for line in joined.iter().filter(|l| !l.trim().is_empty()) {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let word = word.to_uppercase();
        if word == "FROM" {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("a Containerfile starts with FROM").push((word, rest.trim().to_string()));
    }
    stages
}

fn instruction(stage: &[(String, String)], word: &str) -> Option<String> {
    stage.iter().rev().find(|(w, _)| w == word).map(|(_, rest)| rest.clone())
}

/// An ENTRYPOINT or CMD in exec form (a JSON array).
fn exec_form(stage: &[(String, String)], word: &str) -> Vec<String> {
    let rest = instruction(stage, word).unwrap_or_else(|| panic!("no {word} in the final stage"));
    serde_json::from_str(&rest).unwrap_or_else(|e| panic!("{word} {rest} is not in exec form: {e}"))
}

#[test]
fn the_image_builds_with_cargo_and_runs_ntr_without_a_toolchain() {
    let stages = stages(&read("deploy/Containerfile"));
    assert!(stages.len() >= 2, "a build stage and a runtime stage");
    let (build, run) = (&stages[0], stages.last().unwrap());

    let from = instruction(build, "FROM").unwrap();
    assert!(from.contains("rust:") && from.contains("bookworm"), "FROM {from}");
    let stage_name = from.split_whitespace().last().unwrap();
    assert!(
        build.iter().any(|(w, r)| w == "RUN" && r.contains("cargo install --locked --path . --root /out")),
        "the build stage installs as the README does"
    );

    assert!(instruction(run, "FROM").unwrap().ends_with("debian:bookworm-slim"));
    let body: Vec<String> = run.iter().filter(|(w, _)| w != "FROM").map(|(w, r)| format!("{w} {r}")).collect();
    let words: BTreeSet<&str> = body.iter().flat_map(|l| l.split(|c: char| c.is_whitespace() || c == '"' || c == '/')).collect();
    for toolchain in ["rustc", "cargo", "rustup", "gcc", "cc", "clang", "llvm", "build-essential", "make", "binutils", "libc6-dev"] {
        assert!(!words.contains(toolchain), "the final stage mentions {toolchain}:\n{}", body.join("\n"));
    }
    assert!(
        run.iter().any(|(w, r)| w == "COPY" && r.starts_with(&format!("--from={stage_name} ")) && r.contains("/out/bin/ntr")),
        "the final stage takes ntr from the build stage"
    );
    let entrypoint = exec_form(run, "ENTRYPOINT");
    assert_eq!(entrypoint.len(), 1, "{entrypoint:?}");
    assert_eq!(Path::new(&entrypoint[0]).file_name().unwrap(), "ntr");

    // It installs the packages of the programs ntr starts, and only those;
    // ntr starts programs in one place only.
    let install = run.iter().find(|(w, r)| w == "RUN" && r.contains("apt-get install")).expect("the final stage installs ntr's tools");
    let packages: BTreeSet<&str> =
        install.1.split("apt-get install").nth(1).unwrap().split("&&").next().unwrap().split_whitespace().filter(|w| !w.starts_with('-')).collect();
    assert_eq!(packages, TOOLS.iter().chain(&LIBS).map(|(_, p)| *p).collect(), "apt-get install in the final stage");
    // ntr asks for those libraries by soname, first (lang/src/check/libpcap.rs).
    let loader = read("lang/src/check/libpcap.rs");
    for (lib, package) in LIBS {
        assert!(loader.contains(&format!("const SONAMES: &[&str] = &[\"{lib}\"")), "ntr no longer loads {lib} first: check {package} in the image");
    }
    let netfilter = read("runtime/src/netfilter.rs");
    for (tool, _) in TOOLS {
        assert!(netfilter.contains(&format!("\"{tool}\"")), "runtime/src/netfilter.rs no longer runs {tool}");
    }
    for dir in ["src", "runtime/src", "lang/src", "compiler/src", "stdlib/src"] {
        for file in rust_files(&repo(dir)) {
            let source = std::fs::read_to_string(&file).unwrap();
            let spawns = source.contains("Command::new(") || source.contains("process::Command");
            assert!(
                !spawns || file.ends_with("runtime/src/netfilter.rs"),
                "{} starts a program: the image must install it (deploy/Containerfile) and this test name it",
                file.display()
            );
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}
