// Glue between JavaScript and io.cc: argument checks, async work, JS values. No decisions: which
// files to read, size limits beyond "positive" and what an errno means are TypeScript's business
// (server/native/index.ts). The surface is server/native/contract.ts.
#include <limits.h>
#include <napi.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "io.h"
#include "kept_files.h"
#include "oom_binding.h"
#include "netns.h"

namespace capstan {
namespace {

// Number.MAX_SAFE_INTEGER: the largest maxBytes that a JS number carries exactly.
constexpr double kMaxSafeInteger = 9007199254740991.0;

// glibc's strerror_r returns char* under _GNU_SOURCE (which g++ always defines); the POSIX one
// returns int. These overloads accept whichever the C library declares.
[[maybe_unused]] const char* StrerrorResult(int status, const char* buffer) {
  return status == 0 ? buffer : "Unknown error";
}
[[maybe_unused]] const char* StrerrorResult(const char* result, const char*) { return result; }

std::string Describe(int error) {
  char buffer[256];
  return StrerrorResult(strerror_r(error, buffer, sizeof buffer), buffer);
}

void ThrowIfFailed(napi_env env, napi_status status) {
  if (status != napi_ok) throw Napi::Error::New(env);
}

enum class CopyResult { kOk, kNotStrings, kContainsNul };

// Copies a JS array of strings into *pack on the JS thread, so the worker never touches V8.
CopyResult CopyStringArray(napi_env env, napi_value value, StringPack* pack) {
  bool is_array = false;
  ThrowIfFailed(env, napi_is_array(env, value, &is_array));
  if (!is_array) return CopyResult::kNotStrings;
  uint32_t length = 0;
  ThrowIfFailed(env, napi_get_array_length(env, value, &length));
  pack->Reserve(length, static_cast<size_t>(length) * 64);

  // One call per path into a stack buffer. A result this close to the end may have been cut
  // (napi stops before a multi-byte character that does not fit), so it is fetched again at its
  // exact size; that only happens to paths longer than the kernel accepts anyway.
  char buffer[PATH_MAX + 1];
  for (uint32_t i = 0; i < length; i++) {
    napi_value element;
    ThrowIfFailed(env, napi_get_element(env, value, i, &element));
    size_t size = 0;
    napi_status status = napi_get_value_string_utf8(env, element, buffer, sizeof buffer, &size);
    if (status == napi_string_expected) return CopyResult::kNotStrings;
    ThrowIfFailed(env, status);
    const char* text = buffer;
    std::string long_text;
    if (size + 4 >= sizeof buffer) {
      ThrowIfFailed(env, napi_get_value_string_utf8(env, element, nullptr, 0, &size));
      long_text.resize(size);
      ThrowIfFailed(env, napi_get_value_string_utf8(env, element, &long_text[0], size + 1, &size));
      text = long_text.data();
    }
    // A NUL would silently cut the path short at the syscall; Node's fs refuses such paths too.
    if (std::memchr(text, '\0', size) != nullptr) return CopyResult::kContainsNul;
    pack->Add(text, size);
  }
  return CopyResult::kOk;
}

void CheckStringArray(Napi::Env env, napi_value value, StringPack* pack, const char* function) {
  switch (CopyStringArray(env, value, pack)) {
    case CopyResult::kOk:
      return;
    case CopyResult::kNotStrings:
      throw Napi::TypeError::New(env, std::string(function) + ": argument 0 must be an array of strings");
    case CopyResult::kContainsNul:
      throw Napi::TypeError::New(env, std::string(function) + ": argument 0 must not contain NUL bytes");
  }
}

std::string CheckString(const Napi::CallbackInfo& info, size_t index, const char* function) {
  if (info.Length() <= index || !info[index].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(function) + ": argument " + std::to_string(index) +
                                               " must be a string");
  }
  return info[index].As<Napi::String>().Utf8Value();
}

size_t CheckMaxBytes(const Napi::CallbackInfo& info, const char* function) {
  if (info.Length() >= 2 && info[1].IsNumber()) {
    const double value = info[1].As<Napi::Number>().DoubleValue();
    if (value >= 1 && value <= kMaxSafeInteger && value == static_cast<double>(static_cast<int64_t>(value))) {
      return static_cast<size_t>(value);
    }
  }
  throw Napi::TypeError::New(info.Env(), std::string(function) + ": argument 1 must be a positive integer");
}

// A result entry as a JS value: the errno as a number, or the text. ASCII text (nearly all kernel
// files) becomes a Latin-1 string, a plain byte copy into a one-byte V8 string; anything else goes
// through the UTF-8 decoder, which replaces invalid sequences with U+FFFD.
napi_value EntryToJs(napi_env env, const StringPack& pack, size_t i) {
  const StringPack::Entry& entry = pack.entry(i);
  napi_value result;
  if (entry.error == kNotRead) {
    ThrowIfFailed(env, napi_get_null(env, &result));
  } else if (entry.error != 0) {
    ThrowIfFailed(env, napi_create_uint32(env, static_cast<uint32_t>(entry.error), &result));
  } else if (entry.ascii) {
    ThrowIfFailed(env, napi_create_string_latin1(env, pack.data(i), entry.length, &result));
  } else {
    ThrowIfFailed(env, napi_create_string_utf8(env, pack.data(i), entry.length, &result));
  }
  return result;
}

Napi::Value PackToJsArray(Napi::Env env, const StringPack& pack) {
  napi_value array;
  ThrowIfFailed(env, napi_create_array_with_length(env, pack.size(), &array));
  for (size_t i = 0; i < pack.size(); i++) {
    ThrowIfFailed(env, napi_set_element(env, array, static_cast<uint32_t>(i), EntryToJs(env, pack, i)));
  }
  return Napi::Value(env, array);
}

// The entries of the files that were read, in order, without those not asked for: a sweep asks
// for a few thousand of ~19,000 files a call, and an array with a slot for every one (150 KiB
// at 1000 cgroups) went straight to V8's large-object space, old generation, each tick.
Napi::Value ReadEntriesToJsArray(Napi::Env env, const StringPack& pack) {
  uint32_t read = 0;
  for (size_t i = 0; i < pack.size(); i++) read += pack.entry(i).error == kNotRead ? 0 : 1;
  napi_value array;
  ThrowIfFailed(env, napi_create_array_with_length(env, read, &array));
  uint32_t next = 0;
  for (size_t i = 0; i < pack.size(); i++) {
    if (pack.entry(i).error == kNotRead) continue;
    ThrowIfFailed(env, napi_set_element(env, array, next++, EntryToJs(env, pack, i)));
  }
  return Napi::Value(env, array);
}

class CapstanAddon;

// Shared shape of the Promise-returning calls: arguments are copied by the constructor on the JS
// thread, Run() works on a libuv thread, Result() builds the JS value back on the JS thread.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name, CapstanAddon* addon)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), addon_(addon) {}

  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();  // from here on libuv owns this object and deletes it after OnOK/OnError
    return promise;
  }

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;

 private:
  void Execute() override {
    try {
      Run();
    } catch (const std::bad_alloc&) {
      SetError("out of memory");
    }
  }
  void OnOK() override { deferred_.Resolve(Result(Env())); }

 protected:
  void OnError(const Napi::Error&) override;

 private:

  Napi::Promise::Deferred deferred_;
  CapstanAddon* addon_;
};

