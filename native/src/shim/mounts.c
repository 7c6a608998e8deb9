/*
 * The container's own mounts (ShimConfig.mounts: binds, volumes, tmpfs), made in its mount
 * namespace after the root, /proc, /dev and /sys and before pivot_root.
 *
 * A target is resolved inside the root filesystem, never through it: openat2(RESOLVE_IN_ROOT)
 * from a descriptor of the root treats every symlink (and "..") as if the root were "/", so an
 * image whose /data is a symlink to /etc gets the volume on its own /etc, not the host's. Missing
 * components are created one at a time below the descriptor of their (already resolved) parent,
 * and the mount goes on /proc/self/fd/N of the resolved target, so no path is resolved twice.
 *
 * Every mount is private (the namespace's mounts were made private first, and each new one is
 * again). Binds are nodev: the container keeps CAP_MKNOD and capstan has no device cgroup, so a
 * device node made in a writable bind must not open (the same rule as the root and /dev).
 */
#include "shim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

typedef struct {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
} shim_open_how_t;

typedef struct {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
} shim_mount_attr2_t;

/* `relative` (no leading "/") opened below `root_fd` as if root_fd were "/". */
static int open_in_root(int root_fd, const char *relative, int flags) {
  shim_open_how_t how = {.flags = (uint64_t)(flags | O_CLOEXEC), .mode = 0, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  if (relative[0] == '\0') relative = ".";
  return (int)syscall(SYS_openat2, root_fd, relative, &how, sizeof(how));
}

/*
 * An O_PATH descriptor of `destination` inside the root, creating what is missing (directories,
 * and the last component as a file when `as_file`). The error names the container's path.
 */
static int resolve_target(int root_fd, const char *destination, bool as_file, failure_t *f) {
  const char *relative = destination + strspn(destination, "/");
  int fd = open_in_root(root_fd, relative, O_PATH);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return fail(f, "mount", "openat2", errno, destination, "resolve mount target %s inside the root", destination);

  char prefix[PATH_MAX];
  size_t length = strlen(relative);
  if (length >= sizeof(prefix)) return fail(f, "mount", "", ENAMETOOLONG, destination, "mount target %s is too long", destination);
  int parent = open_in_root(root_fd, "", O_PATH | O_DIRECTORY);
  if (parent < 0) return fail(f, "mount", "openat2", errno, "/", "open the container's root");
  size_t start = 0;
  while (start < length) {
    size_t end = start;
    while (end < length && relative[end] != '/') end++;
    bool last = end == length || relative[end + strspn(relative + end, "/")] == '\0';
    char name[NAME_MAX + 1];
    if (end - start > NAME_MAX) {
      close(parent);
      return fail(f, "mount", "", ENAMETOOLONG, destination, "a component of %s is too long", destination);
    }
    memcpy(name, relative + start, end - start);
    name[end - start] = '\0';
    memcpy(prefix, relative, end);
    prefix[end] = '\0';
    int next = open_in_root(root_fd, prefix, O_PATH);
    if (next < 0 && errno == ENOENT) {
      /* Created below the parent's descriptor: a symlink planted meanwhile makes this EEXIST, and
       * the re-open below resolves it inside the root again. */
      int rc;
      if (last && as_file) {
        rc = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (rc >= 0) close(rc);
      } else {
        rc = mkdirat(parent, name, 0755);
      }
      if (rc < 0 && errno != EEXIST) {
        int err = errno;
        close(parent);
        return fail(f, "mount", last && as_file ? "openat" : "mkdirat", err, destination, "create mount target %s", destination);
      }
      next = open_in_root(root_fd, prefix, O_PATH);
    }
    if (next < 0) {
      int err = errno;
      close(parent);
      return fail(f, "mount", "openat2", err, destination, "resolve mount target %s inside the root (at %s)", destination, prefix);
    }
    close(parent);
    parent = next;
    start = end + strspn(relative + end, "/");
  }
  return parent;
}

static int fd_path(char *out, size_t size, int fd) {
  return snprintf(out, size, "/proc/self/fd/%d", fd) < (int)size ? 0 : -1;
}

static bool directory_is_empty(int dir_fd) {
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  DIR *dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    return false;
  }
  bool empty = true;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(dir);
  return empty;
}

