"""The syscall lists behind /etc/docker/seccomp/default.json, as plain data (targets stage, pure).

Where they come from
--------------------
Docker's built-in default profile, as published in the moby/profiles module (the home of
``profiles/seccomp`` since it moved out of moby/moby):

* ``seccomp/default.json`` at commit 02e898b137aed1024e232d59bcb05e6179b72177 (the newest copy we
  read: no io_uring, loongarch64 in the archMap, ``socket`` limited to an allowlist of families);
* cross-checked against ``seccomp/default.json`` at 190fa92cb2750186268c960ce30718d3495a228d and
  ``seccomp/default_linux.go`` at 6e3ef8039bcc75e3f7cf1a8a066192224ecc76e6.

Those revisions disagree in three places; the ``DOCKER_*`` reference keeps the strictest reading of
each, so "no less strict than Docker" holds against all of them:

* 190fa92 allows ``add_key``, ``keyctl`` and ``request_key`` unconditionally: left out here;
* 6e3ef80 allows ``unshare`` unconditionally: kept behind CAP_SYS_ADMIN here, as the others do;
* 190fa92 and 6e3ef80 allow ``socket`` for any family except AF_VSOCK (40): the family allowlist of
  02e898b is used (it also refuses AF_ALG, the CVE-2026-31431 vector, and obsolete families).

Why our own copy
----------------
The profile is generated from this file, not fetched from Docker, so a review of this file is a
review of what containers may call. ``DOCKER_*`` is the reference that Docker ships, verbatim;
the names without the prefix are ours, derived from it by the deltas listed below, each of which
only ever makes the profile stricter:

* ``DEMOTED``: syscalls Docker allows to every container that we allow only with a capability;
* ``NOT_FROM_CAP_SYS_ADMIN``: ``clone``/``clone3`` stay arg-filtered/ENOSYS even with CAP_SYS_ADMIN;
* rules that Docker gates on ``minKernel`` (``ptrace``, ``process_vm_readv``, ``process_vm_writev``
  on kernels >= 4.8) are not carried over: those stay behind CAP_SYS_PTRACE.
"""

from __future__ import annotations

DOCKER_SOURCE = ("github.com/moby/profiles seccomp/default.json @ 02e898b137aed1024e232d59bcb05e6179b72177, "
                 "cross-checked against @ 190fa92cb275 and seccomp/default_linux.go @ 6e3ef8039bcc")

# Docker's rule with neither includes, excludes nor args, verbatim (Docker's order).
DOCKER_UNCONDITIONAL: tuple[str, ...] = (
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
    "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
    "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
    "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
    "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2",
    "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
    "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc",
    "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
    "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "riscv_hwprobe",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
    "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
    "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
    "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
    "splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat",
    "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
    "unlink", "unlinkat", "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
)