// Enumerable, so Object.keys(addon) lists the surface.
constexpr napi_property_attributes kMethodAttributes =
    static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);

class CapstanAddon : public Napi::Addon<CapstanAddon> {
 public:
  CapstanAddon(Napi::Env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceMethod("initialize", &CapstanAddon::Initialize, kMethodAttributes),
                             InstanceMethod("readFiles", &CapstanAddon::ReadFilesAsync, kMethodAttributes),
                             InstanceMethod("readFilesSync", &CapstanAddon::ReadFilesSync, kMethodAttributes),
                             InstanceMethod("readLinks", &CapstanAddon::ReadLinksAsync, kMethodAttributes),
                             InstanceMethod("listDirectories", &CapstanAddon::ListDirectoriesAsync, kMethodAttributes),
                             InstanceMethod("writeFile", &CapstanAddon::WriteFileSync, kMethodAttributes),
                             InstanceMethod("createOomWatcher", &CapstanAddon::CreateOomWatcher, kMethodAttributes),
                             InstanceMethod("connectInNetns", &CapstanAddon::ConnectInNetnsAsync, kMethodAttributes),
                             InstanceMethod("spawnDaemon", &CapstanAddon::SpawnDaemonAsync, kMethodAttributes),
                             InstanceMethod("keptFilesCreate", &CapstanAddon::KeptFilesCreate, kMethodAttributes),
                             InstanceMethod("keptFilesAssign", &CapstanAddon::KeptFilesAssign, kMethodAttributes),
                             InstanceMethod("keptFilesRead", &CapstanAddon::KeptFilesReadAsync, kMethodAttributes),
                             InstanceMethod("keptFilesClose", &CapstanAddon::KeptFilesClose, kMethodAttributes),
                             InstanceMethod("directoryWatchCreate", &CapstanAddon::DirectoryWatchCreate, kMethodAttributes),
                             InstanceMethod("directoryWatchWalk", &CapstanAddon::DirectoryWatchWalkAsync, kMethodAttributes),
                             InstanceMethod("directoryWatchChanged", &CapstanAddon::DirectoryWatchChanged, kMethodAttributes),
                             InstanceMethod("directoryWatchClose", &CapstanAddon::DirectoryWatchClose, kMethodAttributes),
                             InstanceMethod("raiseOpenFileLimit", &CapstanAddon::RaiseOpenFileLimitSync, kMethodAttributes),
                             InstanceMethod("raiseOpenFileLimitTo", &CapstanAddon::RaiseOpenFileLimitToSync, kMethodAttributes),
                         });
  }

  // The NativeError instance (or, before initialize, a plain Error with the same fields) for a
  // failed syscall. Its constructor is (errno, syscall, path, description); it derives `code`
  // and the message, so errno names live in one place (TypeScript's errnoCode).
  Napi::Value MakeError(Napi::Env env, int error, const char* syscall, const std::string* path) {
    const std::string description = Describe(error);
    if (!error_class_.IsEmpty()) {
      return error_class_.New({Napi::Number::New(env, error), Napi::String::New(env, syscall),
                               path != nullptr ? Napi::Value(Napi::String::New(env, *path)) : env.Undefined(),
                               Napi::String::New(env, description)});
    }
    std::string message = description + ", " + syscall;
    if (path != nullptr) message += " '" + *path + "'";
    Napi::Error plain = Napi::Error::New(env, message);
    plain.Set("errno", Napi::Number::New(env, error));
    plain.Set("syscall", Napi::String::New(env, syscall));
    if (path != nullptr) plain.Set("path", Napi::String::New(env, *path));
    return plain.Value();
  }

 private:
  Napi::Value Initialize(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throw Napi::TypeError::New(info.Env(), "initialize: argument 0 must be a function");
    }
    error_class_ = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }

  Napi::Value ReadFilesAsync(const Napi::CallbackInfo& info);
  Napi::Value ReadFilesSync(const Napi::CallbackInfo& info);
  Napi::Value ReadLinksAsync(const Napi::CallbackInfo& info);
  Napi::Value ListDirectoriesAsync(const Napi::CallbackInfo& info);
  Napi::Value WriteFileSync(const Napi::CallbackInfo& info);

  // createOomWatcher(callback): an OomWatcher (oom_binding.cc), built from the class defined once
  // for this addon instance; its syscall errors are NativeErrors made by MakeError.
  Napi::Value CreateOomWatcher(const Napi::CallbackInfo& info) {
    if (oom_watcher_class_.IsEmpty()) {
      oom_make_error_ = [this](Napi::Env env, int error, const char* syscall, const std::string* path) {
        return MakeError(env, error, syscall, path);
      };
      oom_watcher_class_ = Napi::Persistent(DefineOomWatcherClass(info.Env(), &oom_make_error_));
    }
    return oom_watcher_class_.New({info.Length() > 0 ? info[0] : info.Env().Undefined()});
  }
  OomErrorFactory oom_make_error_;
  Napi::FunctionReference oom_watcher_class_;
  Napi::Value ConnectInNetnsAsync(const Napi::CallbackInfo& info);
  Napi::Value SpawnDaemonAsync(const Napi::CallbackInfo& info);
  Napi::Value KeptFilesCreate(const Napi::CallbackInfo& info);
  Napi::Value KeptFilesAssign(const Napi::CallbackInfo& info);
  Napi::Value KeptFilesReadAsync(const Napi::CallbackInfo& info);
  Napi::Value KeptFilesClose(const Napi::CallbackInfo& info);
  Napi::Value RaiseOpenFileLimitSync(const Napi::CallbackInfo& info);
  Napi::Value RaiseOpenFileLimitToSync(const Napi::CallbackInfo& info);
  Napi::Value DirectoryWatchCreate(const Napi::CallbackInfo& info);
  Napi::Value DirectoryWatchWalkAsync(const Napi::CallbackInfo& info);
  Napi::Value DirectoryWatchChanged(const Napi::CallbackInfo& info);
  Napi::Value DirectoryWatchClose(const Napi::CallbackInfo& info);
  int FindDirectoryWatch(const Napi::CallbackInfo& info, const char* function);

 public:
  // A kept-file set and whether a read of it is in flight on a worker thread (then it must not be
  // reassigned or closed: the worker uses its fds).
  struct KeptFilesSlot {
    KeptFileSet files;
    bool reading = false;
    bool close_after_read = false;
  };
  KeptFilesSlot* FindKeptFiles(const Napi::CallbackInfo& info, const char* function);
  void ForgetKeptFiles(uint32_t handle) { kept_files_.erase(handle); }

 private:
  // Native state: a reference to the JS error class, and the kept-file sets of the collector's
  // sweep (their fds are closed when the set is closed or the addon's instance data is torn down).
  Napi::FunctionReference error_class_;
  std::unordered_map<uint32_t, std::unique_ptr<KeptFilesSlot>> kept_files_;
  uint32_t next_kept_files_handle_ = 1;

 public:
  // Directory watches (collector discovery): handle → inotify fd. A watch closed while a walk is
  // in flight is closed when that walk ends.
  struct DirectoryWatchSlot {
    int fd = -1;
    bool walking = false;
    bool close_after_walk = false;
    ~DirectoryWatchSlot() {
      if (fd >= 0) close(fd);
    }
  };

 private:
  std::unordered_map<uint32_t, std::unique_ptr<DirectoryWatchSlot>> directory_watches_;
  uint32_t next_directory_watch_handle_ = 1;

 public:
  DirectoryWatchSlot* DirectoryWatchFor(uint32_t handle) {
    const auto found = directory_watches_.find(handle);
    return found == directory_watches_.end() ? nullptr : found->second.get();
  }
  void ForgetDirectoryWatch(uint32_t handle) { directory_watches_.erase(handle); }
};

