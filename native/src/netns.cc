// See netns.h. The blocking half is plain POSIX; the promise half hands the result back to the JS
// thread through a thread-safe function.
#include "netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
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

// ---- Starting the container shim (see netns.h) ----------------------------------------------------

extern "C" char** environ;

namespace {

// A socket pair (a pipe both ways) whose ends are >= 10, so that adding "dup2 onto 3" can never
// meet an end that already is fd 3 (dup2 of an fd onto itself would keep its close-on-exec flag).
int HighSocketPair(int fds[2]) {
  int raw[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, raw) != 0) return errno;
  for (int i = 0; i < 2; i++) {
    fds[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, 10);
    const int error = errno;
    close(raw[i]);
    if (fds[i] < 0) {
      if (i == 1) close(fds[0]);
      return error;
    }
  }
  return 0;
}

}  // namespace

int SpawnDaemonProcess(const std::string& file, const std::vector<std::string>& argv, const std::string& log_path, DaemonResult* result,
                       const char** syscall) {
  int status_pipe[2];
  int error = HighSocketPair(status_pipe);
  if (error != 0) {
    *syscall = "socketpair";
    return error;
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_adddup2(&actions, status_pipe[1], 3);
  // The agent ignores SIGPIPE and may block signals on this thread: the shim starts clean.
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  error = posix_spawn(&pid, file.c_str(), &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(status_pipe[1]);
  if (error != 0) {
    close(status_pipe[0]);
    *syscall = "posix_spawn";
    return error;
  }
  result->pid = pid;
  result->status_fd = status_pipe[0];
  return 0;
}

namespace {

// Reaps the first process once it has daemonized (it forks and exits at once). Its exit status
// says nothing the status channel does not: a failure there is reported on fd 3 first.
void ReapFirstProcess(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

namespace {

struct SpawnJob {
  SpawnJob(Napi::Promise::Deferred deferred_in, ErrorFactory make_error_in) : deferred(deferred_in), make_error(std::move(make_error_in)) {}

  Napi::Promise::Deferred deferred;
  ErrorFactory make_error;
  std::string file;
  std::vector<std::string> argv;
  std::string log_path;
  DaemonResult result;
  int error = 0;
  const char* syscall = "";
};

void SettleSpawn(Napi::Env env, Napi::Function, SpawnJob* job) {
  if (env != nullptr) {
    if (job->error == 0) {
      Napi::Object value = Napi::Object::New(env);
      value.Set("pid", Napi::Number::New(env, job->result.pid));
      value.Set("statusFd", Napi::Number::New(env, job->result.status_fd));
      job->deferred.Resolve(value);
    } else {
      job->deferred.Reject(job->make_error(env, job->error, job->syscall, &job->file));
    }
  } else if (job->result.status_fd >= 0) {
    close(job->result.status_fd);
  }
  delete job;
}

}  // namespace

Napi::Promise SpawnDaemon(Napi::Env env, std::string file, std::vector<std::string> argv, std::string log_path, ErrorFactory make_error) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  Napi::Promise promise = deferred.Promise();
  auto* job = new SpawnJob(deferred, std::move(make_error));
  job->file = std::move(file);
  job->argv = std::move(argv);
  job->log_path = std::move(log_path);
  Napi::ThreadSafeFunction tsfn =
      Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "capstan.spawnDaemon", 0, 1);
  try {
    std::thread([job, tsfn]() mutable {
      job->error = SpawnDaemonProcess(job->file, job->argv, job->log_path, &job->result, &job->syscall);
      // Copied first: the settle callback owns (and deletes) the job.
      const pid_t pid = job->error == 0 ? job->result.pid : -1;
      if (tsfn.BlockingCall(job, SettleSpawn) != napi_ok) {
        if (job->result.status_fd >= 0) close(job->result.status_fd);
        delete job;
      }
      if (pid > 0) ReapFirstProcess(pid);
      tsfn.Release();
    }).detach();
  } catch (const std::exception&) {
    tsfn.Release();
    job->deferred.Reject(job->make_error(env, EAGAIN, "pthread_create", nullptr));
    delete job;
  }
  return promise;
}

}  // namespace capstan