static int copy_file(int from_dir, int to_dir, const char *name, const struct stat *st, failure_t *f) {
  int in = openat(from_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return fail(f, "copy-up", "openat", errno, name, "open %s of the image", name);
  int out = openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 07777);
  if (out < 0) {
    int err = errno;
    close(in);
    return fail(f, "copy-up", "openat", err, name, "create %s in the volume", name);
  }
  char buffer[65536];
  ssize_t n;
  int rc = 0;
  while ((n = read(in, buffer, sizeof(buffer))) > 0) {
    if (write_all(out, buffer, (size_t)n) < 0) {
      rc = fail(f, "copy-up", "write", errno, name, "write %s in the volume", name);
      break;
    }
  }
  if (n < 0 && rc == 0) rc = fail(f, "copy-up", "read", errno, name, "read %s of the image", name);
  if (rc == 0 && (fchown(out, st->st_uid, st->st_gid) < 0 || fchmod(out, st->st_mode & 07777) < 0)) {
    rc = fail(f, "copy-up", "fchown", errno, name, "set the owner and mode of %s", name);
  }
  close(in);
  close(out);
  return rc;
}

/* Copies the tree below `from_dir` into `to_dir`: directories, regular files, symlinks (never
 * followed), with owners and modes; other kinds (devices, sockets) are left out. */
static int copy_tree(int from_dir, int to_dir, int depth, failure_t *f) {
  if (depth > 128) return fail(f, "copy-up", "", ELOOP, "", "the image's directory tree is too deep to copy");
  int fd = openat(from_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(f, "copy-up", "openat", errno, "", "open a directory of the image");
  DIR *dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    return fail(f, "copy-up", "fdopendir", errno, "", "read a directory of the image");
  }
  int rc = 0;
  struct dirent *entry;
  while (rc == 0 && (entry = readdir(dir)) != NULL) {
    const char *name = entry->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
    struct stat st;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      rc = fail(f, "copy-up", "fstatat", errno, name, "stat %s of the image", name);
    } else if (S_ISDIR(st.st_mode)) {
      if (mkdirat(to_dir, name, st.st_mode & 07777) < 0) {
        rc = fail(f, "copy-up", "mkdirat", errno, name, "create %s in the volume", name);
        break;
      }
      int sub_from = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int sub_to = openat(to_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub_from < 0 || sub_to < 0) rc = fail(f, "copy-up", "openat", errno, name, "open %s", name);
      else rc = copy_tree(sub_from, sub_to, depth + 1, f);
      if (rc == 0 && (fchown(sub_to, st.st_uid, st.st_gid) < 0 || fchmod(sub_to, st.st_mode & 07777) < 0)) {
        rc = fail(f, "copy-up", "fchown", errno, name, "set the owner and mode of %s", name);
      }
      if (sub_from >= 0) close(sub_from);
      if (sub_to >= 0) close(sub_to);
    } else if (S_ISREG(st.st_mode)) {
      rc = copy_file(fd, to_dir, name, &st, f);
    } else if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlinkat(fd, name, target, sizeof(target) - 1);
      if (n < 0) {
        rc = fail(f, "copy-up", "readlinkat", errno, name, "read the symlink %s", name);
        break;
      }
      target[n] = '\0';
      if (symlinkat(target, to_dir, name) < 0) rc = fail(f, "copy-up", "symlinkat", errno, name, "create the symlink %s", name);
      else if (fchownat(to_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = fail(f, "copy-up", "fchownat", errno, name, "set the owner of the symlink %s", name);
      }
    }
  }
  closedir(dir);
  return rc;
}

