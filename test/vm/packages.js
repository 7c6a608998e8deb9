'use strict';
// Debian packages the cgroup v2 VM lane (run-lane.js) needs on the host. scripts/prepare-test.js
// installs them for `npm run test:cgroup2`.
//
// - qemu-system-x86: qemu-system-x86_64 (pulls seabios, the BIOS it boots with)
// - linux-image-amd64: the guest kernel in /boot and its modules in /lib/modules
// - busybox-static: the guest's /init shell and tools (the dynamic busybox cannot run in the bare initramfs)
// - kmod: `modinfo -k <version>` to find the modules and their dependency order
// - e2fsprogs: mkfs.ext4, which formats the guest's scratch disk on the host
// No cpio: the lane writes the initramfs archive itself (test/vm/cpio.js).

const VM_DEBIAN_PACKAGES = ['qemu-system-x86', 'linux-image-amd64', 'busybox-static', 'kmod', 'e2fsprogs'];

module.exports = { VM_DEBIAN_PACKAGES };