void PromiseWorker::OnError(const Napi::Error&) {
  // Execute only fails when memory runs out.
  deferred_.Reject(addon_->MakeError(Env(), ENOMEM, "malloc", nullptr));
}

class ReadFilesWorker : public PromiseWorker {
 public:
  ReadFilesWorker(Napi::Env env, CapstanAddon* addon, StringPack paths, size_t max_bytes)
      : PromiseWorker(env, "capstan.readFiles", addon), paths_(std::move(paths)), max_bytes_(max_bytes) {}

 private:
  void Run() override { ReadFiles(paths_, max_bytes_, &results_); }
  Napi::Value Result(Napi::Env env) override { return PackToJsArray(env, results_); }

  StringPack paths_;
  size_t max_bytes_;
  StringPack results_;
};

class ReadLinksWorker : public PromiseWorker {
 public:
  ReadLinksWorker(Napi::Env env, CapstanAddon* addon, StringPack paths)
      : PromiseWorker(env, "capstan.readLinks", addon), paths_(std::move(paths)) {}

 private:
  void Run() override { ReadLinks(paths_, &results_); }
  Napi::Value Result(Napi::Env env) override { return PackToJsArray(env, results_); }

  StringPack paths_;
  StringPack results_;
};

class ListDirectoriesWorker : public PromiseWorker {
 public:
  ListDirectoriesWorker(Napi::Env env, CapstanAddon* addon, StringPack roots)
      : PromiseWorker(env, "capstan.listDirectories", addon), roots_(std::move(roots)) {}

