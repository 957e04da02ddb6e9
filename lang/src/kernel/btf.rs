//! KernelTypes backed by vmlinux BTF (btf-rs) and tracefs.
