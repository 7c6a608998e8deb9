// The OOM watcher's syscall core: plain C++ over Linux APIs, no Node-API (oom_binding.cc is the JS
// glue). One background thread waits in epoll on a wake eventfd plus every watch's fd and reports
// "something happened on watch N". Whether that was a kill is decided in TypeScript, which reads
// and diffs the kernel's oom_kill counters: the v1 eventfd also fires on an OOM *condition*
// without a kill, and on v2 memory.events changes for many reasons besides oom_kill.
#ifndef CAPSTAN_NATIVE_OOM_WATCHER_H_
#define CAPSTAN_NATIVE_OOM_WATCHER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace capstan {

// A failed syscall: errno, the call's name and the path it was about (empty when none).
struct SyscallFailure {
  int error = 0;
  const char* syscall = "";
  std::string path;
};

class OomWatcher {
 public:
  // Called on the watcher thread, once per wake-up of a watch's fd, with the time the wake-up was
  // seen (CLOCK_REALTIME, taken right after epoll_wait returned): the nearest thing to "when the
  // kernel reported it" there is, since neither the eventfd nor inotify carries a time. Must not
  // block for long.
  using Notify = std::function<void(uint32_t watch_id, int64_t time_ns)>;

  explicit OomWatcher(Notify notify);
  ~OomWatcher();
  OomWatcher(const OomWatcher&) = delete;
  OomWatcher& operator=(const OomWatcher&) = delete;

  // Creates the epoll set and the wake eventfd and starts the thread. Returns false and fills
  // *failure when the kernel refuses.
  bool Start(SyscallFailure* failure);

  // cgroup v1: an eventfd registered through <dir>/cgroup.event_control on <dir>/memory.oom_control
  // (`memory_dir` is the cgroup's directory in the memory hierarchy).
  bool WatchV1(const std::string& memory_dir, uint32_t* watch_id, SyscallFailure* failure);

  // cgroup v2: inotify IN_MODIFY on <dir>/memory.events.
  bool WatchV2(const std::string& cgroup_dir, uint32_t* watch_id, SyscallFailure* failure);

  // Closes the watch's fds. Returns false for an unknown (or already removed) id. A notification
  // already on its way to JS may still arrive for it; callers ignore ids they no longer hold.
  bool Unwatch(uint32_t watch_id);

  // Wakes and joins the thread, then closes every fd. Idempotent; also run by the destructor.
  void Close();

  bool closed() const { return closed_; }
  size_t watch_count();

 private:
  struct Watch {
    // v1: the eventfd; v2: the inotify fd. This is the fd in the epoll set.
    int event_fd = -1;
    // v1 only: memory.oom_control, kept open for the registration's lifetime (as runc does).
    int control_fd = -1;
    bool inotify = false;
    // False once the fd failed and was taken out of the epoll set.
    bool in_epoll = false;
  };

  void Run();
  // Drains the fd of watch `id` (under the lock, so Unwatch cannot close it meanwhile) and says
  // whether to notify. `failed`: epoll reported EPOLLERR/EPOLLHUP for it.
  bool Drain(uint32_t id, bool failed);
  bool Add(Watch watch, uint32_t* watch_id, SyscallFailure* failure);
  static void CloseWatch(const Watch& watch);

  Notify notify_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  bool closed_ = false;

  // Guards watches_ and next_id_. The thread holds it only while draining one fd (non-blocking
  // reads), never while calling notify_.
  std::mutex mutex_;
  std::map<uint32_t, Watch> watches_;
  uint32_t next_id_ = 1;
};

}  // namespace capstan

#endif  // CAPSTAN_NATIVE_OOM_WATCHER_H_
