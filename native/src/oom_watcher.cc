// See oom_watcher.h. The kernel interfaces:
// - v1 (Documentation/admin-guide/cgroup-v1/memory.rst, "OOM Control"): writing "<event_fd>
//   <fd of memory.oom_control>" to cgroup.event_control makes the kernel signal the eventfd when
//   the cgroup (or an ancestor whose limit it shares) enters OOM, and once more when the cgroup is
//   removed. Closing the eventfd unregisters it.
// - v2 (Documentation/admin-guide/cgroup-v2.rst): memory.events raises a file-modified event when
//   one of its counters changes, for the cgroup and every ancestor (the counters are hierarchical).
#include "oom_watcher.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>

namespace capstan {
namespace {

// epoll data of the wake eventfd; watch ids start at 1.
constexpr uint64_t kWakeId = 0;
constexpr int kMaxEventsPerWait = 64;

bool Fail(SyscallFailure* failure, int error, const char* syscall, std::string path = std::string()) {
  failure->error = error;
  failure->syscall = syscall;
  failure->path = std::move(path);
  return false;
}

void CloseQuietly(int fd) {
  // close(2) on Linux releases the fd even when it reports EINTR: never retry.
  if (fd >= 0) ::close(fd);
}

}  // namespace

OomWatcher::OomWatcher(Notify notify) : notify_(std::move(notify)) {}

OomWatcher::~OomWatcher() { Close(); }

bool OomWatcher::Start(SyscallFailure* failure) {
  if (closed_) return Fail(failure, EBADF, "epoll_create1");
  if (epoll_fd_ >= 0) return true;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Fail(failure, errno, "epoll_create1");
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    const int error = errno;
    CloseQuietly(epoll_fd_);
    epoll_fd_ = -1;
    return Fail(failure, error, "eventfd");
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeId;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) != 0) {
    const int error = errno;
    CloseQuietly(wake_fd_);
    CloseQuietly(epoll_fd_);
    wake_fd_ = epoll_fd_ = -1;
    return Fail(failure, error, "epoll_ctl");
  }
  try {
    thread_ = std::thread(&OomWatcher::Run, this);
  } catch (const std::system_error& error) {
    CloseQuietly(wake_fd_);
    CloseQuietly(epoll_fd_);
    wake_fd_ = epoll_fd_ = -1;
    return Fail(failure, error.code().value() != 0 ? error.code().value() : EAGAIN, "pthread_create");
  }
  return true;
}

void OomWatcher::Run() {
  epoll_event events[kMaxEventsPerWait];
  for (;;) {
    const int count = epoll_wait(epoll_fd_, events, kMaxEventsPerWait, -1);
    if (count < 0) {
      if (errno == EINTR) continue;
      // EBADF/EINVAL only if the epoll fd were closed under us, which Close() never does before
      // joining: nothing sensible is left to do but stop.
      return;
    }
    // One clock reading per wake-up: every fd ready in it was signalled by then.
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const int64_t time_ns = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
    bool stop = false;
    for (int i = 0; i < count; i++) {
      const uint64_t id = events[i].data.u64;
      if (id == kWakeId) {
        stop = true;
        continue;
      }
      const bool failed = (events[i].events & (EPOLLERR | EPOLLHUP)) != 0;
      if (Drain(static_cast<uint32_t>(id), failed)) notify_(static_cast<uint32_t>(id), time_ns);
    }
    if (stop) return;
  }
}

bool OomWatcher::Drain(uint32_t id, bool failed) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = watches_.find(id);
  if (it == watches_.end()) return false;  // unwatched between epoll_wait and here
  Watch& watch = it->second;
  bool happened = false;
  bool broken = failed;
  if (watch.inotify) {
    // Events are only a doorbell: TypeScript re-reads the counters. Drain them all so the
    // level-triggered epoll does not report the same ones again.
    alignas(inotify_event) char buffer[4096];
    for (;;) {
      const ssize_t n = read(watch.event_fd, buffer, sizeof buffer);
      if (n > 0) {
        happened = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN) broken = true;
      break;
    }
  } else {
    uint64_t value = 0;
    ssize_t n;
    do {
      n = read(watch.event_fd, &value, sizeof value);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof value)) {
      happened = true;
    } else if (!(n < 0 && errno == EAGAIN)) {
      broken = true;
    }
  }
  if (broken && watch.in_epoll) {
    // An fd in error would wake epoll forever. Leave it in the watch (Unwatch closes it) but stop
    // listening, and report once so TypeScript re-reads and finds out what happened.
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, watch.event_fd, nullptr);
    watch.in_epoll = false;
    happened = true;
  }
  return happened;
}

