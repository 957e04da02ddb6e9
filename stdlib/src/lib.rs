//! The stdlib: `.ntr` diagnosis scripts (run by name) and modules (for
//! `use`), embedded in the binary, and the table explaining drop reasons.

pub mod reasons;

/// Runnable scripts: (name, source).
const SCRIPTS: &[(&str, &str)] = &[
    ("dropwatch", include_str!("../scripts/dropwatch.ntr")),
    ("conntrack", include_str!("../scripts/conntrack.ntr")),
    ("skbtrace", include_str!("../scripts/skbtrace.ntr")),
    ("tcpstates", include_str!("../scripts/tcpstates.ntr")),
    ("icmperrors", include_str!("../scripts/icmperrors.ntr")),
    ("ifdrops", include_str!("../scripts/ifdrops.ntr")),
    ("execsnoop", include_str!("../scripts/execsnoop.ntr")),
    ("opensnoop", include_str!("../scripts/opensnoop.ntr")),
    ("killsnoop", include_str!("../scripts/killsnoop.ntr")),
    ("syscount", include_str!("../scripts/syscount.ntr")),
    ("tcpconnect", include_str!("../scripts/tcpconnect.ntr")),
    ("tcpaccept", include_str!("../scripts/tcpaccept.ntr")),
    ("capable", include_str!("../scripts/capable.ntr")),
    ("oomkill", include_str!("../scripts/oomkill.ntr")),
    ("runqlat", include_str!("../scripts/runqlat.ntr")),
    ("biolatency", include_str!("../scripts/biolatency.ntr")),
    ("biosnoop", include_str!("../scripts/biosnoop.ntr")),
    ("tcpretrans", include_str!("../scripts/tcpretrans.ntr")),
    ("tcplife", include_str!("../scripts/tcplife.ntr")),
    ("sslsnoop", include_str!("../scripts/sslsnoop.ntr")),
];

/// Library modules for `use NAME`: (name, source).
const MODULES: &[(&str, &str)] = &[
    ("errno", include_str!("../modules/errno.ntr")),
    ("signals", include_str!("../modules/signals.ntr")),
    ("syscalls", include_str!("../modules/syscalls.ntr")),
    ("capabilities", include_str!("../modules/capabilities.ntr")),
    ("socket", include_str!("../modules/socket.ntr")),
];

/// The source of a stdlib script or module by name.
pub fn get(name: &str) -> Option<&'static str> {
    SCRIPTS.iter().chain(MODULES).find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Every runnable script, for `ntr list scripts`.
pub fn scripts() -> impl Iterator<Item = (&'static str, &'static str)> {
    SCRIPTS.iter().copied()
}

/// Names of everything `get` knows, for suggestions.
pub fn names() -> impl Iterator<Item = &'static str> {
    SCRIPTS.iter().chain(MODULES).map(|(n, _)| *n)
}
