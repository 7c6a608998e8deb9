/*
 * escape-probe: what a process can do to the host from inside a container. Built static by the
 * test (gcc -static) and run as root (and as uid 65534) in capstan containers and in Docker
 * containers under Docker's default profile (test/integration/escape.test.ts compares them).
 *
 *   escape-probe HOST_PID BLOCK_MAJOR BLOCK_MINOR
 *
 * HOST_PID is a process outside the container; BLOCK_MAJOR:BLOCK_MINOR the host's disk. Each probe
 * prints one JSON line: {"probe":NAME,"allowed":true|false,"errno":"EPERM"}. "allowed" means the
 * kernel let the operation through; a probe that would change the host if allowed (sysrq,
 * /proc/sys, cgroup files, the clock) only opens for writing, or asks for an invalid change,
 * so nothing is changed even where it is allowed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static const char *kMountPoint = "/tmp/escape-probe-mnt";

static void report(const char *probe, int allowed, int err) {
  printf("{\"probe\":\"%s\",\"allowed\":%s,\"errno\":\"%s\"}\n", probe, allowed ? "true" : "false",
         allowed ? "" : (strerrorname_np(err) ? strerrorname_np(err) : "?"));
  fflush(stdout);
}

/* The call went through when it returned >= 0. */
static void result(const char *probe, long rc) { report(probe, rc >= 0, rc >= 0 ? 0 : errno); }

/* The call reached the kernel's own checks when it failed with anything but a refusal (seccomp's
 * EPERM/ENOSYS, a missing capability's EPERM/EACCES). For calls given invalid arguments on purpose. */
static void reached(const char *probe, long rc) {
  int err = errno;
  int refused = rc < 0 && (err == EPERM || err == EACCES || err == ENOSYS);
  report(probe, !refused, err);
}

/* Runs `body` in a child (for probes that change the process: namespaces, personality). */
static void in_child(const char *probe, int (*body)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int rc = body();
    _exit(rc < 0 ? (errno & 0xff) : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
  report(probe, code == 0, code);
}

static int unshare_user(void) { return unshare(CLONE_NEWUSER); }
static int unshare_user_then_mount(void) {
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) return -1;
  return mount("none", kMountPoint, "tmpfs", 0, NULL);
}
static int clone_newuser_flag(void) {
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid < 0 ? -1 : 0;
}
static int clone3_plain(void) {
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid < 0 ? -1 : 0;
}
static int ptrace_traceme(void) { return ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 ? -1 : 0; }
static int personality_no_aslr(void) { return personality(ADDR_NO_RANDOMIZE) < 0 ? -1 : 0; }

/* Whether anything can be read at `path` (a masked file reads as empty, a masked folder lists nothing). */
static void visible(const char *probe, const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) {
    report(probe, 0, errno);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    DIR *dir = opendir(path);
    if (!dir) {
      report(probe, 0, errno);
      return;
    }
    int entries = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
      if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) entries++;
    }
    closedir(dir);
    report(probe, entries > 0, ENOENT);
    return;
  }
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    report(probe, 0, errno);
    return;
  }
  char buffer[64];
  ssize_t n = read(fd, buffer, sizeof(buffer));
  int err = errno;
  close(fd);
  report(probe, n > 0, n == 0 ? ENODATA : err);
}

static void open_for_write(const char *probe, const char *path) {
  int fd = open(path, O_WRONLY);
  report(probe, fd >= 0, errno);
  if (fd >= 0) close(fd);
}

/* Opening a device node the container made itself: mknod is allowed (CAP_MKNOD, as in Docker);
 * opening it must not be. */
static void made_device(const char *probe, const char *path, mode_t type, unsigned major_number, unsigned minor_number) {
  unlink(path);
  if (mknod(path, type | 0600, makedev(major_number, minor_number)) < 0) {
    report(probe, 0, errno);
    return;
  }
  int fd = open(path, O_RDONLY);
  report(probe, fd >= 0, errno);
  if (fd >= 0) close(fd);
  unlink(path);
}

