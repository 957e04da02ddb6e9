#!/usr/bin/env bash
# Build the initramfs that boots Debian's own 6.1 kernel with ntr and test
# binaries inside (tests/distro_kernel.rs calls this).
#
#   build-initramfs.sh KERNEL_DIR OUT.cpio NTR_BIN FILE... -- TEST_BIN...
#
# KERNEL_DIR is the unpacked linux-image package. The guest gets busybox,
# the host's iproute2 (ip, ss), iptables (nft), conntrack, bpftool, python3 and openssl with the
# libraries they link, the kernel's network modules, ntr at NTR_BIN's own path
# (test binaries look for it there), each FILE at its own path, and each
# TEST_BIN in /suite, where the guest's init runs them in turn.
set -euo pipefail
kdir=$1 out=$2 ntr=$3
shift 3
files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
shift
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,var/run,usr/bin,usr/sbin,suite}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -sf ../bin/busybox "$root/sbin/modprobe"

# Copy a file to the same path inside the guest, with the libraries it links.
put() {
    local f=$1
    mkdir -p "$root$(dirname "$f")"
    cp -L --remove-destination "$f" "$root$f"
    { ldd "$f" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

# Host tools the tests drive, under the names the tests call them by (real
# files, so busybox's applets of the same name do not shadow them).
for tool in ip ss iptables iptables-save conntrack bpftool python3 taskset nft losetup openssl; do
    path=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$tool")
    real=$(readlink -f "$path")
    for link in /usr/bin /usr/sbin /bin /sbin; do rm -f "$root$link/$tool"; done
    put "$real"
    [ "$real" = "/usr/sbin/$tool" ] || ln -s "$real" "$root/usr/sbin/$tool"
done
# iptables-nft finds its extensions by path.
for dir in /usr/lib/x86_64-linux-gnu/xtables; do
    mkdir -p "$root$dir"
    for so in "$dir"/*.so; do put "$so"; done
done
# Python's standard library, without what the tests never import.
py=$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
mkdir -p "$root$py"
tar -C / --exclude="$py/test" --exclude="$py/site-packages" --exclude="$py/dist-packages" --exclude="$py/idlelib" \
    --exclude="$py/tkinter" --exclude="$py/ensurepip" --exclude="$py/lib2to3" --exclude="$py/pydoc_data" \
    -cf - "${py#/}" | tar -C "$root" -xf -
for so in "$py"/lib-dynload/*.so; do put "$so"; done
# The ELF interpreter itself, by the name executables ask for.
mkdir -p "$root/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"

put "$ntr"
for f in "${files[@]}"; do put "$f"; done
for bin in "$@"; do
    put "$bin"
    name=$(basename "$bin")
    ln -s "$bin" "$root/suite/${name%-*}"
done

# Kernel modules of that kernel, with their dependency lists.
version=$(ls "$kdir/lib/modules")
mkdir -p "$root/lib/modules/$version"
cp -a "$kdir/lib/modules/$version/." "$root/lib/modules/$version/"
rm -rf "$root/lib/modules/$version/kernel/"{sound,fs,drivers/{gpu,infiniband,media,scsi,md,nvme,usb,input,hid}}
depmod -b "$root" "$version"

# Test binaries run from the directory the builder runs in, as under cargo test.
pwd > "$root/etc/ntr-guest-cwd"
mknod -m 600 "$root/dev/console" c 5 1
echo "ntr-guest" > "$root/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' > "$root/etc/hosts"
printf 'hosts: files\n' > "$root/etc/nsswitch.conf"
# Libraries by name (a uprobe on `libc`), as the dynamic linker finds them.
cp /etc/ld.so.cache "$root/etc/"
cp /etc/protocols /etc/services "$root/etc/" 2>/dev/null || true
# openssl's configuration (sslsnoop's test makes a certificate and runs s_server).
if [ -e /usr/lib/ssl/openssl.cnf ]; then
    mkdir -p "$root/usr/lib/ssl"
    cp -L /usr/lib/ssl/openssl.cnf "$root/usr/lib/ssl/"
fi
install -m 0755 "$here/init" "$root/init"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) > "$out"
