//! What ntr asks about the machine it runs on, beyond the kernel's types:
//! its network namespaces and devices, for parameters that name them
//! (`param netns: netns`, `param ifname: ifname`). The runtime answers.

pub trait Host {
    /// Namespaces with a name: `host` and the `ip netns` names, each with
    /// its inode (the value `netns(skb)` gives).
    fn named_netns(&self) -> Vec<(String, u64)>;
    /// The inode of process `pid`'s network namespace, if it runs.
    fn netns_of_pid(&self, pid: u32) -> Option<u64>;
    /// The namespaces (by name) that have a device called `ifname` now.
    fn namespaces_with_device(&self, ifname: &str) -> Vec<String>;
}