 private:
  void Run() override {
    listings_.resize(roots_.size());
    errors_.assign(roots_.size(), 0);
    for (size_t i = 0; i < roots_.size(); i++) errors_[i] = ListDirectories(roots_.data(i), &listings_[i]);
  }
  Napi::Value Result(Napi::Env env) override {
    napi_value array;
    ThrowIfFailed(env, napi_create_array_with_length(env, roots_.size(), &array));
    for (size_t i = 0; i < roots_.size(); i++) {
      napi_value element;
      if (errors_[i] != 0) {
        ThrowIfFailed(env, napi_create_uint32(env, static_cast<uint32_t>(errors_[i]), &element));
      } else {
        element = PackToJsArray(env, listings_[i]);
      }
      ThrowIfFailed(env, napi_set_element(env, array, static_cast<uint32_t>(i), element));
    }
    return Napi::Value(env, array);
  }

  StringPack roots_;
  std::vector<StringPack> listings_;
  std::vector<int> errors_;
};

// Arguments are checked and copied before a worker exists; once queued, libuv owns the worker
// and deletes it after OnOK/OnError.
Napi::Value CapstanAddon::ReadFilesAsync(const Napi::CallbackInfo& info) {
  StringPack paths;
  CheckStringArray(info.Env(), info[0], &paths, "readFiles");
  const size_t max_bytes = CheckMaxBytes(info, "readFiles");
  return (new ReadFilesWorker(info.Env(), this, std::move(paths), max_bytes))->Start();
}

