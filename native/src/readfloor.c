/*
 * capstan-readfloor: the floor for capstan's file-reading benchmark. Reads every file named in a
 * list (one path per line) with nothing but open, read until EOF into a 64 KiB buffer, and close,
 * once per iteration, and prints one JSON line:
 *   {"files":N,"iterations":K,"failures":F,"kept":0,"nanoseconds":[t1,...,tK]}
 * t is the wall time of one iteration (CLOCK_MONOTONIC). F counts the files that failed to open
 * or read in the last iteration; a missing file is counted, never fatal, because cgroups vanish.
 *
 * With --kept (the kept-fd floor): raises the soft RLIMIT_NOFILE to the hard one, opens every file
 * once before timing, and each iteration re-reads them with pread(fd, buf, n, 0) until EOF; "kept"
 * says how many fds it held (files past the fd limit are read with open/read/close).
 *
 * Either way a read shorter than the buffer ends the file, without the read that would return
 * EOF: for a single-record seq_file (every cgroup stat file, /proc/stat) that is the whole text,
 * as the collector reads them too; for a multi-record one (/proc/net/dev, cgroup.procs) it may stop
 * before the end, which only makes the floor lower. The floor is the fewest syscalls a reader of
 * these files could make.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { kBufferBytes = 64 * 1024 };

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One read pass over every file; returns how many failed. */
static size_t read_all(char **paths, size_t count, char *buffer) {
  size_t failures = 0;
  for (size_t i = 0; i < count; i++) {
    int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      failures++;
      continue;
    }
    for (;;) {
      ssize_t n = read(fd, buffer, kBufferBytes);
      if (n == kBufferBytes) continue;
      if (n > 0) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) failures++;
      break;
    }
    close(fd);
  }
  return failures;
}

/* One pread pass over the kept fds (fds[i] < 0: open/read/close that one); returns failures. */
static size_t pread_all(char **paths, const int *fds, size_t count, char *buffer) {
  size_t failures = 0;
  for (size_t i = 0; i < count; i++) {
    if (fds[i] < 0) {
      failures += read_all(&paths[i], 1, buffer);
      continue;
    }
    off_t offset = 0;
    for (;;) {
      ssize_t n = pread(fds[i], buffer, kBufferBytes, offset);
      if (n == kBufferBytes) {
        offset += n;
        continue;
      }
      if (n > 0) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) failures++;
      break;
    }
  }
  return failures;
}

int main(int argc, char **argv) {
  int kept_mode = argc == 4 && strcmp(argv[1], "--kept") == 0;
  if (kept_mode) {
    argv++;
    argc--;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: %s [--kept] <file-with-one-path-per-line> <iterations>\n", argv[0]);
    return 2;
  }
  char *end = NULL;
  long iterations = strtol(argv[2], &end, 10);
  if (*argv[2] == '\0' || *end != '\0' || iterations < 1 || iterations > 1000000) {
    fprintf(stderr, "capstan-readfloor: iterations must be an integer from 1 to 1000000\n");
    return 2;
  }
  FILE *list = fopen(argv[1], "re");
  if (list == NULL) {
    fprintf(stderr, "capstan-readfloor: %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  char **paths = NULL;
  size_t count = 0, capacity = 0;
  char *line = NULL;
  size_t line_capacity = 0;
  ssize_t length;
  while ((length = getline(&line, &line_capacity, list)) >= 0) {
    if (length > 0 && line[length - 1] == '\n') line[--length] = '\0';
    if (length == 0) continue;
    if (count == capacity) {
      capacity = capacity ? capacity * 2 : 1024;
      paths = realloc(paths, capacity * sizeof *paths);
      if (paths == NULL) {
        fprintf(stderr, "capstan-readfloor: out of memory\n");
        return 1;
      }
    }
    paths[count] = strdup(line);
    if (paths[count] == NULL) {
      fprintf(stderr, "capstan-readfloor: out of memory\n");
      return 1;
    }
    count++;
  }
  free(line);
  fclose(list);

  static char buffer[kBufferBytes];
  long long *elapsed = calloc((size_t)iterations, sizeof *elapsed);
  if (elapsed == NULL) {
    fprintf(stderr, "capstan-readfloor: out of memory\n");
    return 1;
  }
  int *fds = NULL;
  size_t kept = 0;
  if (kept_mode) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
    fds = malloc((count ? count : 1) * sizeof *fds);
    if (fds == NULL) {
      fprintf(stderr, "capstan-readfloor: out of memory\n");
      return 1;
    }
    /* Leave fds for the files past the limit, which are opened per read (as capstan's fallback). */
    size_t keepable = 0;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur > 64) keepable = (size_t)limit.rlim_cur - 64;
    for (size_t i = 0; i < count; i++) {
      fds[i] = kept < keepable ? open(paths[i], O_RDONLY | O_CLOEXEC) : -1;
      if (fds[i] >= 0) kept++;
    }
  }
  size_t failures = 0;
  for (long k = 0; k < iterations; k++) {
    long long start = now_ns();
    failures = kept_mode ? pread_all(paths, fds, count, buffer) : read_all(paths, count, buffer);
    elapsed[k] = now_ns() - start;
  }

  printf("{\"files\":%zu,\"iterations\":%ld,\"failures\":%zu,\"kept\":%zu,\"nanoseconds\":[", count, iterations, failures, kept);
  for (long k = 0; k < iterations; k++) printf(k ? ",%lld" : "%lld", elapsed[k]);
  printf("]}\n");
  return 0;
}
