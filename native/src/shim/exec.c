/*
 * `capstan-shim exec <container-dir> <exec-config.json>`: run one more process in a running
 * container. The shim joins the container's PID namespace for its children (setns only changes
 * where children go) and forks; the child moves itself into the container's cgroups, joins the
 * IPC, UTS, network and mount namespaces, then finishes as `start` does (user, capabilities,
 * no_new_privs, cwd, exec).
 *
 * Not daemonized: an exec session belongs to whoever started it. Without a tty the process
 * inherits this shim's stdin/stdout/stderr (the agent's pipes); with one, the shim serves the pty
 * on the exec config's attachSocket. The shim exits with the process's exit status (128+signal
 * when killed) and, when asked, also writes it to exitRecordPath.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kStatusFd = 3, kLingerMs = 5000 };

typedef struct {
  const char *name;
  int type;
  int fd;
} ns_t;

static int container_pid(const char *container_dir, pid_t *pid, failure_t *f) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/init.json", container_dir);
  size_t len = 0;
  char *text = read_file(path, 64 * 1024, &len, f, "exec");
  if (!text) {
    if (f->err == ENOENT) fail(f, "exec", "open", ESRCH, path, "the container has not started (no %s)", path);
    return -1;
  }
  char error[128];
  jnode_t *init = json_parse(text, len, error, sizeof(error));
  free(text);
  const jnode_t *p = json_get(init, "pid");
  const jnode_t *ticks = json_get(init, "startTimeTicks");
  if (!p || p->type != J_NUMBER || p->number < 1 || !ticks || ticks->type != J_NUMBER) {
    return fail(f, "exec", "", EINVAL, path, "%s does not hold a pid and start time", path);
  }
  *pid = (pid_t)p->number;
  /* The PID could have been reused by an unrelated process since the container exited. */
  unsigned long long actual = process_start_ticks(*pid);
  if (actual == 0 || actual != (unsigned long long)ticks->number) {
    return fail(f, "exec", "", ESRCH, path, "the container's process %d is not running", (int)*pid);
  }
  return 0;
}

static void write_exec_exit(const char *path, int status) {
  if (!path) return;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char when[48];
  format_rfc3339nano(&now, when, sizeof(when));
  buf_t b = {0};
  if (WIFSIGNALED(status)) {
    buf_printf(&b, "{\"exitCode\":%d,\"signal\":\"%s\",\"finishedAt\":\"%s\"}\n", 128 + WTERMSIG(status), signal_name(WTERMSIG(status)), when);
  } else {
    buf_printf(&b, "{\"exitCode\":%d,\"finishedAt\":\"%s\"}\n", WEXITSTATUS(status), when);
  }
  failure_t f;
  if (write_file_atomic(path, b.data, b.len, 0644, &f, "exit", ATOMIC_SYNC_AFTER) < 0) dprintf(STDERR_FILENO, "capstan-shim: %s\n", f.message);
  buf_free(&b);
}