Napi::Value CapstanAddon::ReadFilesSync(const Napi::CallbackInfo& info) {
  StringPack paths;
  CheckStringArray(info.Env(), info[0], &paths, "readFilesSync");
  const size_t max_bytes = CheckMaxBytes(info, "readFilesSync");
  StringPack results;
  ReadFiles(paths, max_bytes, &results);
  return PackToJsArray(info.Env(), results);
}

Napi::Value CapstanAddon::ReadLinksAsync(const Napi::CallbackInfo& info) {
  StringPack paths;
  CheckStringArray(info.Env(), info[0], &paths, "readLinks");
  return (new ReadLinksWorker(info.Env(), this, std::move(paths)))->Start();
}

Napi::Value CapstanAddon::ListDirectoriesAsync(const Napi::CallbackInfo& info) {
  StringPack roots;
  CheckStringArray(info.Env(), info[0], &roots, "listDirectories");
  return (new ListDirectoriesWorker(info.Env(), this, std::move(roots)))->Start();
}

Napi::Value CapstanAddon::WriteFileSync(const Napi::CallbackInfo& info) {
  const std::string path = CheckString(info, 0, "writeFile");
  const std::string data = CheckString(info, 1, "writeFile");
  if (path.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(info.Env(), "writeFile: argument 0 must not contain NUL bytes");
  }
  const char* syscall = "";
  const int error = WriteFile(path.c_str(), data.data(), data.size(), &syscall);
  if (error != 0) throw Napi::Error(info.Env(), MakeError(info.Env(), error, syscall, &path));
  return info.Env().Undefined();
}

// connectInNetns(pid, port): the thread work lives in netns.cc; only argument checks are here.
Napi::Value CapstanAddon::ConnectInNetnsAsync(const Napi::CallbackInfo& info) {
  const auto integer_argument = [&info](size_t index, double low, double high) -> int {
    if (info.Length() > index && info[index].IsNumber()) {
      const double value = info[index].As<Napi::Number>().DoubleValue();
      if (value >= low && value <= high && value == static_cast<double>(static_cast<int64_t>(value))) return static_cast<int>(value);
    }
    throw Napi::TypeError::New(info.Env(), "connectInNetns: argument " + std::to_string(index) + " must be an integer from " +
                                               std::to_string(static_cast<int64_t>(low)) + " to " + std::to_string(static_cast<int64_t>(high)));
  };
  const int pid = integer_argument(0, 1, INT_MAX);
  const int port = integer_argument(1, 1, 65535);
  return ConnectInNetns(info.Env(), pid, port, [this](Napi::Env env, int error, const char* syscall, const std::string* path) {
    return MakeError(env, error, syscall, path);
  });
}

// spawnDaemon(file, argv, logPath): the work lives in netns.cc; only argument checks are here.
Napi::Value CapstanAddon::SpawnDaemonAsync(const Napi::CallbackInfo& info) {
  std::string file = CheckString(info, 0, "spawnDaemon");
  StringPack argv_pack;
  CheckStringArray(info.Env(), info.Length() > 1 ? info[1] : info.Env().Undefined(), &argv_pack, "spawnDaemon");
  std::string log_path = CheckString(info, 2, "spawnDaemon");
  if (file.find('\0') != std::string::npos || log_path.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(info.Env(), "spawnDaemon: paths must not contain NUL bytes");
  }
  std::vector<std::string> argv;
  argv.reserve(argv_pack.size());
  for (size_t i = 0; i < argv_pack.size(); i++) argv.emplace_back(argv_pack.data(i), argv_pack.entry(i).length);
  if (argv.empty()) throw Napi::TypeError::New(info.Env(), "spawnDaemon: argument 1 must hold at least argv[0]");
  return SpawnDaemon(info.Env(), std::move(file), std::move(argv), std::move(log_path),
                     [this](Napi::Env env, int error, const char* syscall, const std::string* path) { return MakeError(env, error, syscall, path); });
}

