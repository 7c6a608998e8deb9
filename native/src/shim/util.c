/* Failure records, byte buffers, JSON string output, file helpers and the status pipe. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fail(failure_t *f, const char *stage, const char *syscall, int err, const char *path, const char *fmt, ...) {
  memset(f, 0, sizeof(*f));
  snprintf(f->stage, sizeof(f->stage), "%s", stage);
  snprintf(f->syscall, sizeof(f->syscall), "%s", syscall ? syscall : "");
  snprintf(f->path, sizeof(f->path), "%s", path ? path : "");
  f->err = err;
  char what[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  if (err != 0) {
    snprintf(f->message, sizeof(f->message), "%s: %s", what, strerror(err));
  } else {
    snprintf(f->message, sizeof(f->message), "%s", what);
  }
  return -1;
}

const char *errno_name(int err) {
  const char *name = err > 0 ? strerrorname_np(err) : NULL;
  return name ? name : "EUNKNOWN";
}

const char *signal_name(int sig) {
  static char fallback[16];
  const char *abbrev = sigabbrev_np(sig);
  if (abbrev) {
    snprintf(fallback, sizeof(fallback), "SIG%s", abbrev);
  } else {
    snprintf(fallback, sizeof(fallback), "SIG%d", sig);
  }
  return fallback;
}

/* ---- buffers ---- */

void buf_reserve(buf_t *b, size_t more) {
  if (b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) cap *= 2;
  char *grown = realloc(b->data, cap);
  if (!grown) {
    /* The shim cannot do anything useful without memory; exit rather than corrupt a record. */
    _exit(70);
  }
  b->data = grown;
  b->cap = cap;
}

void buf_append(buf_t *b, const void *data, size_t len) {
  buf_reserve(b, len);
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void buf_puts(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_printf(buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void buf_free(buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence starting at s (1-4), or 0 when it is not valid. */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail) {
  unsigned char c = s[0];
  size_t need;
  uint32_t min;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    need = 2;
    min = 0x80;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 3;
    min = 0x800;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 4;
    min = 0x10000;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (avail < need) return 0;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return need;
}

void buf_json_string(buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  buf_reserve(b, len + 2);
  buf_append(b, "\"", 1);
  size_t i = 0;
  while (i < len) {
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      buf_append(b, esc, 2);
      i++;
    } else if (c == '\n') {
      buf_append(b, "\\n", 2);
      i++;
    } else if (c == '\r') {
      buf_append(b, "\\r", 2);
      i++;
    } else if (c == '\t') {
      buf_append(b, "\\t", 2);
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      buf_append(b, esc, 6);
      i++;
    } else if (c < 0x80) {
      buf_append(b, &p[i], 1);
      i++;
    } else {
      size_t n = utf8_sequence_length(p + i, len - i);
      if (n == 0) {
        /* Docker's json-file does the same: bytes that are not UTF-8 become U+FFFD. */
        buf_append(b, "\xef\xbf\xbd", 3);
        i++;
      } else {
        buf_append(b, p + i, n);
        i += n;
      }
    }
  }
  buf_append(b, "\"", 1);
}

/* ---- files ---- */

int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

char *read_file(const char *path, size_t max_bytes, size_t *len_out, failure_t *f, const char *stage) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(f, stage, "open", errno, path, "open %s", path);
    return NULL;
  }
  buf_t b = {0};
  char chunk[8192];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(f, stage, "read", errno, path, "read %s", path);
      close(fd);
      buf_free(&b);
      return NULL;
    }
    if (n == 0) break;
    if (b.len + (size_t)n > max_bytes) {
      fail(f, stage, "read", EFBIG, path, "%s is larger than %zu bytes", path, max_bytes);
      close(fd);
      buf_free(&b);
      return NULL;
    }
    buf_append(&b, chunk, (size_t)n);
  }
  close(fd);
  if (!b.data) buf_append(&b, "", 0);
  if (len_out) *len_out = b.len;
  return b.data;
}

