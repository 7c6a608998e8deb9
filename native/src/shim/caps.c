/*
 * User switch and capability drop, in the order the kernel's rules require:
 *   1. drop every capability outside the kept set from the bounding set (needs CAP_SETPCAP,
 *      which we still hold), so no later exec can regain them;
 *   2. with PR_SET_KEEPCAPS, setgroups/setgid/setuid (needs CAP_SETGID/CAP_SETUID, still held;
 *      KEEPCAPS stops the uid change from clearing the permitted set before step 3);
 *   3. capset: effective = permitted = kept set, inheritable empty (as Docker does since 23.0);
 *   4. clear the ambient set.
 * On exec a root process gets its effective set from the bounding set; a non-root one ends with
 * empty effective and permitted sets (no file capabilities), which is also Docker's behaviour.
 * Raw syscalls: no libcap.
 */
#include "shim.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const kCapabilityNames[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",       "CAP_FSETID",
    "CAP_KILL",            "CAP_SETGID",       "CAP_SETUID",          "CAP_SETPCAP",      "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",     "CAP_NET_RAW",      "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",       "CAP_SYS_MODULE",   "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",   "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",    "CAP_SYS_BOOT",        "CAP_SYS_NICE",     "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",         "CAP_LEASE",        "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",      "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",      "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",     "CAP_PERFMON",      "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

enum { kKnownCapabilities = sizeof(kCapabilityNames) / sizeof(kCapabilityNames[0]) };

int capability_number(const char *name) {
  for (int i = 0; i < kKnownCapabilities; i++) {
    if (strcmp(kCapabilityNames[i], name) == 0) return i;
  }
  return -1;
}

/* The highest capability this kernel knows; newer kernels may know more than our table. */
static int last_capability(void) {
  failure_t ignored;
  char *text = read_file("/proc/sys/kernel/cap_last_cap", 64, NULL, &ignored, "capabilities");
  int last = kKnownCapabilities - 1;
  if (text) {
    int v = atoi(text);
    if (v > 0 && v < 64) last = v;
    free(text);
  }
  return last;
}

int apply_user_and_capabilities(const user_t *user, uint64_t keep, failure_t *f) {
  int last = last_capability();
  for (int cap = 0; cap <= last; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
      return fail(f, "capabilities", "prctl", errno, "", "prctl(PR_CAPBSET_DROP, %d)", cap);
    }
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return fail(f, "capabilities", "prctl", errno, "", "prctl(PR_SET_KEEPCAPS)");

  /* Always set the groups: a root shim has root's supplementary groups, which must not leak. */
  if (setgroups(user->additional_count, user->additional_gids) < 0) {
    return fail(f, "user", "setgroups", errno, "", "setgroups(%zu groups)", user->additional_count);
  }
  if (setresgid(user->gid, user->gid, user->gid) < 0) return fail(f, "user", "setresgid", errno, "", "setresgid(%u)", user->gid);
  if (setresuid(user->uid, user->uid, user->uid) < 0) return fail(f, "user", "setresuid", errno, "", "setresuid(%u)", user->uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return fail(f, "capabilities", "prctl", errno, "", "prctl(PR_SET_KEEPCAPS, 0)");

  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof(data));
  data[0].effective = data[0].permitted = (uint32_t)(keep & 0xffffffffu);
  data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
  if (syscall(SYS_capset, &header, data) < 0) return fail(f, "capabilities", "capset", errno, "", "capset");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    return fail(f, "capabilities", "prctl", errno, "", "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return fail(f, "capabilities", "prctl", errno, "", "prctl(PR_SET_NO_NEW_PRIVS)");
  return 0;
}
