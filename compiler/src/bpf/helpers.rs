//! BPF helper ids (`enum bpf_func_id`) ntr calls.

pub const MAP_LOOKUP_ELEM: u32 = 1;
pub const MAP_UPDATE_ELEM: u32 = 2;
pub const MAP_DELETE_ELEM: u32 = 3;
pub const KTIME_GET_NS: u32 = 5;
pub const GET_SMP_PROCESSOR_ID: u32 = 8;
pub const GET_CURRENT_PID_TGID: u32 = 14;
pub const GET_CURRENT_UID_GID: u32 = 15;
pub const GET_CURRENT_COMM: u32 = 16;
pub const GET_STACKID: u32 = 27;
pub const GET_CURRENT_TASK: u32 = 35;
pub const GET_CURRENT_CGROUP_ID: u32 = 80;
pub const PROBE_READ_USER: u32 = 112;
pub const PROBE_READ_KERNEL: u32 = 113;
pub const PROBE_READ_USER_STR: u32 = 114;
pub const PROBE_READ_KERNEL_STR: u32 = 115;
pub const KTIME_GET_BOOT_NS: u32 = 125;
pub const RINGBUF_OUTPUT: u32 = 130;
pub const RINGBUF_QUERY: u32 = 134;

/// Flags.
pub const BPF_ANY: i32 = 0;
/// bpf_ringbuf_output flags and bpf_ringbuf_query questions.
pub const BPF_RB_NO_WAKEUP: i32 = 1;
pub const BPF_RB_FORCE_WAKEUP: i32 = 2;
pub const BPF_RB_AVAIL_DATA: i32 = 0;
pub const BPF_RB_RING_SIZE: i32 = 1;
pub const BPF_NOEXIST: i32 = 1;
pub const BPF_F_USER_STACK: i32 = 0x100;
pub const BPF_F_FAST_STACK_CMP: i32 = 0x200;

pub fn name(id: u32) -> &'static str {
    match id {
        MAP_LOOKUP_ELEM => "bpf_map_lookup_elem",
        MAP_UPDATE_ELEM => "bpf_map_update_elem",
        MAP_DELETE_ELEM => "bpf_map_delete_elem",
        KTIME_GET_NS => "bpf_ktime_get_ns",
        GET_SMP_PROCESSOR_ID => "bpf_get_smp_processor_id",
        GET_CURRENT_PID_TGID => "bpf_get_current_pid_tgid",
        GET_CURRENT_UID_GID => "bpf_get_current_uid_gid",
        GET_CURRENT_COMM => "bpf_get_current_comm",
        GET_STACKID => "bpf_get_stackid",
        PROBE_READ_USER => "bpf_probe_read_user",
        PROBE_READ_KERNEL => "bpf_probe_read_kernel",
        PROBE_READ_USER_STR => "bpf_probe_read_user_str",
        PROBE_READ_KERNEL_STR => "bpf_probe_read_kernel_str",
        KTIME_GET_BOOT_NS => "bpf_ktime_get_boot_ns",
        RINGBUF_OUTPUT => "bpf_ringbuf_output",
        RINGBUF_QUERY => "bpf_ringbuf_query",
        _ => "helper",
    }
}
