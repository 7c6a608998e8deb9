// See netns.h. The blocking half is plain POSIX; the promise half hands the result back to the JS
// thread through a thread-safe function.
#include "netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <string>
#include <thread>
#include <utility>

namespace capstan {

namespace {

// A connect to a loopback listener completes at once, or fails at once when nothing listens; only
// a listener whose backlog is full leaves it waiting for SYN retries. Bound that wait, so a wedged
// container cannot pile up threads in the agent. Units: seconds.
constexpr int kConnectTimeoutSeconds = 10;

}  // namespace

int ConnectInNetnsBlocking(int pid, int port, int* fd, const char** syscall, std::string* path) {
  *fd = -1;
  const std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
  const int ns = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    *syscall = "open";
    *path = ns_path;
    return errno;
  }
  if (setns(ns, CLONE_NEWNET) != 0) {
    const int error = errno;
    close(ns);
    *syscall = "setns";
    *path = ns_path;
    return error;
  }
  close(ns);

  // The socket belongs to the namespace current when it is created: the container's.
  const int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    *syscall = "socket";
    return errno;
  }
  struct timeval timeout = {kConnectTimeoutSeconds, 0};
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  struct sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int result;
  do {
    result = connect(sock, reinterpret_cast<struct sockaddr*>(&address), sizeof address);
  } while (result != 0 && errno == EINTR);
  if (result != 0) {
    const int error = errno == EINPROGRESS ? ETIMEDOUT : errno;
    close(sock);
    *syscall = "connect";
    return error;
  }
  // Node's net.Socket switches the fd to non-blocking itself; the timeout no longer matters then.
  timeout = {0, 0};
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  *fd = sock;
  return 0;
}

namespace {

// Lives from the call until the JS thread has settled the promise.
struct ConnectJob {
  ConnectJob(Napi::Promise::Deferred deferred_in, ErrorFactory make_error_in, int pid_in, int port_in)
      : deferred(deferred_in), make_error(std::move(make_error_in)), pid(pid_in), port(port_in) {}

  Napi::Promise::Deferred deferred;
  ErrorFactory make_error;
  int pid;
  int port;
  int fd = -1;
  int error = 0;
  const char* syscall = "";
  std::string path;
};

void Settle(Napi::Env env, Napi::Function, ConnectJob* job) {
  if (env != nullptr) {
    if (job->error == 0) {
      job->deferred.Resolve(Napi::Number::New(env, job->fd));
    } else {
      job->deferred.Reject(job->make_error(env, job->error, job->syscall, job->path.empty() ? nullptr : &job->path));
    }
  } else if (job->fd >= 0) {
    close(job->fd);  // the environment is being torn down: nobody will take the fd
  }
  delete job;
}

}  // namespace

Napi::Promise ConnectInNetns(Napi::Env env, int pid, int port, ErrorFactory make_error) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  Napi::Promise promise = deferred.Promise();
  auto* job = new ConnectJob(deferred, std::move(make_error), pid, port);
  Napi::ThreadSafeFunction tsfn =
      Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "capstan.connectInNetns", 0, 1);
  try {
    std::thread([job, tsfn]() mutable {
      job->error = ConnectInNetnsBlocking(job->pid, job->port, &job->fd, &job->syscall, &job->path);
      if (tsfn.BlockingCall(job, Settle) != napi_ok) {
        if (job->fd >= 0) close(job->fd);
        delete job;
      }
      tsfn.Release();
    }).detach();
  } catch (const std::exception&) {
    // Could not start a thread (EAGAIN): report it like any failed syscall.
    tsfn.Release();
    job->deferred.Reject(job->make_error(env, EAGAIN, "pthread_create", nullptr));
    delete job;
  }
  return promise;
}

}  // namespace capstan
