// Glue between JavaScript and oom_watcher.cc: argument checks, the thread-safe function, the
// object's lifetime. No decisions: which cgroups to watch and what a notification means are
// TypeScript's business (server/oom/). The surface is server/native/contract.ts.
//
// Lifetime, in the order things can end:
// - close() from JS: wake and join the thread, close every fd, release the thread-safe function.
// - the environment tears down (process exit, worker terminated) with the watcher still open: a
//   cleanup hook does the same, so no thread outlives the environment and no fd leaks.
// - the JS object is garbage-collected: the destructor does the same.
#include "oom_binding.h"

#include <cstdint>
#include <memory>

#include "oom_watcher.h"

namespace capstan {
namespace {

// What the watcher thread hands to the JS thread for one wake-up of one watch.
struct Notification {
  uint32_t watch_id;
  // CLOCK_REALTIME when the wake-up was seen. Units: nanoseconds since the Unix epoch.
  int64_t time_ns;
};

class OomWatcherObject : public Napi::ObjectWrap<OomWatcherObject> {
 public:
  explicit OomWatcherObject(const Napi::CallbackInfo& info);
  ~OomWatcherObject() override;

  Napi::Value WatchV1(const Napi::CallbackInfo& info) { return Watch(info, "watchV1", &OomWatcher::WatchV1); }
  Napi::Value WatchV2(const Napi::CallbackInfo& info) { return Watch(info, "watchV2", &OomWatcher::WatchV2); }
  Napi::Value Unwatch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

 private:
  using WatchMethod = bool (OomWatcher::*)(const std::string&, uint32_t*, SyscallFailure*);
  static void CallJs(Napi::Env env, Napi::Function callback, void* context, void* data);
  using Delivery = Napi::TypedThreadSafeFunction<void, void, CallJs>;
  using Hook = Napi::Env::CleanupHook<void (*)(OomWatcherObject*), OomWatcherObject>;

  Napi::Value Watch(const Napi::CallbackInfo& info, const char* function, WatchMethod method);
  [[noreturn]] void ThrowFailure(Napi::Env env, const SyscallFailure& failure);
  static void OnEnvironmentCleanup(OomWatcherObject* self);
  // Joins the thread and releases the delivery; safe to call more than once.
  void Shutdown();
  void RemoveCleanupHook();

  const OomErrorFactory* make_error_;
  napi_env env_;
  Delivery delivery_;
  bool delivery_live_ = false;
  std::unique_ptr<OomWatcher> watcher_;
  Hook cleanup_hook_;
  bool hook_registered_ = false;
};

OomWatcherObject::OomWatcherObject(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<OomWatcherObject>(info),
      make_error_(static_cast<const OomErrorFactory*>(info.Data())),
      env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(env, "createOomWatcher: argument 0 must be a function");
  }
  // Unbounded queue: the watcher thread never blocks on JS, and notifications are rare (one per
  // OOM condition or memory.events change), so the queue cannot grow without bound in practice.
  delivery_ = Delivery::New(env, info[0].As<Napi::Function>(), "capstan.oomWatcher", 0, 1);
  delivery_live_ = true;
  // A passive watch must not keep the process alive on its own (like an unref'd timer); the agent
  // has its HTTP server for that.
  delivery_.Unref(env);

