//! An errno in words: its name and what it means, as in `ENOENT (No such
//! file or directory)`, for errors that come from the kernel.

/// `ENAME (description)` for an OS error, or its plain text for others.
pub fn describe(e: &std::io::Error) -> String {
    let Some(code) = e.raw_os_error() else { return e.to_string() };
    let text = match code {
        // Kernel-internal, seen by user space when a uprobe's instruction
        // cannot be probed; strerror does not know it.
        524 => "operation not supported".to_string(),
        _ => {
            let text = e.to_string();
            text.strip_suffix(&format!(" (os error {code})")).map(str::to_string).unwrap_or(text)
        }
    };
    match name(code) {
        Some(name) => format!("{name} ({text})"),
        None => format!("errno {code} ({text})"),
    }
}

fn name(code: i32) -> Option<&'static str> {
    use libc::*;
    Some(match code {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EINTR => "EINTR",
        EIO => "EIO",
        ENXIO => "ENXIO",
        E2BIG => "E2BIG",
        ENOEXEC => "ENOEXEC",
        EBADF => "EBADF",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        ENODEV => "ENODEV",
        ENOTDIR => "ENOTDIR",
        EISDIR => "EISDIR",
        EINVAL => "EINVAL",
        ENFILE => "ENFILE",
        EMFILE => "EMFILE",
        ETXTBSY => "ETXTBSY",
        EFBIG => "EFBIG",
        ENOSPC => "ENOSPC",
        EROFS => "EROFS",
        ERANGE => "ERANGE",
        ENAMETOOLONG => "ENAMETOOLONG",
        ENOSYS => "ENOSYS",
        ELOOP => "ELOOP",
        EOPNOTSUPP => "EOPNOTSUPP",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        524 => "ENOTSUPP",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn errors_have_their_name_and_meaning() {
        assert_eq!(describe(&std::io::Error::from_raw_os_error(libc::ENOENT)), "ENOENT (No such file or directory)");
        assert_eq!(describe(&std::io::Error::from_raw_os_error(524)), "ENOTSUPP (operation not supported)");
        assert_eq!(describe(&std::io::Error::from_raw_os_error(4095)), "errno 4095 (Unknown error 4095)");
    }
}
