/*
 * The container's root filesystem, built inside its new mount namespace (so nothing here is ever
 * visible on the host, and everything disappears with the namespace):
 *   - every mount private, so nothing propagates back to the host;
 *   - the root: the host's / bound read-only (recursively) with a private tmpfs on /tmp, or an
 *     overlayfs of the image's layers with the container's own upper and work directories;
 *   - a new /proc for the new PID namespace, a minimal /dev on a nodev tmpfs (device nodes bound
 *     from the host's, a new devpts instance, /dev/shm), /sys read-only;
 *   - pivot_root into it and detach the old root;
 *   - masked paths (/dev/null over files, an empty read-only tmpfs over directories) and
 *     read-only paths (bind, then remount read-only).
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* struct mount_attr, spelled out: glibc's headers only gained it recently. */
typedef struct {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
} shim_mount_attr_t;

static int do_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data,
                    failure_t *f) {
  if (mount(source, target, fstype, flags, data) == 0) return 0;
  return fail(f, "mount", "mount", errno, target, "mount %s on %s (type %s, options \"%s\")", source ? source : "none", target,
              fstype ? fstype : "bind", data ? data : "");
}

static int join(char *out, size_t size, const char *a, const char *b, failure_t *f) {
  if (snprintf(out, size, "%s%s", a, b) >= (int)size) return fail(f, "mount", "", ENAMETOOLONG, a, "path %s%s is too long", a, b);
  return 0;
}

static int ensure_dir(const char *path, failure_t *f) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    return fail(f, "mount", "mkdir", ENOTDIR, path, "mount point %s", path);
  }
  if (mkdir_all(path, 0755) < 0) return fail(f, "mount", "mkdir", errno, path, "mkdir %s", path);
  return 0;
}

static int ensure_file(const char *path, failure_t *f) {
  struct stat st;
  if (stat(path, &st) == 0) return 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return fail(f, "mount", "open", errno, path, "create mount point %s", path);
  close(fd);
  return 0;
}

/* Read-only everywhere below `target`, submounts included. */
static int make_readonly_recursive(const char *target, failure_t *f) {
  shim_mount_attr_t attr = {.attr_set = MOUNT_ATTR_RDONLY};
  if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof(attr)) == 0) return 0;
  if (errno != ENOSYS) return fail(f, "mount", "mount_setattr", errno, target, "make %s read-only", target);
  /* Kernels before 5.12: only the top mount can be made read-only. */
  return do_mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL, f);
}

static int mount_root(const shim_config_t *cfg, failure_t *f) {
  const char *root = cfg->mountpoint;
  if (ensure_dir(root, f) < 0) return -1;
  if (cfg->rootfs_kind == ROOTFS_HOST) {
    if (do_mount("/", root, NULL, MS_BIND | MS_REC, NULL, f) < 0) return -1;
    if (make_readonly_recursive(root, f) < 0) return -1;
    char tmp[PATH_MAX];
    if (join(tmp, sizeof(tmp), root, "/tmp", f) < 0) return -1;
    return do_mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", f);
  }
  /* overlayfs lists lowerdir from the top down; the config lists layers from the bottom up. */
  buf_t options = {0};
  buf_puts(&options, "lowerdir=");
  for (size_t i = cfg->lower_dirs.count; i-- > 0;) {
    const char *layer = cfg->lower_dirs.items[i];
    if (strpbrk(layer, ":,\\")) {
      buf_free(&options);
      return fail(f, "mount", "mount", EINVAL, layer, "layer path %s contains ':', ',' or '\\'", layer);
    }
    buf_puts(&options, layer);
    if (i > 0) buf_puts(&options, ":");
  }
  buf_printf(&options, ",upperdir=%s,workdir=%s", cfg->upper_dir, cfg->work_dir);
  if (ensure_dir(cfg->upper_dir, f) < 0 || ensure_dir(cfg->work_dir, f) < 0) {
    buf_free(&options);
    return -1;
  }
  /* nodev: a device node the container makes (it keeps CAP_MKNOD, as in Docker) cannot be opened.
   * Docker stops that with its device cgroup; capstan has none, and every writable mount in the
   * container is nodev instead (the root, /dev, /dev/shm, /tmp). */
  int rc = do_mount("overlay", root, "overlay", MS_NODEV, options.data, f);
  buf_free(&options);
  return rc;
}

