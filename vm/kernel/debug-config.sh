#!/bin/sh
# Kernel configuration for secdiff's "debug" guest kernel (Linux 6.1, x86_64).
#
# Run inside an unpacked kernel source tree (cwd = tree root). It produces .config from
# tinyconfig plus the options the seccomp oracle needs. Source: vm-facts.md §4, where running it
# from scratch reproduced the measured .config exactly.
#
# Any change to this file changes the debug-kernel cache key (scripts/vm/debug-kernel.sh),
# so the kernel is rebuilt automatically.
set -eu
make tinyconfig
C=scripts/config
$C --enable 64BIT
make olddefconfig
$C --enable SMP \
   --enable PRINTK --enable PRINTK_TIME --enable EARLY_PRINTK --enable BUG \
   --enable TTY --enable SERIAL_8250 --enable SERIAL_8250_CONSOLE \
   --enable BLK_DEV_INITRD --enable BINFMT_ELF --enable BINFMT_SCRIPT \
   --enable PROC_FS --enable PROC_SYSCTL --enable SYSCTL --enable SYSFS \
   --enable DEVTMPFS --enable DEVTMPFS_MOUNT --enable TMPFS --enable SHMEM \
   --enable MULTIUSER --enable FUTEX --enable POSIX_TIMERS --enable EPOLL \
   --enable SIGNALFD --enable TIMERFD --enable EVENTFD --enable FILE_LOCKING --enable FHANDLE \
   --enable NET --enable UNIX \
   --enable SECCOMP --enable SECCOMP_FILTER --enable SECCOMP_CACHE_DEBUG \
   --enable IA32_EMULATION --enable X86_X32_ABI \
   --enable AUDIT --enable AUDITSYSCALL \
   --enable PCI --enable PCI_MSI \
   --enable VIRTIO_MENU --enable VIRTIO_PCI --enable VIRTIO_PCI_LEGACY --enable VIRTIO_CONSOLE \
   --enable MODULES --enable BPF --enable BPF_JIT --disable BPF_JIT_ALWAYS_ON \
   --enable ACPI \
   --enable PERF_EVENTS --enable FTRACE --enable FTRACE_SYSCALLS --enable DEBUG_FS \
   --enable IKCONFIG --enable IKCONFIG_PROC
make olddefconfig
# Second pass: options whose dependencies only became visible after the first olddefconfig.
$C --enable SECCOMP_CACHE_DEBUG --enable X86_X32_ABI --enable AUDITSYSCALL --enable BPF_JIT \
   --enable FTRACE_SYSCALLS --enable VIRTIO_CONSOLE --enable VIRTIO_PCI --enable SERIAL_8250_CONSOLE
make olddefconfig
# gzip decompresses faster than xz under TCG.
$C --disable KERNEL_XZ --enable KERNEL_GZIP
make olddefconfig
# ioperm for isa-debug-exit; no VT/input/PS/2 (the async psmouse probe delays power-off by ~0.45 s).
$C --enable X86_IOPL_IOPERM --disable VT --disable INPUT --disable SERIO --disable SERIO_I8042 \
   --disable KEYBOARD_ATKBD --disable MOUSE_PS2
make olddefconfig
