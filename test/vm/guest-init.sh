#!/bin/busybox sh
# PID 1 of the cgroup v2 lane VM (see run-lane.js for the whole picture).
#
# Turns a bare Debian kernel into a pure cgroup v2 host that sees the host machine's files:
#   /       initramfs: busybox + the virtio/9p modules + this script
#   /host   the host's / over virtio-9p, read-only, with the guest's own proc, sysfs, dev, a tmpfs
#           /tmp and cgroup2 (and no cgroup v1 hierarchy) at /host/sys/fs/cgroup
#   /out    the lane's writable export: job.env (what to run) in, ava.log and ava.rc out
# then runs ava inside `chroot /host`, from the repository's own path, and powers off.
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

# msize: the default 8 KiB message makes every node_modules read a dozen round trips.
NINEP_OPTS="trans=virtio,version=9p2000.L,msize=512000"

mount -t 9p -o "$NINEP_OPTS" laneout /out || die "mount of the writable export (tag laneout) failed"
[ -r /out/job.env ] || die "/out/job.env is missing"
# Sets LANE_REPO_DIR, LANE_NODE_BIN, LANE_MODE, LANE_AVA_TIMEOUT, LANE_HOSTROOT_CACHE,
# LANE_GUEST_TIMEOUT_S, LANE_TMP_KEEP and, with `set --`, the test files (relative to the repo).
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

# What the tests see: a clean environment, node's own directory first on PATH.
GUEST_PATH="$(dirname "$LANE_NODE_BIN"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GUEST_ENV="HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8 CI=true CAPSTAN_EXPECT_CGROUP2=1 CAPSTAN_LANE_OUT=/tmp/capstan-lane-out"

# Runs a command inside the host root, in the repository. $GUEST_ENV splits into words on purpose.
in_host() {
  chroot /host /usr/bin/env -i "PATH=$GUEST_PATH" $GUEST_ENV \
    /bin/sh -c 'cd "$0" && exec "$@"' "$LANE_REPO_DIR" "$@"
}

if [ "$LANE_MODE" = shell ]; then
  say "shell: you are in the guest's chroot at $LANE_REPO_DIR; exit the shell to power off"
  # cttyhack gives the shell the serial console as controlling terminal, so ^C works.
  setsid cttyhack chroot /host /usr/bin/env -i "PATH=$GUEST_PATH" $GUEST_ENV TERM=vt100 \
    /bin/sh -c 'cd "$0" || exit 1; if [ -x /bin/bash ]; then exec /bin/bash -i; else exec /bin/sh -i; fi' "$LANE_REPO_DIR"
  sync
  poweroff -f
fi

say "node-start uptime=$(uptime_s)s"
{
  in_host "$LANE_NODE_BIN" node_modules/ava/entrypoints/cli.mjs --serial "--timeout=${LANE_AVA_TIMEOUT:-5m}" "$@" < /dev/null
  echo $? > /out/ava.rc.tmp
} 2>&1 | tee /out/ava.log
[ -f /out/ava.rc.tmp ] && mv /out/ava.rc.tmp /out/ava.rc
say "tests-done rc=$(cat /out/ava.rc 2>/dev/null) uptime=$(uptime_s)s"
sync
poweroff -f
