// See kept_files.h. Every function here may run on a libuv worker thread: no Node-API, no
// globals, errno is read right after the call that set it.
#include "kept_files.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string_view>
#include <unordered_map>

namespace capstan {
namespace {

// Same chunk as ReadFiles (io.cc) and capstan-readfloor, so the benchmark compares like with like.
constexpr size_t kChunkBytes = 64 * 1024;

int OpenForReading(const char* path) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Reads fd from offset 0 to EOF (or max_bytes) into the pack as one string. Returns 0 or errno;
// on error nothing is added. pread keeps the fd's own offset out of it: kernfs and seq_file
// files regenerate their text when read from offset 0. With short_read_ends (a single-record
// seq_file), a read shorter than asked for is the whole text: the EOF read after it costs about
// a quarter of a small cgroup file's read (1.1-1.4 us of 4-7 measured here) and says nothing.
int ReadFromStart(int fd, char* chunk, size_t max_bytes, bool short_read_ends, StringPack* results) {
  results->BeginString();
  size_t total = 0;
  while (total < max_bytes) {
    const size_t asked = std::min(kChunkBytes, max_bytes - total);
    const ssize_t count = pread(fd, chunk, asked, static_cast<off_t>(total));
    if (count < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      results->AbandonString(error);
      return error;
    }
    if (count == 0) break;
    results->AppendToString(chunk, static_cast<size_t>(count));
    total += static_cast<size_t>(count);
    if (short_read_ends && static_cast<size_t>(count) < asked) break;
  }
  results->EndString();
  return 0;
}

bool Vanished(int error) { return error == ENODEV || error == ENOENT; }

}  // namespace

void KeptFileSet::Assign(StringPack paths, std::vector<uint8_t> keep, std::vector<uint8_t> single_record) {
  keep.resize(paths.size(), 0);
  single_record.resize(paths.size(), 0);
  std::unordered_map<std::string_view, int> reusable;
  reusable.reserve(open_fds());
  for (size_t i = 0; i < paths_.size(); i++) {
    if (fds_[i] >= 0) reusable.emplace(std::string_view(paths_.data(i), paths_.entry(i).length), fds_[i]);
  }
  std::vector<int> fds(paths.size(), -1);
  for (size_t i = 0; i < paths.size(); i++) {
    if (!keep[i]) continue;
    auto found = reusable.find(std::string_view(paths.data(i), paths.entry(i).length));
    if (found == reusable.end() || found->second < 0) continue;
    fds[i] = found->second;
    found->second = -1;  // a path listed twice gets one fd; the other copy opens its own
  }
  for (const auto& [path, fd] : reusable) {
    if (fd >= 0) close(fd);
  }
  // The map's keys point into the old pack: replace it only now.
  paths_ = std::move(paths);
  keep_ = std::move(keep);
  single_record_ = std::move(single_record);
  fds_ = std::move(fds);
}

void KeptFileSet::Read(const std::vector<uint8_t>& due, size_t max_bytes, StringPack* results, KeptReadCounts* counts) {
  std::unique_ptr<char[]> chunk(new char[kChunkBytes]);
  results->Reserve(paths_.size(), paths_.size() * 64);
  const bool all_due = due.empty();
  for (size_t i = 0; i < paths_.size(); i++) {
    if (!all_due && (i >= due.size() || !due[i])) {
      results->AddError(kNotRead);
      continue;
    }
    int& fd = fds_[i];
    if (fd >= 0) {
      const int error = ReadFromStart(fd, chunk.get(), max_bytes, single_record_[i] != 0, results);
      if (error == 0) {
        counts->kept++;
        continue;
      }
      // Drop the result just recorded; the file is read again below, or its errno stays.
      close(fd);
      fd = -1;
      if (!Vanished(error)) continue;
      counts->closed_vanished++;
      counts->vanished_indexes.push_back(static_cast<uint32_t>(i));
      results->DropLast();
    }
    const int opened = OpenForReading(paths_.data(i));
    if (opened < 0) {
      results->AddError(errno);
      continue;
    }
    counts->opened++;
    const int error = ReadFromStart(opened, chunk.get(), max_bytes, single_record_[i] != 0, results);
    if (keep_[i] && error == 0) {
      fd = opened;
    } else {
      close(opened);
    }
  }
}

size_t KeptFileSet::open_fds() const {
  return static_cast<size_t>(std::count_if(fds_.begin(), fds_.end(), [](int fd) { return fd >= 0; }));
}

void KeptFileSet::CloseAll() {
  for (int& fd : fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

int RaiseOpenFileLimit(uint64_t* soft, uint64_t* hard, const char** syscall) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    *syscall = "getrlimit";
    return errno;
  }
  // Up to the hard limit, which needs no privilege.
  return RaiseOpenFileLimitTo(limit.rlim_max, soft, hard, syscall);
}

int RaiseOpenFileLimitTo(uint64_t at_least, uint64_t* soft, uint64_t* hard, const char** syscall) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    *syscall = "getrlimit";
    return errno;
  }
  *soft = limit.rlim_cur;
  *hard = limit.rlim_max;
  if (limit.rlim_cur >= at_least) return 0;
  struct rlimit raised;
  raised.rlim_cur = at_least;
  raised.rlim_max = std::max<rlim_t>(limit.rlim_max, at_least);
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    *syscall = "setrlimit";
    return errno;
  }
  *soft = raised.rlim_cur;
  *hard = raised.rlim_max;
  return 0;
}

}  // namespace capstan