int cmd_exec(const char *container_dir, const char *exec_config_path) {
  int status_fd = fcntl(kStatusFd, F_GETFD) >= 0 ? kStatusFd : -1;
  if (status_fd >= 0) fcntl(status_fd, F_SETFD, FD_CLOEXEC);
  failure_t f;
  exec_config_t ecfg;
  shim_config_t cfg;
  char config_path[PATH_MAX];
  pid_t target = 0;
  int listen_fd = -1;
  int control_fd = -1;
  ns_t namespaces[] = {
      {"pid", CLONE_NEWPID, -1}, {"ipc", CLONE_NEWIPC, -1}, {"uts", CLONE_NEWUTS, -1}, {"net", CLONE_NEWNET, -1}, {"mnt", CLONE_NEWNS, -1},
  };
  enum { kNamespaces = sizeof(namespaces) / sizeof(namespaces[0]) };

  if (container_dir[0] != '/' || exec_config_path[0] != '/') {
    fail(&f, "config", "", EINVAL, container_dir, "the container directory and exec config must be absolute paths");
    goto report;
  }
  if (load_exec_config(exec_config_path, &ecfg, &f) < 0) goto report;
  /* What the exec config leaves out comes from the container's own config.json / init.json. */
  if (!ecfg.has_cgroup_procs_files || !ecfg.has_capabilities || !ecfg.has_seccomp) {
    snprintf(config_path, sizeof(config_path), "%s/config.json", container_dir);
    if (load_shim_config(config_path, &cfg, &f) < 0) goto report;
    if (!ecfg.has_cgroup_procs_files) ecfg.cgroup_procs_files = cfg.cgroup_procs_files;
    if (!ecfg.has_capabilities) ecfg.capabilities = cfg.capabilities;
    if (!ecfg.has_seccomp) ecfg.seccomp = cfg.seccomp;
  }
  if (ecfg.pid > 0) {
    target = ecfg.pid;
    /* The PID could have been reused by an unrelated process since the container exited. */
    unsigned long long actual = process_start_ticks(target);
    if (actual == 0 || (ecfg.start_ticks != 0 && actual != ecfg.start_ticks)) {
      fail(&f, "setns", "", ESRCH, "", "the container's process %d is not running", (int)target);
      goto report;
    }
  } else if (container_pid(container_dir, &target, &f) < 0) {
    goto report;
  }

  for (size_t i = 0; i < kNamespaces; i++) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)target, namespaces[i].name);
    namespaces[i].fd = open(path, O_RDONLY | O_CLOEXEC);
    if (namespaces[i].fd < 0) {
      fail(&f, "setns", "open", errno, path, "open %s", path);
      goto report;
    }
  }
  if (ecfg.tty) {
    listen_fd = listen_unix(ecfg.attach_socket, &f);
    if (listen_fd < 0) goto report;
    if (ecfg.control_socket) {
      control_fd = listen_unix(ecfg.control_socket, &f);
      if (control_fd < 0) goto report;
    }
  }

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    fail(&f, "sync", "signalfd", errno, "", "signalfd");
    goto report;
  }
  /* Children are born in the container's PID namespace; the shim itself stays where it is. */
  if (setns(namespaces[0].fd, CLONE_NEWPID) < 0) {
    fail(&f, "setns", "setns", errno, "", "setns(pid) into the namespace of process %d", (int)target);
    goto report;
  }
  int ctl[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
    fail(&f, "sync", "socketpair", errno, "", "socketpair");
    goto report;
  }
  pid_t child = fork();
  if (child < 0) {
    fail(&f, "setns", "fork", errno, "", "fork into the container's PID namespace");
    goto report;
  }
  if (child == 0) {
    reset_signals_for_child();
    close(ctl[0]);
    if (status_fd >= 0) close(status_fd);
    if (listen_fd >= 0) close(listen_fd);
    if (control_fd >= 0) close(control_fd);
    close(sigfd);
    failure_t cf;
    /* Into the container's cgroups first, while /sys/fs/cgroup is still the host's (before
     * setns(mnt)), and before anything else runs. */
    if (join_cgroups_self(&ecfg.cgroup_procs_files, &cf) < 0) {
      ctl_send_failure(ctl[1], &cf);
      _exit(126);
    }
    /* The mount namespace last: after it, /proc is the container's. setns(mnt) also moves the
     * root and working directory to the namespace's root (the container's pivoted root). */
    for (size_t i = 1; i < kNamespaces; i++) {
      if (setns(namespaces[i].fd, namespaces[i].type) < 0) {
        fail(&cf, "setns", "setns", errno, "", "setns(%s) into the namespace of process %d", namespaces[i].name, (int)target);
        ctl_send_failure(ctl[1], &cf);
        _exit(126);
      }
    }
    if (ecfg.tty && setup_pty_child(ctl[1], ecfg.console_rows, ecfg.console_cols, &cf) < 0) {
      ctl_send_failure(ctl[1], &cf);
      _exit(126);
    }
    process_spec_t spec = {.args = &ecfg.args, .env = &ecfg.env, .cwd = ecfg.cwd, .user = &ecfg.user, .capabilities = ecfg.capabilities,
                           .seccomp = &ecfg.seccomp};
    finish_and_exec(&spec, &cf);
    ctl_send_failure(ctl[1], &cf);
    _exit(cf.exit_code ? cf.exit_code : 126);
  }
  close(ctl[1]);
  for (size_t i = 0; i < kNamespaces; i++) close(namespaces[i].fd);

  int pty_master = -1;
  int rc = ctl_receive_until_exec(ctl[0], &pty_master, &f);
  close(ctl[0]);
  if (rc != 0 || (ecfg.tty && pty_master < 0)) {
    if (rc == 0) fail(&f, "tty", "recvmsg", EPROTO, "", "the process did not hand over its pty");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (pty_master >= 0) close(pty_master);
    goto report;
  }
  status_started(status_fd, child, process_start_ticks(child));
  if (status_fd >= 0) close(status_fd);

  relay_t relay = {
      .child = child,
      .sigchld_fd = sigfd,
      .stdout_fd = -1,
      .stderr_fd = -1,
      .stdin_fd = -1,
      .pty_master = pty_master,
      .listen_fd = listen_fd,
      .control_fd = control_fd,
      .log = NULL,
      /* An exec has no log to fall back on: a command that ends before the agent has connected
       * (`exec -t c tty`) would lose its output without this. */
      .linger_ms = kLingerMs,
  };
  int status = relay_run(&relay);
  if (listen_fd >= 0) {
    close(listen_fd);
    unlink(ecfg.attach_socket);
  }
  if (control_fd >= 0) {
    close(control_fd);
    unlink(ecfg.control_socket);
  }
  write_exec_exit(ecfg.exit_record_path, status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);

report:
  status_error(status_fd, &f);
  if (listen_fd >= 0) unlink(ecfg.attach_socket);
  if (control_fd >= 0) unlink(ecfg.control_socket);
  return f.exit_code ? f.exit_code : 126;
}