/* The first cgroup.procs under /sys/fs/cgroup (v2 root, or one level down on v1). */
static void cgroup_procs_write(void) {
  const char *root = "/sys/fs/cgroup";
  char path[512];
  snprintf(path, sizeof(path), "%s/cgroup.procs", root);
  if (access(path, F_OK) != 0) {
    DIR *dir = opendir(root);
    struct dirent *entry;
    path[0] = '\0';
    while (dir && (entry = readdir(dir))) {
      if (entry->d_name[0] == '.') continue;
      char candidate[512];
      snprintf(candidate, sizeof(candidate), "%s/%s/cgroup.procs", root, entry->d_name);
      if (access(candidate, F_OK) == 0) {
        snprintf(path, sizeof(path), "%s", candidate);
        break;
      }
    }
    if (dir) closedir(dir);
  }
  if (path[0] == '\0') {
    report("cgroupfs_write", 0, ENOENT);
    return;
  }
  open_for_write("cgroupfs_write", path);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: escape-probe HOST_PID BLOCK_MAJOR BLOCK_MINOR\n");
    return 2;
  }
  /* Some probes mount and ptrace: never on a host by mistake. */
  if (getpid() != 1) {
    fprintf(stderr, "escape-probe: runs only as PID 1 of a container\n");
    return 2;
  }
  pid_t host_pid = (pid_t)atoi(argv[1]);
  unsigned block_major = (unsigned)atoi(argv[2]);
  unsigned block_minor = (unsigned)atoi(argv[3]);
  mkdir(kMountPoint, 0755);

  /* Mounts, in the container's own mount namespace. */
  result("mount_tmpfs", mount("none", kMountPoint, "tmpfs", 0, NULL));
  result("mount_bind", mount("/proc", kMountPoint, NULL, MS_BIND, NULL));
  result("mount_cgroup", mount("cgroup", kMountPoint, "cgroup", 0, "memory"));
  result("mount_cgroup2", mount("cgroup2", kMountPoint, "cgroup2", 0, NULL));
  result("umount_masked", umount2("/proc/kcore", MNT_DETACH));
  result("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
  result("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/proc", 1 /* OPEN_TREE_CLONE */));

  /* Kernel interfaces that must be read-only or hidden. */
  open_for_write("sysrq_trigger_write", "/proc/sysrq-trigger");
  open_for_write("proc_sys_write", "/proc/sys/kernel/core_pattern");
  open_for_write("proc_irq_write", "/proc/irq/default_smp_affinity");
  cgroup_procs_write();
  visible("proc_kcore_visible", "/proc/kcore");
  visible("proc_keys_visible", "/proc/keys");
  visible("proc_timer_list_visible", "/proc/timer_list");
  visible("proc_sched_debug_visible", "/proc/sched_debug");
  visible("proc_interrupts_visible", "/proc/interrupts");
  visible("proc_acpi_visible", "/proc/acpi");
  visible("proc_scsi_visible", "/proc/scsi");
  visible("sys_firmware_visible", "/sys/firmware");
  visible("sys_powercap_visible", "/sys/devices/virtual/powercap");

  /* Raw devices. */
  made_device("block_device_open", "/tmp/escape-probe-disk", S_IFBLK, block_major, block_minor);
  made_device("dev_mem_open", "/tmp/escape-probe-mem", S_IFCHR, 1, 1);
  made_device("dev_disk_in_dev_open", "/dev/escape-probe-disk", S_IFBLK, block_major, block_minor);

  /* Host processes (invisible from the container's PID namespace). */
  result("kill_host_pid", kill(host_pid, 0));
  long attached = ptrace(PTRACE_ATTACH, host_pid, NULL, NULL);
  result("ptrace_host_pid", attached);
  if (attached >= 0) ptrace(PTRACE_DETACH, host_pid, NULL, NULL);
  char byte;
  struct iovec local = {.iov_base = &byte, .iov_len = 1}, remote = {.iov_base = (void *)0x400000, .iov_len = 1};
  result("process_vm_readv_host_pid", syscall(SYS_process_vm_readv, host_pid, &local, 1, &remote, 1, 0));

  /* Kernel keyrings (not namespaced). */
  result("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
  result("add_key", syscall(SYS_add_key, "user", "escape-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
  reached("request_key", syscall(SYS_request_key, "user", "escape-probe-absent", NULL, 0));

  /* bpf, perf, modules, and the like. */
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  result("bpf_map_create", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
  struct perf_event_attr perf;
  memset(&perf, 0, sizeof(perf));
  perf.type = PERF_TYPE_SOFTWARE;
  perf.size = sizeof(perf);
  perf.config = PERF_COUNT_SW_TASK_CLOCK;
  perf.exclude_kernel = 1;
  perf.exclude_hv = 1;
  result("perf_event_open", syscall(SYS_perf_event_open, &perf, 0, -1, -1, 0));
  reached("init_module", syscall(SYS_init_module, NULL, 0, ""));
  reached("delete_module", syscall(SYS_delete_module, "escape_probe_absent", O_NONBLOCK));
  reached("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL));
  reached("iopl", syscall(SYS_iopl, 3));
  reached("swapon", swapon("/nonexistent-escape-probe", 0));
  reached("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, 0x12345678 /* no such command */, NULL));
  reached("clock_settime", syscall(SYS_clock_settime, CLOCK_MONOTONIC, &(struct timespec){0, 0}));
  result("syslog", klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
  reached("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
  result("userfaultfd", syscall(SYS_userfaultfd, 0));
  reached("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
  int uts = open("/proc/self/ns/uts", O_RDONLY);
  result("setns", syscall(SYS_setns, uts, CLONE_NEWUTS));
  if (uts >= 0) close(uts);
  result("socket_af_alg", socket(AF_ALG, SOCK_SEQPACKET, 0));
  result("socket_af_vsock", socket(AF_VSOCK, SOCK_STREAM, 0));

  /* Namespaces and process flags (each in a child). */
  in_child("unshare_user", unshare_user);
  in_child("unshare_user_then_mount", unshare_user_then_mount);
  in_child("clone_newuser", clone_newuser_flag);
  in_child("clone3", clone3_plain);
  in_child("ptrace_traceme", ptrace_traceme);
  in_child("personality_no_aslr", personality_no_aslr);
  return 0;
}