  Delivery delivery = delivery_;
  watcher_ = std::make_unique<OomWatcher>([delivery](uint32_t watch_id, int64_t time_ns) {
    // One small allocation per notification (they are rare): CallJs frees it, or this does when
    // the call is refused because the environment is closing (napi_closing).
    auto* note = new Notification{watch_id, time_ns};
    if (delivery.NonBlockingCall(note) != napi_ok) delete note;
  });
  SyscallFailure failure;
  if (!watcher_->Start(&failure)) {
    Shutdown();
    ThrowFailure(env, failure);
  }
  cleanup_hook_ = env.AddCleanupHook(&OomWatcherObject::OnEnvironmentCleanup, this);
  hook_registered_ = true;
}

OomWatcherObject::~OomWatcherObject() {
  Shutdown();
  RemoveCleanupHook();
}

void OomWatcherObject::CallJs(Napi::Env env, Napi::Function callback, void*, void* data) {
  std::unique_ptr<Notification> note(static_cast<Notification*>(data));
  // env is null when the environment is tearing down and the queue is being emptied.
  if (env == nullptr || callback.IsEmpty() || !note) return;
  try {
    // The time in milliseconds since the Unix epoch, with the nanoseconds as a fraction (a double
    // holds them to about a quarter of a microsecond).
    callback.Call({Napi::Number::New(env, note->watch_id), Napi::Number::New(env, static_cast<double>(note->time_ns) / 1e6)});
  } catch (const Napi::Error& error) {
    // Hand a throwing callback's error back to JS as an uncaught exception, as Node does for
    // its own callbacks, rather than lose it in native code.
    error.ThrowAsJavaScriptException();
  }
}

void OomWatcherObject::OnEnvironmentCleanup(OomWatcherObject* self) {
  self->hook_registered_ = false;
  self->Shutdown();
}

void OomWatcherObject::Shutdown() {
  // Join first: after this no thread calls the delivery, so releasing it is safe.
  if (watcher_) watcher_->Close();
  if (delivery_live_) {
    delivery_live_ = false;
    delivery_.Release();
  }
}

void OomWatcherObject::RemoveCleanupHook() {
  if (!hook_registered_) return;
  hook_registered_ = false;
  cleanup_hook_.Remove(Napi::Env(env_));
}

void OomWatcherObject::ThrowFailure(Napi::Env env, const SyscallFailure& failure) {
  const std::string* path = failure.path.empty() ? nullptr : &failure.path;
  throw Napi::Error(env, (*make_error_)(env, failure.error, failure.syscall, path));
}

Napi::Value OomWatcherObject::Watch(const Napi::CallbackInfo& info, const char* function, WatchMethod method) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, std::string(function) + ": argument 0 must be a string");
  }
  const std::string directory = info[0].As<Napi::String>().Utf8Value();
  if (directory.empty() || directory.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(env, std::string(function) + ": argument 0 must be a non-empty path without NUL bytes");
  }
  if (!watcher_ || watcher_->closed()) {
    throw Napi::Error::New(env, std::string(function) + ": the OOM watcher is closed");
  }
  uint32_t watch_id = 0;
  SyscallFailure failure;
  if (!((*watcher_).*method)(directory, &watch_id, &failure)) ThrowFailure(env, failure);
  return Napi::Number::New(env, watch_id);
}

Napi::Value OomWatcherObject::Unwatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "unwatch: argument 0 must be a watch id");
  }
  const double value = info[0].As<Napi::Number>().DoubleValue();
  if (!(value >= 1 && value <= 4294967295.0) || value != static_cast<double>(static_cast<uint32_t>(value))) {
    return Napi::Boolean::New(env, false);
  }
  const bool removed = watcher_ && !watcher_->closed() && watcher_->Unwatch(static_cast<uint32_t>(value));
  return Napi::Boolean::New(env, removed);
}

Napi::Value OomWatcherObject::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  RemoveCleanupHook();
  return info.Env().Undefined();
}

}  // namespace

Napi::Function DefineOomWatcherClass(Napi::Env env, const OomErrorFactory* make_error) {
  return OomWatcherObject::DefineClass(env, "OomWatcher",
                                       {
                                           OomWatcherObject::InstanceMethod<&OomWatcherObject::WatchV1>("watchV1"),
                                           OomWatcherObject::InstanceMethod<&OomWatcherObject::WatchV2>("watchV2"),
                                           OomWatcherObject::InstanceMethod<&OomWatcherObject::Unwatch>("unwatch"),
                                           OomWatcherObject::InstanceMethod<&OomWatcherObject::Close>("close"),
                                       },
                                       const_cast<OomErrorFactory*>(make_error));
}

}  // namespace capstan
