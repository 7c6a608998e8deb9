/*
 * capstan-readfloor: the floor for capstan's file-reading benchmark. Reads every file named in a
 * list (one path per line) with nothing but open, read until EOF into a 64 KiB buffer, and close,
 * once per iteration, and prints one JSON line:
 *   {"files":N,"iterations":K,"failures":F,"nanoseconds":[t1,...,tK]}
 * t is the wall time of one iteration (CLOCK_MONOTONIC). F counts the files that failed to open
 * or read in the last iteration; a missing file is counted, never fatal, because cgroups vanish.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) failures++;
      break;
    }
    close(fd);
  }
  return failures;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <file-with-one-path-per-line> <iterations>\n", argv[0]);
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
  size_t failures = 0;
  for (long k = 0; k < iterations; k++) {
    long long start = now_ns();
    failures = read_all(paths, count, buffer);
    elapsed[k] = now_ns() - start;
  }

  printf("{\"files\":%zu,\"iterations\":%ld,\"failures\":%zu,\"nanoseconds\":[", count, iterations, failures);
  for (long k = 0; k < iterations; k++) printf(k ? ",%lld" : "%lld", elapsed[k]);
  printf("]}\n");
  return 0;
}
