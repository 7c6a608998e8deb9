// Capstan's syscall core: plain C++ over POSIX, no Node-API. binding.cc turns these results into
// JS values; keeping the two apart lets the batch work run on a libuv worker thread, where no JS
// value may be touched, and keeps every policy decision out of native code.
#ifndef CAPSTAN_NATIVE_IO_H_
#define CAPSTAN_NATIVE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace capstan {

// Many short strings packed end to end in one allocation. A tick reads ~20000 files, so one
// std::string per path or per result would cost more in malloc than the kernel spends per file.
class StringPack {
 public:
  struct Entry {
    size_t offset;
    size_t length;
    // 0 for a string; otherwise the positive errno that replaced it.
    int error;
    // Only bytes below 0x80: the text can be handed to V8 as Latin-1, which is a plain copy,
    // instead of going through the UTF-8 decoder.
    bool ascii;
  };

  void Reserve(size_t entries, size_t bytes) {
    entries_.reserve(entries);
    bytes_.reserve(bytes);
  }
  void Clear() {
    entries_.clear();
    bytes_.clear();
  }
  // Appends a string. A NUL is stored after it so paths can go straight to syscalls.
  void Add(const char* data, size_t length);
  void AddError(int error) { entries_.push_back(Entry{bytes_.size(), 0, error, true}); }

  size_t size() const { return entries_.size(); }
  const Entry& entry(size_t i) const { return entries_[i]; }
  const char* data(size_t i) const { return bytes_.data() + entries_[i].offset; }

  // For readers that fill the pack in pieces: BeginString, AppendToString..., EndString.
  void BeginString() { pending_offset_ = bytes_.size(); }
  void AppendToString(const char* data, size_t length) { bytes_.append(data, length); }
  void EndString();
  // Drops whatever was appended since BeginString and records the error instead.
  void AbandonString(int error);
  // Removes the last entry (an error entry: it owns no bytes).
  void DropLast() { entries_.pop_back(); }

 private:
  std::string bytes_;
  std::vector<Entry> entries_;
  size_t pending_offset_ = 0;
};

// For each path: the file's bytes up to maxBytes, read until EOF (kernel pseudo-files report
// st_size 0 or 4096 whatever their length, so the size is never trusted), or the errno of the
// failed open/read.
void ReadFiles(const StringPack& paths, size_t max_bytes, StringPack* results);

// For each path: readlink(2)'s target, or its errno.
void ReadLinks(const StringPack& paths, StringPack* results);

// Walks root and adds the relative path of every subdirectory (pre-order: "a", "a/b", "c") to
// *directories. Returns 0, or the errno that stopped the walk. A subdirectory that disappears
// during the walk is skipped without error: cgroups come and go between readdir and openat.
int ListDirectories(const char* root, StringPack* directories);

// The same walk, adding an inotify watch (mask) on every directory before reading it, so a
// directory created after it was read still raises an event. The first inotify_add_watch errno
// (ENOSPC: out of watches) goes to *watch_error; the walk goes on without watches.
int ListDirectoriesWatched(const char* root, int inotify_fd, uint32_t mask, StringPack* directories, int* watch_error);

// open(O_WRONLY|O_TRUNC|O_CLOEXEC), one write(2) of all the data, close. Returns 0, or the errno
// and sets *syscall to the call that failed ("open", "write" or "close").
int WriteFile(const char* path, const char* data, size_t length, const char** syscall);

}  // namespace capstan

#endif  // CAPSTAN_NATIVE_IO_H_
