//! What ntr asks about the machine it runs on, beyond the kernel's types:
//! its network namespaces and devices, for parameters that name them
//! (`param netns: netns`, `param ifname: ifname`). The runtime answers.

pub trait Host {
    /// Namespaces with a name: `host` and the `ip netns` names, each with
    /// its inode (the value `netns(skb)` gives).
    fn named_netns(&self) -> Vec<(String, u64)>;
    /// The inode of process `pid`'s network namespace, if it runs.
    fn netns_of_pid(&self, pid: u32) -> Option<u64>;
    /// Whether a device called `ifname` exists now, in any namespace.
    fn device_exists(&self, ifname: &str) -> bool;
}