// Kept-file sets (kept_files.cc) are named by a handle: the collector creates one and owns it.
CapstanAddon::KeptFilesSlot* CapstanAddon::FindKeptFiles(const Napi::CallbackInfo& info, const char* function) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(function) + ": argument 0 must be a kept-file handle");
  }
  const auto found = kept_files_.find(info[0].As<Napi::Number>().Uint32Value());
  if (found == kept_files_.end()) throw Napi::Error::New(info.Env(), std::string(function) + ": unknown or closed kept-file handle");
  return found->second.get();
}

Napi::Value CapstanAddon::KeptFilesCreate(const Napi::CallbackInfo& info) {
  const uint32_t handle = next_kept_files_handle_++;
  kept_files_.emplace(handle, std::make_unique<KeptFilesSlot>());
  return Napi::Number::New(info.Env(), handle);
}

std::vector<uint8_t> CopyFlags(const Napi::CallbackInfo& info, size_t index, const char* function) {
  if (info.Length() <= index || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), std::string(function) + ": argument " + std::to_string(index) + " must be a Uint8Array");
  }
  Napi::Uint8Array flags = info[index].As<Napi::Uint8Array>();
  return std::vector<uint8_t>(flags.Data(), flags.Data() + flags.ElementLength());
}

// keptFilesAssign(handle, paths, keep: Uint8Array, singleRecord?: Uint8Array)
Napi::Value CapstanAddon::KeptFilesAssign(const Napi::CallbackInfo& info) {
  KeptFilesSlot* slot = FindKeptFiles(info, "keptFilesAssign");
  if (slot->reading) throw Napi::Error::New(info.Env(), "keptFilesAssign: a read of this set is in flight");
  StringPack paths;
  CheckStringArray(info.Env(), info.Length() > 1 ? info[1] : info.Env().Undefined(), &paths, "keptFilesAssign");
  std::vector<uint8_t> keep = CopyFlags(info, 2, "keptFilesAssign");
  if (keep.size() != paths.size()) throw Napi::RangeError::New(info.Env(), "keptFilesAssign: keep must have one flag per path");
  std::vector<uint8_t> single_record;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    single_record = CopyFlags(info, 3, "keptFilesAssign");
    if (single_record.size() != paths.size()) throw Napi::RangeError::New(info.Env(), "keptFilesAssign: singleRecord must have one flag per path");
  }
  slot->files.Assign(std::move(paths), std::move(keep), std::move(single_record));
  return info.Env().Undefined();
}

class KeptFilesReadWorker : public PromiseWorker {
 public:
  KeptFilesReadWorker(Napi::Env env, CapstanAddon* addon, uint32_t handle, CapstanAddon::KeptFilesSlot* slot,
                      std::vector<uint8_t> due, size_t max_bytes)
      : PromiseWorker(env, "capstan.keptFilesRead", addon), addon_(addon), handle_(handle), slot_(slot), due_(std::move(due)), max_bytes_(max_bytes) {}

 private:
  void Run() override { slot_->files.Read(due_, max_bytes_, &results_, &counts_); }
  Napi::Value Result(Napi::Env env) override {
    Finish();
    Napi::Object result = Napi::Object::New(env);
    result.Set("results", ReadEntriesToJsArray(env, results_));
    result.Set("kept", Napi::Number::New(env, static_cast<double>(counts_.kept)));
    result.Set("opened", Napi::Number::New(env, static_cast<double>(counts_.opened)));
    result.Set("closedVanished", Napi::Number::New(env, static_cast<double>(counts_.closed_vanished)));
    Napi::Array vanished = Napi::Array::New(env, counts_.vanished_indexes.size());
    for (size_t i = 0; i < counts_.vanished_indexes.size(); i++) vanished.Set(static_cast<uint32_t>(i), Napi::Number::New(env, counts_.vanished_indexes[i]));
    result.Set("vanishedIndexes", vanished);
    return result;
  }
  void OnError(const Napi::Error& error) override {
    Finish();
    PromiseWorker::OnError(error);
  }
  void Finish() {
    slot_->reading = false;
    if (slot_->close_after_read) addon_->ForgetKeptFiles(handle_);
  }

  CapstanAddon* addon_;
  uint32_t handle_;
  CapstanAddon::KeptFilesSlot* slot_;
  std::vector<uint8_t> due_;
  size_t max_bytes_;
  StringPack results_;
  KeptReadCounts counts_;
};

