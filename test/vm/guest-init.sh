#!/bin/busybox sh
# PID 1 of the cgroup v2 lane VM (see run-lane.js for the whole picture).
#
# Turns a bare Debian kernel into a pure cgroup v2 host that sees the host machine's files:
#   /       initramfs: busybox + the virtio/9p modules + this script
#   /host   the host's / over virtio-9p, read-only, with the guest's own proc, sysfs, dev, a tmpfs
#           /tmp and cgroup2 (and no cgroup v1 hierarchy) at /host/sys/fs/cgroup
#   /out    the lane's writable export: job.env (what to run) in, ava.tap, ava.stderr and ava.rc out
#   /host/tmp/capstan-block  the scratch disk (virtio, ext4) when job.env sets LANE_BLOCK_DIR
# then moves /host onto / (as switch_root does), runs ava chrooted into it, from the repository's
# own path, and powers off.
#
# Lines starting with "capstan-lane:" are read by run-lane.js (timings, phase, failures).

export PATH=/bin

say() { echo "capstan-lane: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# Anything that goes wrong ends the VM at once: the host sees no ava.rc and reports the message.
die() {
  say "guest-error: $*"
  [ -d /out/. ] && echo "$*" >> /out/guest-error 2>/dev/null
  sync
  poweroff -f
  sleep 5
  exit 1
}

mount -t proc proc /proc || die "mount /proc failed"
mount -t sysfs sysfs /sys || die "mount /sys failed"
mount -t devtmpfs devtmpfs /dev || die "mount /dev failed"
say "init started uptime=$(uptime_s)s"
# Loopback only (qemu gets -nic none): tests start the agent on 127.0.0.1 and fetch from it.
ip link set lo up || die "bringing up the loopback interface failed"

# Modules are listed in dependency order by the host (modinfo -F depends).
while read -r module; do
  [ -n "$module" ] || continue
  insmod "/lib/modules/$module.ko" || die "insmod $module failed"
done < /etc/lane-modules
# Besides lo, an interface that goes nowhere (the dummy module made dummy0): every real host has
# one, and the network series of the host (cAdvisor's and capstan's) leave lo out, so with lo
# alone they would not exist at all. No address, no route: the guest still reaches only itself.
ip link set dummy0 up || die "bringing up dummy0 failed"

# msize: the default 8 KiB message makes every node_modules read a dozen round trips.
NINEP_OPTS="trans=virtio,version=9p2000.L,msize=512000"

mount -t 9p -o "$NINEP_OPTS" laneout /out || die "mount of the writable export (tag laneout) failed"
[ -r /out/job.env ] || die "/out/job.env is missing"
# Sets LANE_REPO_DIR, LANE_NODE_BIN, LANE_MODE, LANE_AVA_TIMEOUT, LANE_HOSTROOT_CACHE,
# LANE_GUEST_TIMEOUT_S, LANE_TMP_KEEP, LANE_BLOCK_DIR and, with `set --`, the test files (relative to the repo).
. /out/job.env

# A VM must never outlive its lane, even if the host side was killed without a chance to kill
# qemu (SIGKILL): the guest powers itself off after the lane's own limit plus a margin.
if [ "$LANE_MODE" != shell ] && [ -n "$LANE_GUEST_TIMEOUT_S" ]; then
  ( sleep "$LANE_GUEST_TIMEOUT_S"; die "guest watchdog: still running after ${LANE_GUEST_TIMEOUT_S}s" ) &
fi

# cache=loose lets the guest keep file data and metadata: the export is read-only for the whole
# run, and it is what makes node's thousands of module stats affordable under emulation.
mount -t 9p -o "$NINEP_OPTS,ro,cache=${LANE_HOSTROOT_CACHE:-loose}" hostroot /host \
  || die "mount of the host root (tag hostroot) failed"
[ -d "/host$LANE_REPO_DIR" ] || die "repository $LANE_REPO_DIR is not visible in the guest"

mount -t proc proc /host/proc || die "mount /host/proc failed"
mount -t sysfs sysfs /host/sys || die "mount /host/sys failed"
mount -t devtmpfs devtmpfs /host/dev || die "mount /host/dev failed"
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts || die "mount /host/dev/pts failed"
mount -t tmpfs -o mode=1777 shm /host/dev/shm || die "mount /host/dev/shm failed"
# The host's /run (sockets, pid files of host services) means nothing in the guest.
mount -t tmpfs -o mode=755 run /host/run || die "mount /host/run failed"
# /var writable, as on any host: the host's /var seen through an overlay whose upper layer is a
# tmpfs, so what is there stays visible and what the tests' engines write (Podman's
# /var/cache/containers, /var/lib/containers) lands in the guest's memory, never on the host.
mkdir -p /var-upper && mount -t tmpfs -o mode=755 var-upper /var-upper && mkdir /var-upper/upper /var-upper/work \
  || die "tmpfs for /var's upper layer failed"
mount -t overlay -o lowerdir=/host/var,upperdir=/var-upper/upper,workdir=/var-upper/work var /host/var \
  || die "overlay on /host/var failed"

# The repository (a CI clone in /tmp/xyz) or node itself may live under /tmp and would vanish
# under the tmpfs: the host lists such paths in LANE_TMP_KEEP (one a line). Park a bind mount of
# each first, then put it back at the same path inside the tmpfs.
keep_index=0
echo "$LANE_TMP_KEEP" | while IFS= read -r kept; do
  [ -n "$kept" ] || continue
  keep_index=$((keep_index + 1))
  mkdir -p "/keep/$keep_index" && mount -o bind "/host$kept" "/keep/$keep_index" || die "bind of $kept failed"
done
mount -t tmpfs -o mode=1777 tmpfs /host/tmp || die "mount /host/tmp failed"
keep_index=0
echo "$LANE_TMP_KEEP" | while IFS= read -r kept; do
  [ -n "$kept" ] || continue
  keep_index=$((keep_index + 1))
  mkdir -p "/host$kept" && mount -o bind "/keep/$keep_index" "/host$kept" || die "re-bind of $kept failed"
done
mkdir -p /host/tmp/capstan-lane-out && mount -o bind /out /host/tmp/capstan-lane-out \
  || die "bind of the writable export into /host/tmp failed"

# The scratch disk: run-lane.js makes a sparse ext4 image and gives it to qemu as the only virtio
# disk (vda). Block I/O tests write there (CAPSTAN_TEST_BLOCK_DIR): tmpfs does no block I/O, a
# disk does, and io.stat charges O_DIRECT requests to the writer's cgroup. noinit_itable: the
# image is sparse (unused inode tables already read as zeros), so ext4's lazy-init thread would
# only add I/O and CPU under emulation.
if [ -n "$LANE_BLOCK_DIR" ]; then
  [ -b /dev/vda ] || die "the scratch disk /dev/vda is missing (qemu -drive if=virtio)"
  mkdir -p "/host$LANE_BLOCK_DIR" || die "mkdir $LANE_BLOCK_DIR failed"
  mount -t ext4 -o noinit_itable /dev/vda "/host$LANE_BLOCK_DIR" || die "mount of the scratch disk at $LANE_BLOCK_DIR failed"
  chmod 1777 "/host$LANE_BLOCK_DIR"
  say "scratch disk vda ($(cat /sys/block/vda/dev)) mounted at $LANE_BLOCK_DIR"
fi

# Pure cgroup v2: one cgroup2 mount, no v1 hierarchy anywhere. nsdelegate and
# memory_recursiveprot are what systemd uses on real hosts.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /host/sys/fs/cgroup \
  || die "mount cgroup2 failed"
CGROOT=/host/sys/fs/cgroup
# Hand every controller the kernel offers to the children, as systemd does on a v2 host.
for controller in $(cat "$CGROOT/cgroup.controllers"); do
  echo "+$controller" > "$CGROOT/cgroup.subtree_control" || die "enabling $controller failed"
done
say "cgroup2 controllers: $(cat "$CGROOT/cgroup.controllers"); enabled: $(cat "$CGROOT/cgroup.subtree_control")"

# The host root becomes the root of the mount namespace, as switch_root makes it on a booted
# system: moved onto the initramfs' "/". A process entering a mount namespace with setns(2) (as
# `capstan-shim exec` does) starts at the namespace's root mount, followed down through what is
# mounted on it; after a plain `chroot /host` that would be the initramfs, not the container's
# root. PID 1 keeps the initramfs as its own root, so its paths (/out, /bin) still work, and the
# host root as its working directory, which `chroot .` enters.
cd /host || die "cd /host failed"
mount --move . / || die "moving the host root onto / failed"

# The tests run in a cgroup of their own, never in the root one, as on any host (systemd keeps
# every process in a slice or scope). Podman, finding itself in the root cgroup of a v2 host,
# moves every process there into a new /init cgroup (MaybeMoveToSubCgroup), which would pull the
# lane's own processes, ava and every later test with it.
mkdir sys/fs/cgroup/capstan-lane && echo $$ > sys/fs/cgroup/capstan-lane/cgroup.procs \
  || die "moving the lane into its own cgroup failed"

# What the tests see: a clean environment, node's own directory first on PATH.
GUEST_PATH="$(dirname "$LANE_NODE_BIN"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GUEST_ENV="HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8 CI=true CAPSTAN_EXPECT_CGROUP2=1 CAPSTAN_LANE_OUT=/tmp/capstan-lane-out"
[ -n "$LANE_BLOCK_DIR" ] && GUEST_ENV="$GUEST_ENV CAPSTAN_TEST_BLOCK_DIR=$LANE_BLOCK_DIR"

# Runs a command inside the host root, in the repository. $GUEST_ENV splits into words on purpose.
in_host() {
  chroot . /usr/bin/env -i "PATH=$GUEST_PATH" $GUEST_ENV \
    /bin/sh -c 'cd "$0" && exec "$@"' "$LANE_REPO_DIR" "$@"
}

if [ "$LANE_MODE" = shell ]; then
  say "shell: you are in the guest's chroot at $LANE_REPO_DIR; exit the shell to power off"
  # cttyhack gives the shell the serial console as controlling terminal, so ^C works.
  setsid cttyhack chroot . /usr/bin/env -i "PATH=$GUEST_PATH" $GUEST_ENV TERM=vt100 \
    /bin/sh -c 'cd "$0" || exit 1; if [ -x /bin/bash ]; then exec /bin/bash -i; else exec /bin/sh -i; fi' "$LANE_REPO_DIR"
  sync
  poweroff -f
fi

say "node-start uptime=$(uptime_s)s"
# ava reports in TAP on stdout (ava.tap, which the host counts); what the tests themselves print
# goes to ava's stderr (ava.stderr). Both also stream to the console as they come.
mkfifo /ava-stderr || die "mkfifo failed"
tee /out/ava.stderr < /ava-stderr >&2 &
stderr_tee=$!
{
  in_host "$LANE_NODE_BIN" node_modules/ava/entrypoints/cli.mjs --tap --serial "--timeout=${LANE_AVA_TIMEOUT:-5m}" "$@" \
    < /dev/null 2> /ava-stderr
  echo $? > /out/ava.rc.tmp
} | tee /out/ava.tap
# A process a test leaked could hold ava's stderr open for ever: give the copy 5 s, not more.
waited=0
while kill -0 "$stderr_tee" 2>/dev/null && [ "$waited" -lt 50 ]; do sleep 0.1; waited=$((waited + 1)); done
[ -f /out/ava.rc.tmp ] && mv /out/ava.rc.tmp /out/ava.rc
say "tests-done rc=$(cat /out/ava.rc 2>/dev/null) uptime=$(uptime_s)s"
sync
poweroff -f