# Docker's rules keyed by `includes.arches` (Go architecture names, as Docker matches them).
DOCKER_ARCH_ALLOWS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("ppc64le",), ("sync_file_range2", "swapcontext")),
    (("arm", "arm64"), ("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                        "cacheflush", "set_tls")),
    (("amd64", "x32"), ("arch_prctl",)),
    (("amd64", "x32", "x86"), ("modify_ldt",)),
    (("s390", "s390x"), ("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr")),
    (("riscv64",), ("riscv_flush_icache",)),
)

# Docker's rules keyed by `includes.caps`, verbatim and in Docker's order.
DOCKER_CAP_ALLOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CAP_DAC_READ_SEARCH", ("open_by_handle_at",)),
    ("CAP_SYS_ADMIN", ("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
                       "fspick", "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules",
                       "lsm_set_self_attr", "mount", "mount_setattr", "move_mount", "open_tree",
                       "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
                       "setns", "syslog", "umount", "umount2", "unshare")),
    ("CAP_SYS_BOOT", ("reboot",)),
    ("CAP_SYS_CHROOT", ("chroot",)),
    ("CAP_SYS_MODULE", ("delete_module", "init_module", "finit_module")),
    ("CAP_SYS_PACCT", ("acct",)),
    ("CAP_SYS_PTRACE", ("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                        "process_vm_writev", "ptrace")),
    ("CAP_SYS_RAWIO", ("iopl", "ioperm")),
    ("CAP_SYS_TIME", ("settimeofday", "stime", "clock_settime", "clock_settime64")),
    ("CAP_SYS_TTY_CONFIG", ("vhangup",)),
    ("CAP_SYS_NICE", ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node")),
    ("CAP_SYSLOG", ("syslog",)),
    ("CAP_BPF", ("bpf",)),
    ("CAP_PERFMON", ("perf_event_open",)),
)

# Allowed by Docker only on kernels >= 4.8 (`includes.minKernel`); we never carry this rule over.
DOCKER_MIN_KERNEL_ONLY: tuple[str, ...] = ("process_vm_readv", "process_vm_writev", "ptrace")

# --- argument-filtered rules (Docker's values; ours are the same or narrower) -----------------------

# personality(2) personas: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query).
PERSONALITY_VALUES: tuple[int, ...] = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# socket(2) families: every family below 12 (AF_DECnet), plus these. Refused: AF_DECnet (12),
# AF_ECONET (19), AF_ATMSVC (20), AF_IRDA (23), AF_WANPIPE (25), AF_ISDN (34), AF_CAIF (37),
# AF_ALG (38), AF_VSOCK (40) and anything newer than AF_MCTP (45).
SOCKET_FAMILY_BELOW = 12
SOCKET_FAMILIES: tuple[int, ...] = (13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28, 29, 30, 31, 32,
                                    33, 35, 36, 39, 41, 42, 43, 44, 45)
DOCKER_SOCKET_REFUSED_FAMILY = 40  # older revisions: every family but AF_VSOCK

# clone(2) flags a container without CAP_SYS_ADMIN may not pass: CLONE_NEWNS | CLONE_NEWUTS |
# CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP.
CLONE_NAMESPACE_FLAGS = 0x7E020000
# clone3(2) passes its flags in a struct seccomp cannot read: answer ENOSYS so glibc falls back to
# clone(2), where the flags are checked.
CLONE3_ERRNO = 38

# --- our deltas from Docker (each one only removes permissions) ------------------------------------

# Unconditional in Docker, capability-gated here. clock_adjtime can step the clock (the kernel
# checks CAP_SYS_TIME, but this shrinks the surface to the callers that hold it). name_to_handle_at
# is half of the "shocker" escape pair and was CAP_SYS_ADMIN-gated in Docker before 23.0.
DEMOTED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CAP_SYS_TIME", ("clock_adjtime", "clock_adjtime64")),
    ("CAP_SYS_ADMIN", ("name_to_handle_at",)),
)

# Docker allows clone/clone3 outright to CAP_SYS_ADMIN containers; ours keep the arg-filtered clone
# and the ENOSYS clone3 whatever the capabilities (namespaces come from unshare(2) with that cap).
NOT_FROM_CAP_SYS_ADMIN: tuple[str, ...] = ("clone", "clone3")

IO_URING: tuple[str, ...] = ("io_uring_enter", "io_uring_register", "io_uring_setup")

# Never allowed to a container without capabilities, whatever the operator writes: Docker's
# capability-gated calls, the ones Docker never allows, and io_uring (removed by Docker 25.0, as it
# runs I/O that seccomp never sees). personality appears only with the PERSONALITY_VALUES filter.
DANGEROUS: tuple[str, ...] = (
    "_sysctl", "acct", "add_key", "bpf", "clock_adjtime", "clock_adjtime64", "clock_settime",
    "clock_settime64", "clone3", "create_module", "delete_module", "fanotify_init", "finit_module",
    "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy", "init_module",
    "ioperm", "iopl", "io_uring_enter", "io_uring_register", "io_uring_setup", "kcmp",
    "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "mount_setattr",
    "move_mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree",
    "perf_event_open", "personality", "pidfd_getfd", "pivot_root", "process_madvise",
    "process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl", "quotactl_fd",
    "reboot", "request_key", "set_mempolicy", "set_mempolicy_home_node", "setns", "settimeofday",
    "stime", "swapoff", "swapon", "sysfs", "syslog", "umount", "umount2", "unshare", "uselib",
    "userfaultfd", "ustat", "vm86", "vm86old",
)

# --- our lists, derived --------------------------------------------------------------------------

_DEMOTED_NAMES = frozenset(name for _cap, names in DEMOTED for name in names)

ALLOW: tuple[str, ...] = tuple(name for name in DOCKER_UNCONDITIONAL if name not in _DEMOTED_NAMES)

ARCH_ALLOWS = DOCKER_ARCH_ALLOWS


def _without_clone(cap: str, names: tuple[str, ...]) -> tuple[str, ...]:
    if cap != "CAP_SYS_ADMIN":
        return names
    return tuple(name for name in names if name not in NOT_FROM_CAP_SYS_ADMIN)


CAP_ALLOWS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (cap, _without_clone(cap, names)) for cap, names in DOCKER_CAP_ALLOWS) + DEMOTED

# The archMap Docker writes (SCMP_ARCH_* names), plus the Go names its `arches` filters use.
ARCH_MAP: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (our name, native SCMP arch, sub-architectures)
    ("x86_64", "SCMP_ARCH_X86_64", ("SCMP_ARCH_X86", "SCMP_ARCH_X32")),
    ("aarch64", "SCMP_ARCH_AARCH64", ("SCMP_ARCH_ARM",)),
    ("mips64", "SCMP_ARCH_MIPS64", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")),
    ("mips64n32", "SCMP_ARCH_MIPS64N32", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64")),
    ("mipsel64", "SCMP_ARCH_MIPSEL64", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")),
    ("mipsel64n32", "SCMP_ARCH_MIPSEL64N32", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64")),
    ("s390x", "SCMP_ARCH_S390X", ("SCMP_ARCH_S390",)),
    ("riscv64", "SCMP_ARCH_RISCV64", ()),
    ("loongarch64", "SCMP_ARCH_LOONGARCH64", ()),
)
# x86_64 brings x86 and x32 with it, aarch64 brings arm: the five ABIs of Docker's common hosts.
DEFAULT_ARCHITECTURES: tuple[str, ...] = ("x86_64", "aarch64")

# Other spellings people write for an architecture, mapped to the SCMP_ARCH_* name.
ARCH_ALIASES: dict[str, str] = {
    "amd64": "SCMP_ARCH_X86_64", "i386": "SCMP_ARCH_X86", "i686": "SCMP_ARCH_X86", "386": "SCMP_ARCH_X86",
    "arm64": "SCMP_ARCH_AARCH64", "armhf": "SCMP_ARCH_ARM", "loong64": "SCMP_ARCH_LOONGARCH64",
}

# SCMP_ARCH_* -> the Go architecture name Docker's `includes.arches`/`excludes.arches` compare with.
GO_ARCH: dict[str, str] = {
    "SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_AARCH64": "arm64", "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32", "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPSEL64": "mips64le", "SCMP_ARCH_MIPSEL64N32": "mips64len32", "SCMP_ARCH_MIPSEL": "mipsle",
    "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_S390": "s390", "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_LOONGARCH64": "loong64", "SCMP_ARCH_PPC64LE": "ppc64le",
}
