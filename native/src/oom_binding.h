// JavaScript face of the OOM watcher (oom_watcher.h): an object with watchV1, watchV2, unwatch and
// close, delivering "watch N fired" to one callback through a thread-safe function. binding.cc
// defines the class once per addon instance and hands out instances via createOomWatcher.
#ifndef CAPSTAN_NATIVE_OOM_BINDING_H_
#define CAPSTAN_NATIVE_OOM_BINDING_H_

#include <napi.h>

#include <functional>
#include <string>

namespace capstan {

// Builds the JS error for a failed syscall (binding.cc's NativeError factory).
using OomErrorFactory = std::function<Napi::Value(Napi::Env env, int error, const char* syscall, const std::string* path)>;

// The OomWatcher class. `make_error` must outlive the class (the addon instance owns both).
// `new OomWatcher(callback)` starts the watcher thread; callback(watchId) runs on the JS thread.
Napi::Function DefineOomWatcherClass(Napi::Env env, const OomErrorFactory* make_error);

}  // namespace capstan

#endif  // CAPSTAN_NATIVE_OOM_BINDING_H_