/* docker's copy-up: a volume still empty gets what the image has at the mount point. */
static int copy_up(int target_fd, const char *volume, failure_t *f) {
  struct stat target_st;
  if (fstat(target_fd, &target_st) < 0 || !S_ISDIR(target_st.st_mode)) return 0;
  int volume_fd = open(volume, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (volume_fd < 0) return fail(f, "copy-up", "open", errno, volume, "open the volume %s", volume);
  int rc = 0;
  if (directory_is_empty(volume_fd) && !directory_is_empty(target_fd)) {
    rc = copy_tree(target_fd, volume_fd, 0, f);
    if (rc == 0 && (fchown(volume_fd, target_st.st_uid, target_st.st_gid) < 0 || fchmod(volume_fd, target_st.st_mode & 07777) < 0)) {
      rc = fail(f, "copy-up", "fchown", errno, volume, "set the owner and mode of the volume %s", volume);
    }
  }
  close(volume_fd);
  return rc;
}

/* nodev (and read-only) on the bind just made at `target_fd`'s path, submounts included. */
static int restrict_bind(int root_fd, const char *destination, bool readonly, failure_t *f) {
  /* Re-resolved: the descriptor taken before the mount names the directory under it. */
  int fd = open_in_root(root_fd, destination + strspn(destination, "/"), O_PATH);
  if (fd < 0) return fail(f, "mount", "openat2", errno, destination, "resolve %s after mounting", destination);
  shim_mount_attr2_t attr = {.attr_set = MOUNT_ATTR_NODEV | (readonly ? MOUNT_ATTR_RDONLY : 0), .propagation = MS_PRIVATE};
  int rc = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr));
  int err = errno;
  if (rc < 0 && err == ENOSYS) {
    /* Kernels before 5.12: a bind remount of the top mount, keeping the flags it has. */
    char fd_link[64];
    struct statvfs sv;
    fd_path(fd_link, sizeof(fd_link), fd);
    unsigned long keep = 0;
    if (statvfs(fd_link, &sv) == 0) keep = (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
    rc = mount(NULL, fd_link, NULL, MS_BIND | MS_REMOUNT | MS_NODEV | keep | (readonly ? MS_RDONLY : 0), NULL);
    err = errno;
  }
  close(fd);
  if (rc < 0) return fail(f, "mount", "mount_setattr", err, destination, "make %s nodev%s and private", destination, readonly ? ", read-only" : "");
  return 0;
}

static int mount_one(int root_fd, const user_mount_t *m, failure_t *f) {
  bool as_file = false;
  if (m->kind == MOUNT_BIND) {
    struct stat st;
    if (stat(m->source, &st) < 0) return fail(f, "mount", "stat", errno, m->source, "bind source path %s", m->source);
    as_file = !S_ISDIR(st.st_mode);
  }
  int target = resolve_target(root_fd, m->destination, as_file, f);
  if (target < 0) return -1;
  char target_path[64];
  fd_path(target_path, sizeof(target_path), target);
  int rc = 0;
  if (m->kind == MOUNT_TMPFS) {
    unsigned long flags = (m->nosuid ? MS_NOSUID : 0) | (m->nodev ? MS_NODEV : 0) | (m->noexec ? MS_NOEXEC : 0) | (m->readonly ? MS_RDONLY : 0);
    if (mount("tmpfs", target_path, "tmpfs", flags, m->data ? m->data : "") < 0) {
      rc = fail(f, "mount", "mount", errno, m->destination, "mount a tmpfs on %s (options \"%s\")", m->destination, m->data ? m->data : "");
    }
  } else {
    if (m->copy_up) rc = copy_up(target, m->source, f);
    if (rc == 0 && mount(m->source, target_path, NULL, MS_BIND | MS_REC, NULL) < 0) {
      rc = fail(f, "mount", "mount", errno, m->destination, "bind %s on %s", m->source, m->destination);
    }
    if (rc == 0) rc = restrict_bind(root_fd, m->destination, m->readonly, f);
  }
  close(target);
  return rc;
}

int setup_user_mounts(const shim_config_t *cfg, failure_t *f) {
  if (cfg->mount_count == 0) return 0;
  int root_fd = open(cfg->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return fail(f, "mount", "open", errno, cfg->mountpoint, "open the container's root %s", cfg->mountpoint);
  int rc = 0;
  for (size_t i = 0; i < cfg->mount_count && rc == 0; i++) rc = mount_one(root_fd, &cfg->mounts[i], f);
  close(root_fd);
  return rc;
}
