// Opening a TCP connection inside another process's network namespace, for published ports: the
// agent listens on the host and, per accepted connection, connects to the container's loopback.
//
// setns(CLONE_NEWNET) changes the namespace of the calling THREAD for good, so it must never run
// on the JS thread or a libuv pool thread (later work there would silently use the container's
// network). Each call therefore runs on a thread of its own that ends right after connect().
#ifndef CAPSTAN_NATIVE_NETNS_H_
#define CAPSTAN_NATIVE_NETNS_H_

#include <napi.h>

#include <functional>
#include <string>

namespace capstan {

// Moves the calling thread into /proc/<pid>/ns/net and connects a new TCP socket to
// 127.0.0.1:<port>. Returns 0 and sets *fd (close-on-exec, blocking), or returns the errno and
// sets *syscall (and *path when the failure was about one).
int ConnectInNetnsBlocking(int pid, int port, int* fd, const char** syscall, std::string* path);

// Builds the JS error for a failed syscall (the addon's NativeError).
using ErrorFactory = std::function<Napi::Value(Napi::Env env, int error, const char* syscall, const std::string* path)>;

// Runs ConnectInNetnsBlocking on a dedicated short-lived thread; the promise resolves with the fd.
Napi::Promise ConnectInNetns(Napi::Env env, int pid, int port, ErrorFactory make_error);

}  // namespace capstan

#endif  // CAPSTAN_NATIVE_NETNS_H_
