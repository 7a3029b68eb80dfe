"""The system-call filter of every sandboxed run: a classic BPF program for bubblewrap's
`--seccomp FD`, written here so that nothing has to be installed or downloaded.

bubblewrap installs it after it has built the sandbox and just before it starts the
command, so its own namespaces and mounts are done by then. What the generated code
may then not do (EPERM), because each is kernel surface that container escapes use and
that no test of a generated project needs:

- make or enter namespaces (`unshare`, `setns`, `clone` with a CLONE_NEW* flag;
  `clone3` answers ENOSYS so that the C library falls back to `clone`, which is checked);
- mount anything (`mount`, `umount2`, `pivot_root`, the new mount API);
- trace or read other processes (`ptrace`, `process_vm_readv`/`writev`, `kcmp`);
- the kernel keyring, BPF, perf events, userfaultfd, io_uring, handles to files by id;
- load modules, kexec, reboot, swap, accounting, the clock.

System calls of another ABI (32-bit calls on x86_64, x32) kill the process: the
numbers below are the native ones only. Other architectures get no filter (`program`
answers None) and keep the namespaces' and rlimits' protection only.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

# The calls refused, by name, and what a refused call answers.
DENIED = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_by_handle_at",
    "name_to_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
)
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (and NEWTIME).
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
NAMESPACE_FLAGS |= 0x20000000 | 0x40000000 | 0x00000080

# Native system-call numbers: x86_64 (arch/x86/entry/syscalls/syscall_64.tbl) and the
# generic table aarch64 uses (include/uapi/asm-generic/unistd.h).
_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
        "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "keyctl": 250,
        "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298,
        "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
        "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "quotactl": 179, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305,
        "adjtimex": 159, "clone": 56, "clone3": 435,
    },
    "aarch64": {
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "chroot": 51, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 117,
        "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "keyctl": 219,
        "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241,
        "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104,
        "kexec_file_load": 294, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "quotactl": 60, "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266,
        "adjtimex": 171, "clone": 220, "clone3": 435,
    },
}  # fmt: skip
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
# struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (its low half on little-endian
# machines, which both supported ones are).
_NR, _ARCH, _ARG0_LOW = 0, 4, 16


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter for `machine` (default: this one), or None if it is not supported."""
    machine = machine or platform.machine()
    numbers = _NUMBERS.get(machine)
    if numbers is None:
        return None
    eperm, enosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    ops = [
        _op(_LD_ABS, _ARCH),
        _op(_JEQ, _AUDIT_ARCH[machine], jt=1),
        _op(_RET, _KILL_PROCESS),  # another ABI's numbers would bypass the list
        _op(_LD_ABS, _NR),
        _op(_JGE, _X32_BIT, jf=1),
        _op(_RET, _KILL_PROCESS),
    ]
    for name in DENIED:  # each: if nr == N return EPERM
        ops += [_op(_JEQ, numbers[name], jf=1), _op(_RET, eperm)]
    ops += [_op(_JEQ, numbers["clone3"], jf=1), _op(_RET, enosys)]
    ops += [
        _op(_JEQ, numbers["clone"], jf=4),
        _op(_LD_ABS, _ARG0_LOW),
        _op(_JSET, NAMESPACE_FLAGS, jf=1),
        _op(_RET, eperm),
        _op(_RET, _ALLOW),
        _op(_RET, _ALLOW),
    ]
    return b"".join(ops)


def filter_fd() -> int | None:
    """A memory file holding this machine's filter, at offset 0, for `--seccomp FD`
    (close-on-exec: pass it with `pass_fds`); None where there is no filter."""
    code = program()
    if code is None:
        return None
    fd = os.memfd_create("genflow-seccomp")
    os.write(fd, code)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