/*
 * Atomic for readers: the content goes to a temporary file that is renamed over `path`, so a
 * reader sees the old file or the whole new one, never a part.
 *
 * Durability after a crash is a separate choice (atomic_sync_t), made per file because every
 * fsync sits on the start → exit path the agent waits on (1-10 ms each on this ext4):
 *  - shim.pid and init.json: no fsync. A PID and its start time mean nothing after a reboot.
 *  - exit.json: renamed FIRST (the agent acts on the rename through inotify), then the file is
 *    fdatasync'ed and the directory fsync'ed before the shim exits. A power loss inside that
 *    window of a few milliseconds can leave exit.json missing or empty (ext4's data=ordered
 *    journals the size only with the data, so never a partial record); the agent reads an empty
 *    or unparseable exit.json as "no exit record" (store.readExit), exactly as if the power had
 *    gone a moment before the process ended, a case it must handle anyway. Once the shim has
 *    exited, the record is on disk.
 */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode, failure_t *f, const char *stage, atomic_sync_t sync) {
  char temporary[PATH_MAX];
  if (snprintf(temporary, sizeof(temporary), "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof(temporary)) {
    return fail(f, stage, "open", ENAMETOOLONG, path, "temporary name for %s", path);
  }
  int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail(f, stage, "open", errno, temporary, "open %s", temporary);
  if (write_all(fd, data, len) < 0) {
    int err = errno;
    close(fd);
    unlink(temporary);
    return fail(f, stage, "write", err, temporary, "write %s", temporary);
  }
  if (rename(temporary, path) < 0) {
    int err = errno;
    close(fd);
    unlink(temporary);
    return fail(f, stage, "rename", err, path, "rename %s to %s", temporary, path);
  }
  if (sync == ATOMIC_NO_SYNC) {
    close(fd);
    return 0;
  }
  /* The descriptor still names the renamed file: sync its data, then the rename (the directory). */
  int rc = 0;
  if (fdatasync(fd) < 0) rc = fail(f, stage, "fdatasync", errno, path, "fdatasync %s", path);
  close(fd);
  char directory[PATH_MAX];
  snprintf(directory, sizeof(directory), "%s", path);
  char *slash = strrchr(directory, '/');
  if (slash && slash != directory) {
    *slash = '\0';
    int dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      if (fsync(dfd) < 0 && rc == 0) rc = fail(f, stage, "fsync", errno, directory, "fsync %s", directory);
      close(dfd);
    }
  }
  return rc;
}

void format_rfc3339nano(const struct timespec *ts, char *out, size_t out_size) {
  struct tm tm;
  time_t seconds = ts->tv_sec;
  gmtime_r(&seconds, &tm);
  char date[32];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, out_size, "%s.%09ldZ", date, (long)ts->tv_nsec);
}

unsigned long long process_start_ticks(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  failure_t ignored;
  size_t len = 0;
  char *text = read_file(path, 64 * 1024, &len, &ignored, "proc");
  if (!text) return 0;
  /* The command name (field 2) may contain spaces and parentheses: count from the last ')'. */
  char *p = strrchr(text, ')');
  unsigned long long ticks = 0;
  if (p) {
    p++;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      field++;
      if (field == 22) {
        ticks = strtoull(tok, NULL, 10);
        break;
      }
    }
  }
  free(text);
  return ticks;
}

int mkdir_all(const char *path, mode_t mode) {
  char copy[PATH_MAX];
  if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = copy + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(copy, mode) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(copy, mode) < 0 && errno != EEXIST) return -1;
  return 0;
}

/* ---- status pipe ---- */

void status_error(int status_fd, const failure_t *f) {
  buf_t b = {0};
  buf_puts(&b, "{\"type\":\"error\",\"stage\":");
  buf_json_string(&b, f->stage, strlen(f->stage));
  buf_puts(&b, ",\"code\":");
  const char *code = f->err ? errno_name(f->err) : "EINVAL";
  buf_json_string(&b, code, strlen(code));
  buf_printf(&b, ",\"errno\":%d", f->err ? f->err : EINVAL);
  if (f->syscall[0]) {
    buf_puts(&b, ",\"syscall\":");
    buf_json_string(&b, f->syscall, strlen(f->syscall));
  }
  if (f->path[0]) {
    buf_puts(&b, ",\"path\":");
    buf_json_string(&b, f->path, strlen(f->path));
  }
  buf_puts(&b, ",\"message\":");
  buf_json_string(&b, f->message, strlen(f->message));
  if (f->exit_code) buf_printf(&b, ",\"exitCode\":%d", f->exit_code);
  buf_puts(&b, "}\n");
  if (status_fd >= 0) write_all(status_fd, b.data, b.len);
  /* Also on stderr (the shim's log once daemonized), so a failure is never only in a closed pipe. */
  write_all(STDERR_FILENO, b.data, b.len);
  buf_free(&b);
}

void status_started(int status_fd, pid_t pid, unsigned long long start_ticks) {
  char line[160];
  int n = snprintf(line, sizeof(line), "{\"type\":\"started\",\"pid\":%d,\"startTimeTicks\":%llu,\"shimPid\":%d}\n", (int)pid, start_ticks,
                   (int)getpid());
  if (status_fd >= 0) write_all(status_fd, line, (size_t)n);
}