// keptFilesRead(handle, maxBytes, due?: Uint8Array) → Promise<{results, kept, opened, closedVanished}>
Napi::Value CapstanAddon::KeptFilesReadAsync(const Napi::CallbackInfo& info) {
  KeptFilesSlot* slot = FindKeptFiles(info, "keptFilesRead");
  if (slot->reading) throw Napi::Error::New(info.Env(), "keptFilesRead: a read of this set is in flight");
  const size_t max_bytes = CheckMaxBytes(info, "keptFilesRead");
  std::vector<uint8_t> due;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    due = CopyFlags(info, 2, "keptFilesRead");
    if (due.size() != slot->files.size()) throw Napi::RangeError::New(info.Env(), "keptFilesRead: due must have one flag per path");
  }
  slot->reading = true;
  const uint32_t handle = info[0].As<Napi::Number>().Uint32Value();
  return (new KeptFilesReadWorker(info.Env(), this, handle, slot, std::move(due), max_bytes))->Start();
}

// keptFilesClose(handle): closes every fd (after the read in flight, if any). Idempotent.
Napi::Value CapstanAddon::KeptFilesClose(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "keptFilesClose: argument 0 must be a kept-file handle");
  const auto found = kept_files_.find(info[0].As<Napi::Number>().Uint32Value());
  if (found == kept_files_.end()) return info.Env().Undefined();
  if (found->second->reading) {
    found->second->close_after_read = true;
  } else {
    kept_files_.erase(found);
  }
  return info.Env().Undefined();
}

// raiseOpenFileLimit() → {soft, hard}; throws NativeError (syscall 'getrlimit' | 'setrlimit').
Napi::Value CapstanAddon::RaiseOpenFileLimitSync(const Napi::CallbackInfo& info) {
  uint64_t soft = 0, hard = 0;
  const char* syscall = "";
  const int error = RaiseOpenFileLimit(&soft, &hard, &syscall);
  if (error != 0) throw Napi::Error(info.Env(), MakeError(info.Env(), error, syscall, nullptr));
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("soft", Napi::Number::New(info.Env(), static_cast<double>(soft)));
  result.Set("hard", Napi::Number::New(info.Env(), static_cast<double>(hard)));
  return result;
}

// raiseOpenFileLimitTo(atLeast) → {soft, hard, errno, syscall}: the limits in force afterwards,
// and 0 or why they could not be raised (a refusal is an answer here, not an exception: the
// caller says what to do instead).
Napi::Value CapstanAddon::RaiseOpenFileLimitToSync(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "raiseOpenFileLimitTo(atLeast): atLeast must be a number");
  const double wanted = info[0].As<Napi::Number>().DoubleValue();
  if (!(wanted >= 0) || wanted > 9007199254740991.0) throw Napi::RangeError::New(info.Env(), "raiseOpenFileLimitTo(atLeast): atLeast must be a whole number of fds");
  uint64_t soft = 0, hard = 0;
  const char* syscall = "";
  const int error = RaiseOpenFileLimitTo(static_cast<uint64_t>(wanted), &soft, &hard, &syscall);
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("soft", Napi::Number::New(info.Env(), static_cast<double>(soft)));
  result.Set("hard", Napi::Number::New(info.Env(), static_cast<double>(hard)));
  result.Set("errno", Napi::Number::New(info.Env(), error));
  result.Set("syscall", Napi::String::New(info.Env(), syscall));
  return result;
}

// Events that mean "a cgroup came or went": directories created, removed or renamed in a watched
// directory. The walk that follows finds out which.
constexpr uint32_t kDirectoryWatchMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;

Napi::Value CapstanAddon::DirectoryWatchCreate(const Napi::CallbackInfo& info) {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) throw Napi::Error(info.Env(), MakeError(info.Env(), errno, "inotify_init1", nullptr));
  const uint32_t handle = next_directory_watch_handle_++;
  auto slot = std::make_unique<DirectoryWatchSlot>();
  slot->fd = fd;
  directory_watches_.emplace(handle, std::move(slot));
  return Napi::Number::New(info.Env(), handle);
}

int CapstanAddon::FindDirectoryWatch(const Napi::CallbackInfo& info, const char* function) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(function) + ": argument 0 must be a watch handle");
  DirectoryWatchSlot* slot = DirectoryWatchFor(info[0].As<Napi::Number>().Uint32Value());
  if (slot == nullptr || slot->close_after_walk) throw Napi::Error::New(info.Env(), std::string(function) + ": unknown or closed watch handle");
  return slot->fd;
}

