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
#include <vector>

namespace capstan {

// Moves the calling thread into /proc/<pid>/ns/net and connects a new TCP socket to
// 127.0.0.1:<port>. Returns 0 and sets *fd (close-on-exec, blocking), or returns the errno and
// sets *syscall (and *path when the failure was about one).
int ConnectInNetnsBlocking(int pid, int port, int* fd, const char** syscall, std::string* path);

// Builds the JS error for a failed syscall (the addon's NativeError).
using ErrorFactory = std::function<Napi::Value(Napi::Env env, int error, const char* syscall, const std::string* path)>;

// Runs ConnectInNetnsBlocking on a dedicated short-lived thread; the promise resolves with the fd.
Napi::Promise ConnectInNetns(Napi::Env env, int pid, int port, ErrorFactory make_error);

// ---- Starting the container shim --------------------------------------------------------------
// Kept here, next to the other primitive the runtime needs, because it is the same kind of thing:
// one syscall sequence the runtime cannot express in JavaScript.
//
// Node's child_process forks the agent; with a large heap that copies page tables for several
// milliseconds, on the path of every container start. posix_spawn (glibc: clone with CLONE_VM |
// CLONE_VFORK) does not copy. The program gets a new session, /dev/null as stdin, stdout and
// stderr appended to `log_path`, and fd 3 = one end of a new unix socket pair (the shim's status
// channel: it reports there, and with `start --when-told` it also waits there for the go byte).
// The call settles as soon as the process runs (the caller can talk to it at once); the same thread
// then waits for that first process, which daemonizes at once, so no zombie is left.
struct DaemonResult {
  int pid = -1;
  int status_fd = -1;  // the caller's end of the socket pair (close-on-exec), owned by the caller
};

// Runs SpawnDaemonProcess on a short-lived thread; resolves with {pid, statusFd}, then reaps.
Napi::Promise SpawnDaemon(Napi::Env env, std::string file, std::vector<std::string> argv, std::string log_path, ErrorFactory make_error);

// Starts the process. Returns 0, or the errno with *syscall set.
int SpawnDaemonProcess(const std::string& file, const std::vector<std::string>& argv, const std::string& log_path, DaemonResult* result,
                       const char** syscall);

}  // namespace capstan

#endif  // CAPSTAN_NATIVE_NETNS_H_
