// Kept-open cgroup files for the collector's sweep (see kept_files.cc). Plain C++ over POSIX, no
// Node-API, so a batch read can run on a libuv worker thread. Which files stay open, and when a
// file is read at all, is decided in TypeScript (server/collector/kept-files.ts); this only holds
// the fds and makes the syscalls.
#ifndef CAPSTAN_NATIVE_KEPT_FILES_H_
#define CAPSTAN_NATIVE_KEPT_FILES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "io.h"

namespace capstan {

// StringPack::Entry::error of a file the caller did not ask for this time (due[i] == 0).
constexpr int kNotRead = -1;

struct KeptReadCounts {
  // Files read through a kept fd with pread(fd, buf, n, 0).
  size_t kept = 0;
  // Files read with open/read/close (not kept, or the kept fd had to be reopened).
  size_t opened = 0;
  // Kept fds closed because their file answered ENODEV/ENOENT (its cgroup was removed).
  size_t closed_vanished = 0;
  // Indexes of those files: their cgroup may have been re-created under the same name, so the
  // caller re-reads what it did not read this time (limits) for those cgroups.
  std::vector<uint32_t> vanished_indexes;
};

class KeptFileSet {
 public:
  KeptFileSet() = default;
  KeptFileSet(const KeptFileSet&) = delete;
  KeptFileSet& operator=(const KeptFileSet&) = delete;
  ~KeptFileSet() { CloseAll(); }

  // Replaces the file list. keep[i] != 0: file i may hold an fd between reads. An fd already open
  // for the same path and still kept is carried over; every other open fd is closed.
  // single_record[i] != 0 (missing entries: 0): file i is a seq_file whose whole text is one
  // record (every cgroup stat file, /proc/stat, /proc/meminfo), so a read shorter than asked for
  // ended it and the read that would only return EOF is skipped. Not so for multi-record files
  // (/proc/net/dev, cgroup.procs): the kernel may return a short read with more to come.
  void Assign(StringPack paths, std::vector<uint8_t> keep, std::vector<uint8_t> single_record);

  // Reads file i when due is empty or due[i] != 0 (else its entry is kNotRead). A kept file is
  // opened once and then re-read with pread at offset 0; a kept fd whose read fails with ENODEV
  // or ENOENT (the cgroup was removed, perhaps re-created under the same name) is closed and the
  // path opened again once, so a stale fd never serves the old cgroup's data.
  void Read(const std::vector<uint8_t>& due, size_t max_bytes, StringPack* results, KeptReadCounts* counts);

  size_t size() const { return paths_.size(); }
  size_t open_fds() const;
  void CloseAll();

 private:
  StringPack paths_;
  std::vector<uint8_t> keep_;
  std::vector<uint8_t> single_record_;
  std::vector<int> fds_;
};

// Raises the soft RLIMIT_NOFILE to the hard limit. Returns 0 or the errno of getrlimit/setrlimit
// (*syscall names it); *soft and *hard are the limits in force afterwards.
int RaiseOpenFileLimit(uint64_t* soft, uint64_t* hard, const char** syscall);

// Sets both RLIMIT_NOFILE limits to `at_least` where they are lower (raising the hard limit
// needs CAP_SYS_RESOURCE, and the kernel caps it at fs.nr_open). Returns 0 or the errno of
// getrlimit/setrlimit (*syscall names it); *soft and *hard are the limits in force afterwards,
// changed or not.
int RaiseOpenFileLimitTo(uint64_t at_least, uint64_t* soft, uint64_t* hard, const char** syscall);

}  // namespace capstan

#endif  // CAPSTAN_NATIVE_KEPT_FILES_H_
