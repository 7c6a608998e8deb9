/*
 * `capstan-shim overlay-markers <layer-root>`: writes overlayfs' own markers into an extracted
 * image layer, which Node cannot (no mknod, no xattrs). Lines on stdin, one per marker:
 *   w <relative path>   a whiteout: character device 0/0 at that path (hides the lower file)
 *   o <relative path>   an opaque directory: xattr trusted.overlay.opaque="y" on that directory
 * The image store decides what to mark and has already checked the paths; this resolves them with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS) anyway, so no line can reach outside the layer.
 * Prints nothing on success; on the first failure, one JSON line {"code","errno","path","message"}
 * on stdout and exit status 1.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static int report(const char *syscall, int err, const char *path) {
  buf_t b = {0};
  const char *code = errno_name(err);
  buf_puts(&b, "{\"code\":");
  buf_json_string(&b, code, strlen(code));
  buf_printf(&b, ",\"errno\":%d,\"syscall\":\"%s\",\"path\":", err, syscall);
  buf_json_string(&b, path, strlen(path));
  char message[512];
  snprintf(message, sizeof(message), "%s %s: %s", syscall, path, strerror(err));
  buf_puts(&b, ",\"message\":");
  buf_json_string(&b, message, strlen(message));
  buf_puts(&b, "}\n");
  write_all(STDOUT_FILENO, b.data, b.len);
  buf_free(&b);
  return 1;
}

static int open_beneath(int root, const char *path, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
}

int cmd_overlay_markers(const char *layer_root) {
  int root = open(layer_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return report("open", errno, layer_root);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    if (len == 0) continue;
    if (len < 3 || line[1] != ' ' || (line[0] != 'w' && line[0] != 'o')) return report("parse", EINVAL, line);
    const char *rel = line + 2;
    if (line[0] == 'o') {
      int dir = open_beneath(root, rel, O_RDONLY | O_DIRECTORY);
      if (dir < 0) return report("openat2", errno, rel);
      if (fsetxattr(dir, "trusted.overlay.opaque", "y", 1, 0) < 0) {
        int err = errno;
        close(dir);
        return report("fsetxattr", err, rel);
      }
      close(dir);
      continue;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", rel);
    char *slash = strrchr(parent, '/');
    const char *name = rel;
    int dir;
    if (slash) {
      *slash = '\0';
      name = slash + 1;
      dir = open_beneath(root, parent[0] ? parent : ".", O_RDONLY | O_DIRECTORY);
    } else {
      dir = open_beneath(root, ".", O_RDONLY | O_DIRECTORY);
    }
    if (dir < 0) return report("openat2", errno, rel);
    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
      close(dir);
      return report("mknodat", EINVAL, rel);
    }
    if (mknodat(dir, name, S_IFCHR | 0, makedev(0, 0)) < 0) {
      int err = errno;
      close(dir);
      return report("mknodat", err, rel);
    }
    close(dir);
  }
  free(line);
  close(root);
  return 0;
}

/*
 * `capstan-shim overlay-opaques <layer-root>`: the reading side of the markers above, for diff and
 * commit of a container's upper layer (Node cannot read xattrs either). Directories relative to
 * the layer on stdin, one per line; prints back, one per line, those that carry
 * trusted.overlay.opaque="y". Same resolution and failure report as overlay-markers.
 */
int cmd_overlay_opaques(const char *layer_root) {
  int root = open(layer_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return report("open", errno, layer_root);
  buf_t out = {0};
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    if (len == 0) continue;
    int dir = open_beneath(root, line, O_RDONLY | O_DIRECTORY);
    if (dir < 0) {
      /* Gone since the listing (a running container): not opaque, nothing to report. */
      if (errno == ENOENT || errno == ENOTDIR) continue;
      int err = errno;
      buf_free(&out);
      return report("openat2", err, line);
    }
    char value[2];
    ssize_t got = fgetxattr(dir, "trusted.overlay.opaque", value, sizeof(value));
    int err = errno;
    close(dir);
    if (got < 0 && err != ENODATA && err != ENOTSUP) {
      buf_free(&out);
      return report("fgetxattr", err, line);
    }
    if (got == 1 && value[0] == 'y') {
      buf_puts(&out, line);
      buf_puts(&out, "\n");
    }
  }
  free(line);
  close(root);
  if (out.len > 0) write_all(STDOUT_FILENO, out.data, out.len);
  buf_free(&out);
  return 0;
}