static int setup_dev(const char *root, failure_t *f) {
  char dev[PATH_MAX];
  if (join(dev, sizeof(dev), root, "/dev", f) < 0 || ensure_dir(dev, f) < 0) return -1;
  if (do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k", f) < 0) return -1;

  /* Bind the host's nodes rather than mknod: it works wherever the host's nodes work, and each bind
   * keeps the flags of the host's /dev, so the nodes open although the tmpfs under them is nodev. */
  static const char *const kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof(kDevices) / sizeof(kDevices[0]); i++) {
    char host[64];
    char target[PATH_MAX];
    snprintf(host, sizeof(host), "/dev/%s", kDevices[i]);
    if (snprintf(target, sizeof(target), "%s/%s", dev, kDevices[i]) >= (int)sizeof(target)) {
      return fail(f, "mount", "", ENAMETOOLONG, dev, "path too long");
    }
    if (ensure_file(target, f) < 0) return -1;
    if (do_mount(host, target, NULL, MS_BIND, NULL, f) < 0) return -1;
  }

  char pts[PATH_MAX];
  if (join(pts, sizeof(pts), dev, "/pts", f) < 0 || ensure_dir(pts, f) < 0) return -1;
  if (do_mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", f) < 0) return -1;
  char shm[PATH_MAX];
  if (join(shm, sizeof(shm), dev, "/shm", f) < 0 || ensure_dir(shm, f) < 0) return -1;
  if (do_mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", f) < 0) return -1;

  static const char *const kLinks[][2] = {
      {"pts/ptmx", "ptmx"},        {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
      {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
  };
  for (size_t i = 0; i < sizeof(kLinks) / sizeof(kLinks[0]); i++) {
    char link[PATH_MAX];
    if (snprintf(link, sizeof(link), "%s/%s", dev, kLinks[i][1]) >= (int)sizeof(link)) {
      return fail(f, "mount", "", ENAMETOOLONG, dev, "path too long");
    }
    if (symlink(kLinks[i][0], link) < 0) return fail(f, "mount", "symlink", errno, link, "symlink %s -> %s", link, kLinks[i][0]);
  }
  return 0;
}

static int setup_sys(const char *root, failure_t *f) {
  char sys[PATH_MAX];
  if (join(sys, sizeof(sys), root, "/sys", f) < 0 || ensure_dir(sys, f) < 0) return -1;
  unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (mount("sysfs", sys, "sysfs", flags, NULL) == 0) return 0;
  /* Some sandboxes refuse a new sysfs: fall back to the host's, bound read-only. */
  int err = errno;
  if (err != EPERM && err != EBUSY) return fail(f, "mount", "mount", err, sys, "mount sysfs on %s", sys);
  if (do_mount("/sys", sys, NULL, MS_BIND | MS_REC, NULL, f) < 0) return -1;
  return make_readonly_recursive(sys, f);
}

static int do_pivot_root(const char *root, failure_t *f) {
  if (chdir(root) < 0) return fail(f, "pivot_root", "chdir", errno, root, "chdir %s", root);
  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then removes
   * it, with no put_old directory needed inside the container's root. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) return fail(f, "pivot_root", "pivot_root", errno, root, "pivot_root to %s", root);
  if (umount2(".", MNT_DETACH) < 0) return fail(f, "pivot_root", "umount2", errno, "/", "detach the old root");
  if (chdir("/") < 0) return fail(f, "pivot_root", "chdir", errno, "/", "chdir /");
  return 0;
}

static int mask_paths(const strv_t *paths, failure_t *f) {
  for (size_t i = 0; i < paths->count; i++) {
    const char *path = paths->items[i];
    struct stat st;
    if (stat(path, &st) < 0) {
      if (errno == ENOENT) continue; /* nothing to hide */
      return fail(f, "mask", "stat", errno, path, "stat %s", path);
    }
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0) {
        return fail(f, "mask", "mount", errno, path, "mask %s with an empty tmpfs", path);
      }
    } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
      return fail(f, "mask", "mount", errno, path, "mask %s with /dev/null", path);
    }
  }
  return 0;
}

static unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  unsigned long flags = 0;
  if (statvfs(path, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  }
  return flags;
}

static int readonly_paths(const strv_t *paths, failure_t *f) {
  for (size_t i = 0; i < paths->count; i++) {
    const char *path = paths->items[i];
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
      if (errno == ENOENT) continue;
      return fail(f, "readonly", "mount", errno, path, "bind %s", path);
    }
    /* A bind remount replaces the per-mount flags: keep nosuid/nodev/noexec where they were. */
    if (mount(path, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(path), NULL) < 0) {
      return fail(f, "readonly", "mount", errno, path, "remount %s read-only", path);
    }
  }
  return 0;
}

int bring_up_loopback(failure_t *f) {
  /* A new network namespace starts with lo down; published ports connect to its 127.0.0.1. */
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return fail(f, "network", "socket", errno, "", "socket(AF_INET)");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
    int err = errno;
    close(sock);
    return fail(f, "network", "ioctl", err, "lo", "ioctl(SIOCGIFFLAGS, lo)");
  }
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) {
    int err = errno;
    close(sock);
    return fail(f, "network", "ioctl", err, "lo", "ioctl(SIOCSIFFLAGS, lo up)");
  }
  close(sock);
  return 0;
}

int setup_rootfs(const shim_config_t *cfg, failure_t *f) {
  if (do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, f) < 0) return -1;
  if (mount_root(cfg, f) < 0) return -1;
  const char *root = cfg->mountpoint;
  char proc[PATH_MAX];
  if (join(proc, sizeof(proc), root, "/proc", f) < 0 || ensure_dir(proc, f) < 0) return -1;
  if (do_mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, f) < 0) return -1;
  if (setup_dev(root, f) < 0) return -1;
  if (setup_sys(root, f) < 0) return -1;
  if (setup_user_mounts(cfg, f) < 0) return -1;
  if (do_pivot_root(root, f) < 0) return -1;
  if (mask_paths(&cfg->masked_paths, f) < 0) return -1;
  if (readonly_paths(&cfg->readonly_paths, f) < 0) return -1;
  return 0;
}
