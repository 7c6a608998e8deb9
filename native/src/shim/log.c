/*
 * container.log: one JSON object per line, {"time","stream","log"}, like Docker's json-file
 * driver. Bounded: when a record would take the file past maxBytes, the file is rotated first
 * (container.log → container.log.1 → … → container.log.<maxFiles>, the oldest dropped) and a new
 * container.log is started. With maxFiles 0 the old content is simply dropped. A reader following
 * the log reopens container.log when its inode changes.
 *
 * Each record is written with one write(2) on an O_APPEND descriptor, so nothing is buffered in
 * the shim: what the container printed is in the file (page cache) by the time exit.json exists.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_log_file(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
}

int log_open(logfile_t *log, const char *path, long long max_bytes, int max_files, failure_t *f) {
  log->path = path;
  log->max_bytes = max_bytes;
  log->max_files = max_files;
  log->fd = open_log_file(path);
  if (log->fd < 0) return fail(f, "log", "open", errno, path, "open the log %s", path);
  struct stat st;
  log->size = fstat(log->fd, &st) == 0 ? (long long)st.st_size : 0;
  return 0;
}

static void rotate(logfile_t *log) {
  char from[PATH_MAX];
  char to[PATH_MAX];
  if (log->max_files > 0) {
    for (int i = log->max_files - 1; i >= 1; i--) {
      snprintf(from, sizeof(from), "%s.%d", log->path, i);
      snprintf(to, sizeof(to), "%s.%d", log->path, i + 1);
      if (rename(from, to) < 0 && errno != ENOENT) {
        dprintf(STDERR_FILENO, "capstan-shim: rotate %s to %s: %s\n", from, to, strerror(errno));
      }
    }
    snprintf(to, sizeof(to), "%s.1", log->path);
    if (rename(log->path, to) < 0) dprintf(STDERR_FILENO, "capstan-shim: rotate %s: %s\n", log->path, strerror(errno));
  } else if (unlink(log->path) < 0 && errno != ENOENT) {
    dprintf(STDERR_FILENO, "capstan-shim: drop %s: %s\n", log->path, strerror(errno));
  }
  int fd = open_log_file(log->path);
  if (fd < 0) {
    /* Keep writing to the old descriptor rather than lose output. */
    dprintf(STDERR_FILENO, "capstan-shim: reopen %s: %s\n", log->path, strerror(errno));
    return;
  }
  close(log->fd);
  log->fd = fd;
  log->size = 0;
}

void log_record(logfile_t *log, const char *stream, const char *data, size_t len, const struct timespec *when) {
  if (!log || log->fd < 0 || len == 0) return;
  char time_text[48];
  format_rfc3339nano(when, time_text, sizeof(time_text));
  buf_t line = {0};
  buf_printf(&line, "{\"time\":\"%s\",\"stream\":\"%s\",\"log\":", time_text, stream);
  buf_json_string(&line, data, len);
  buf_puts(&line, "}\n");
  if (log->max_bytes > 0 && log->size > 0 && log->size + (long long)line.len > log->max_bytes) rotate(log);
  if (write_all(log->fd, line.data, line.len) < 0) {
    dprintf(STDERR_FILENO, "capstan-shim: write %s: %s\n", log->path, strerror(errno));
  } else {
    log->size += (long long)line.len;
  }
  buf_free(&line);
}

void log_sync(logfile_t *log) {
  if (log && log->fd >= 0) fdatasync(log->fd);
}