class DirectoryWatchWalkWorker : public PromiseWorker {
 public:
  DirectoryWatchWalkWorker(Napi::Env env, CapstanAddon* addon, uint32_t handle, int fd, StringPack roots)
      : PromiseWorker(env, "capstan.directoryWatchWalk", addon), addon_(addon), handle_(handle), fd_(fd), roots_(std::move(roots)) {}

 private:
  void Run() override {
    listings_.resize(roots_.size());
    errors_.assign(roots_.size(), 0);
    for (size_t i = 0; i < roots_.size(); i++) {
      errors_[i] = ListDirectoriesWatched(roots_.data(i), fd_, kDirectoryWatchMask, &listings_[i], &watch_error_);
    }
  }
  Napi::Value Result(Napi::Env env) override {
    Finish();
    Napi::Array listings = Napi::Array::New(env, roots_.size());
    for (size_t i = 0; i < roots_.size(); i++) {
      if (errors_[i] != 0) {
        listings.Set(static_cast<uint32_t>(i), Napi::Number::New(env, errors_[i]));
      } else {
        listings.Set(static_cast<uint32_t>(i), PackToJsArray(env, listings_[i]));
      }
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("listings", listings);
    result.Set("watchErrno", Napi::Number::New(env, watch_error_));
    return result;
  }
  void OnError(const Napi::Error& error) override {
    Finish();
    PromiseWorker::OnError(error);
  }
  void Finish() {
    CapstanAddon::DirectoryWatchSlot* slot = addon_->DirectoryWatchFor(handle_);
    if (slot == nullptr) return;
    slot->walking = false;
    if (slot->close_after_walk) addon_->ForgetDirectoryWatch(handle_);
  }

  CapstanAddon* addon_;
  uint32_t handle_;
  int fd_;
  StringPack roots_;
  std::vector<StringPack> listings_;
  std::vector<int> errors_;
  int watch_error_ = 0;
};

// directoryWatchWalk(handle, roots) → Promise<{listings, watchErrno}>
Napi::Value CapstanAddon::DirectoryWatchWalkAsync(const Napi::CallbackInfo& info) {
  const int fd = FindDirectoryWatch(info, "directoryWatchWalk");
  StringPack roots;
  CheckStringArray(info.Env(), info.Length() > 1 ? info[1] : info.Env().Undefined(), &roots, "directoryWatchWalk");
  const uint32_t handle = info[0].As<Napi::Number>().Uint32Value();
  DirectoryWatchFor(handle)->walking = true;
  return (new DirectoryWatchWalkWorker(info.Env(), this, handle, fd, std::move(roots)))->Start();
}

// directoryWatchChanged(handle) → whether a directory came or went (or events were lost) since the
// last call. Drains the queue without blocking.
Napi::Value CapstanAddon::DirectoryWatchChanged(const Napi::CallbackInfo& info) {
  const int fd = FindDirectoryWatch(info, "directoryWatchChanged");
  alignas(struct inotify_event) char buffer[16 * 1024];
  bool changed = false;
  for (;;) {
    const ssize_t count = read(fd, buffer, sizeof buffer);
    if (count < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      throw Napi::Error(info.Env(), MakeError(info.Env(), errno, "read", nullptr));
    }
    if (count == 0) break;
    for (ssize_t offset = 0; offset < count;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(buffer + offset);
      const bool directory_came_or_went = (event->mask & IN_ISDIR) && (event->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO));
      if (directory_came_or_went || (event->mask & IN_Q_OVERFLOW)) changed = true;
      offset += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
    }
  }
  return Napi::Boolean::New(info.Env(), changed);
}

Napi::Value CapstanAddon::DirectoryWatchClose(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "directoryWatchClose: argument 0 must be a watch handle");
  const uint32_t handle = info[0].As<Napi::Number>().Uint32Value();
  DirectoryWatchSlot* slot = DirectoryWatchFor(handle);
  if (slot == nullptr) return info.Env().Undefined();
  if (slot->walking) {
    slot->close_after_walk = true;
  } else {
    ForgetDirectoryWatch(handle);
  }
  return info.Env().Undefined();
}

}  // namespace
}  // namespace capstan

using capstan::CapstanAddon;
NODE_API_ADDON(CapstanAddon)
