// Capstan's syscall core (see io.h). Every function here may run on a libuv worker thread: no
// Node-API, no globals, errno is read right after the call that set it.
#include "io.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace capstan {
namespace {

// Matches capstan-readfloor's buffer, so the benchmark compares the same syscalls. Every cgroup
// file fits in one read of this size; memory.stat, the largest common one, is ~1.5 KiB.
constexpr size_t kReadChunkBytes = 64 * 1024;

// readlink(2) targets are at most PATH_MAX on every filesystem, but /proc magic links can append
// " (deleted)" and the like; past this size the answer is ENAMETOOLONG rather than more memory.
constexpr size_t kMaxLinkBytes = 64 * 1024;

bool IsAscii(const char* data, size_t length) {
  // OR-ing every byte lets the compiler vectorise the loop; an early exit would not pay for
  // itself on text this short.
  unsigned char seen = 0;
  for (size_t i = 0; i < length; i++) seen |= static_cast<unsigned char>(data[i]);
  return seen < 0x80;
}

// Signals can interrupt blocking calls on the worker thread; a retry is the right answer for
// open and read (nothing has happened yet). close is never retried: Linux frees the fd anyway.
int OpenRetrying(const char* path, int flags) {
  int fd;
  do {
    fd = open(path, flags);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

int OpenAtRetrying(int dir_fd, const char* name, int flags) {
  int fd;
  do {
    fd = openat(dir_fd, name, flags);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Errors that mean "this entry went away or stopped being a plain directory between readdir and
// openat": the cgroup was removed (ENOENT), or the name now holds a file (ENOTDIR) or a symlink
// (ELOOP, from O_NOFOLLOW). The walk leaves such entries out instead of failing.
bool VanishedDuringWalk(int error) {
  return error == ENOENT || error == ENOTDIR || error == ELOOP;
}

// Where a walk adds inotify watches (inotify_add_watch takes a path: root + "/" + prefix).
struct WalkWatch {
  int inotify_fd;
  uint32_t mask;
  const char* root;
  int* error;
};

void AddWatch(const WalkWatch* watch, const std::string& prefix) {
  if (watch == nullptr || *watch->error != 0) return;
  std::string path(watch->root);
  if (!prefix.empty()) path.append("/").append(prefix);
  if (inotify_add_watch(watch->inotify_fd, path.c_str(), watch->mask) < 0 && !VanishedDuringWalk(errno)) *watch->error = errno;
}

// Depth-first walk of one directory. Takes ownership of dir_fd. *prefix holds the relative path of
// this directory ("" at the root) and is restored before returning.
int WalkDirectory(int dir_fd, std::string* prefix, StringPack* directories, const WalkWatch* watch = nullptr) {
  AddWatch(watch, *prefix);
  DIR* dir = fdopendir(dir_fd);
  if (dir == nullptr) {
    int error = errno;
    close(dir_fd);
    return error;
  }
  int result = 0;
  for (;;) {
    errno = 0;
    struct dirent* entry = readdir(dir);
    if (entry == nullptr) {
      // errno 0 is the end of the directory; ENOENT means it was removed while we read it.
      if (errno != 0 && !VanishedDuringWalk(errno)) result = errno;
      break;
    }
    const char* name = entry->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;

    bool is_directory = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {
      // Some filesystems (older XFS, some FUSE) do not fill d_type; ask without following links.
      struct stat status;
      if (fstatat(dirfd(dir), name, &status, AT_SYMLINK_NOFOLLOW) != 0) {
        if (VanishedDuringWalk(errno)) continue;
        result = errno;
        break;
      }
      is_directory = S_ISDIR(status.st_mode);
    }
    if (!is_directory) continue;

    // O_NOFOLLOW: if the name was swapped for a symlink since readdir, this fails with ELOOP
    // instead of walking somewhere else.
    int child_fd = OpenAtRetrying(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child_fd < 0) {
      if (VanishedDuringWalk(errno)) continue;
      result = errno;
      break;
    }
    const size_t saved_length = prefix->size();
    if (saved_length != 0) prefix->push_back('/');
    prefix->append(name);
    directories->Add(prefix->data(), prefix->size());
    result = WalkDirectory(child_fd, prefix, directories, watch);
    prefix->resize(saved_length);
    if (result != 0) break;
  }
  closedir(dir);
  return result;
}

}  // namespace

void StringPack::Add(const char* data, size_t length) {
  const size_t offset = bytes_.size();
  bytes_.append(data, length);
  bytes_.push_back('\0');
  entries_.push_back(Entry{offset, length, 0, IsAscii(data, length)});
}

void StringPack::EndString() {
  const size_t length = bytes_.size() - pending_offset_;
  const bool ascii = IsAscii(bytes_.data() + pending_offset_, length);
  bytes_.push_back('\0');
  entries_.push_back(Entry{pending_offset_, length, 0, ascii});
}

void StringPack::AbandonString(int error) {
  bytes_.resize(pending_offset_);
  AddError(error);
}

void ReadFiles(const StringPack& paths, size_t max_bytes, StringPack* results) {
  // One scratch buffer for the whole batch. Reading straight into the pack would mean growing it
  // by a full chunk (and zero-filling that) for every file just to keep ~100 bytes of it.
  const size_t chunk_bytes = std::min(max_bytes, kReadChunkBytes);
  std::unique_ptr<char[]> chunk(new char[chunk_bytes]);
  // Most cgroup files hold one short number; this guess avoids most regrowth of the pack.
  results->Reserve(paths.size(), paths.size() * 64);

  for (size_t i = 0; i < paths.size(); i++) {
    const int fd = OpenRetrying(paths.data(i), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      results->AddError(errno);
      continue;
    }
    results->BeginString();
    size_t total = 0;
    int error = 0;
    // Read until EOF (or max_bytes): kernfs reports st_size 4096 and procfs 0, whatever the text.
    while (total < max_bytes) {
      const ssize_t count = read(fd, chunk.get(), std::min(chunk_bytes, max_bytes - total));
      if (count < 0) {
        if (errno == EINTR) continue;
        error = errno;  // e.g. EISDIR for a directory, which open(O_RDONLY) accepts
        break;
      }
      if (count == 0) break;
      results->AppendToString(chunk.get(), static_cast<size_t>(count));
      total += static_cast<size_t>(count);
    }
    close(fd);
    if (error != 0) {
      results->AbandonString(error);
    } else {
      results->EndString();
    }
  }
}

void ReadLinks(const StringPack& paths, StringPack* results) {
  std::string target(PATH_MAX, '\0');
  results->Reserve(paths.size(), paths.size() * 32);
  for (size_t i = 0; i < paths.size(); i++) {
    for (;;) {
      const ssize_t count = readlink(paths.data(i), &target[0], target.size());
      if (count < 0) {
        results->AddError(errno);
        break;
      }
      // readlink truncates silently; a full buffer may be a cut-off target, so grow and retry.
      if (static_cast<size_t>(count) < target.size()) {
        results->Add(target.data(), static_cast<size_t>(count));
        break;
      }
      if (target.size() >= kMaxLinkBytes) {
        results->AddError(ENAMETOOLONG);
        break;
      }
      target.resize(target.size() * 2);
    }
  }
}

int ListDirectories(const char* root, StringPack* directories) {
  // The root itself may be a symlink (many distributions link /sys/fs/cgroup/cpu to cpu,cpuacct);
  // it was chosen by capstan, so it is followed. Nothing below it is.
  const int root_fd = OpenRetrying(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return errno;
  std::string prefix;
  return WalkDirectory(root_fd, &prefix, directories);
}

int ListDirectoriesWatched(const char* root, int inotify_fd, uint32_t mask, StringPack* directories, int* watch_error) {
  const int root_fd = OpenRetrying(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return errno;
  std::string prefix;
  const WalkWatch watch{inotify_fd, mask, root, watch_error};
  return WalkDirectory(root_fd, &prefix, directories, &watch);
}

int WriteFile(const char* path, const char* data, size_t length, const char** syscall) {
  // No O_CREAT: these are kernel control files, and a missing one must be ENOENT, not a new
  // regular file. O_TRUNC is what `echo value > file` does and is harmless on cgroupfs and procfs.
  const int fd = OpenRetrying(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    *syscall = "open";
    return errno;
  }
  int error = 0;
  ssize_t count;
  do {
    count = write(fd, data, length);
  } while (count < 0 && errno == EINTR);
  if (count < 0) {
    error = errno;
    *syscall = "write";
  } else if (static_cast<size_t>(count) != length) {
    // A control file parses each write(2) on its own, so writing the rest in a second call would
    // set a different (wrong) value. A short write is therefore reported as EIO, not continued.
    error = EIO;
    *syscall = "write";
  }
  if (close(fd) != 0 && error == 0 && errno != EINTR) {
    // Some filesystems (NFS, FUSE) only report a failed write at close.
    error = errno;
    *syscall = "close";
  }
  return error;
}

}  // namespace capstan