bool OomWatcher::Add(Watch watch, uint32_t* watch_id, SyscallFailure* failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_ || epoll_fd_ < 0) {
    CloseWatch(watch);
    return Fail(failure, EBADF, "epoll_ctl");
  }
  // Ids are not reused within a watcher's life (2^32 watches would wrap; skip 0 and live ids).
  uint32_t id = next_id_;
  while (id == kWakeId || watches_.count(id) != 0) id++;
  next_id_ = id + 1;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = id;
  // Inserted and added under one lock, so the thread cannot see the fd before the map has it.
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, watch.event_fd, &event) != 0) {
    const int error = errno;
    CloseWatch(watch);
    return Fail(failure, error, "epoll_ctl");
  }
  watch.in_epoll = true;
  watches_.emplace(id, watch);
  *watch_id = id;
  return true;
}

bool OomWatcher::WatchV1(const std::string& memory_dir, uint32_t* watch_id, SyscallFailure* failure) {
  const std::string control_path = memory_dir + "/memory.oom_control";
  const std::string event_control_path = memory_dir + "/cgroup.event_control";
  Watch watch;
  watch.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (watch.event_fd < 0) return Fail(failure, errno, "eventfd");
  watch.control_fd = open(control_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (watch.control_fd < 0) {
    const int error = errno;
    CloseWatch(watch);
    return Fail(failure, error, "open", control_path);
  }
  const int event_control = open(event_control_path.c_str(), O_WRONLY | O_CLOEXEC);
  if (event_control < 0) {
    const int error = errno;
    CloseWatch(watch);
    return Fail(failure, error, "open", event_control_path);
  }
  char line[64];
  const int length = snprintf(line, sizeof line, "%d %d", watch.event_fd, watch.control_fd);
  ssize_t written;
  do {
    written = write(event_control, line, static_cast<size_t>(length));
  } while (written < 0 && errno == EINTR);
  const int write_error = written < 0 ? errno : (written != length ? EIO : 0);
  // The registration lives as long as the eventfd; the control file's fd is not needed for it.
  CloseQuietly(event_control);
  if (write_error != 0) {
    CloseWatch(watch);
    return Fail(failure, write_error, "write", event_control_path);
  }
  return Add(watch, watch_id, failure);
}

bool OomWatcher::WatchV2(const std::string& cgroup_dir, uint32_t* watch_id, SyscallFailure* failure) {
  const std::string events_path = cgroup_dir + "/memory.events";
  Watch watch;
  watch.inotify = true;
  watch.event_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (watch.event_fd < 0) return Fail(failure, errno, "inotify_init1");
  if (inotify_add_watch(watch.event_fd, events_path.c_str(), IN_MODIFY) < 0) {
    const int error = errno;
    CloseWatch(watch);
    return Fail(failure, error, "inotify_add_watch", events_path);
  }
  return Add(watch, watch_id, failure);
}

bool OomWatcher::Unwatch(uint32_t watch_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = watches_.find(watch_id);
  if (it == watches_.end()) return false;
  if (it->second.in_epoll) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.event_fd, nullptr);
  CloseWatch(it->second);
  watches_.erase(it);
  return true;
}

size_t OomWatcher::watch_count() {
  std::lock_guard<std::mutex> lock(mutex_);
  return watches_.size();
}

void OomWatcher::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
  }
  if (thread_.joinable()) {
    const uint64_t one = 1;
    ssize_t written;
    do {
      written = write(wake_fd_, &one, sizeof one);
    } while (written < 0 && errno == EINTR);
    // The only failure left is EAGAIN (counter at its maximum), and then the thread is already
    // due to wake up: join either way.
    thread_.join();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& entry : watches_) CloseWatch(entry.second);
  watches_.clear();
  CloseQuietly(wake_fd_);
  CloseQuietly(epoll_fd_);
  wake_fd_ = epoll_fd_ = -1;
}

void OomWatcher::CloseWatch(const Watch& watch) {
  CloseQuietly(watch.event_fd);
  CloseQuietly(watch.control_fd);
}

}  // namespace capstan
