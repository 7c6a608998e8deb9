/*
 * `capstan-shim start [--when-told] <container-dir>`: daemonize, (with --when-told, wait for the
 * agent's go on fd 3,) start the container's main process in new namespaces inside its cgroups,
 * report the result on the status pipe (fd 3), then stay as the process's parent: log its output,
 * serve the attach socket, record its exit.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kStatusFd = 3 };

/* The status pipe, when the agent gave us one; otherwise messages only go to stderr. */
static int status_fd_or_none(void) { return fcntl(kStatusFd, F_GETFD) >= 0 ? kStatusFd : -1; }

/* Runs in the child (PID 1 of the new PID namespace) once it has joined its cgroups. */
static int child_setup(const shim_config_t *cfg, int ctl, failure_t *f) {
  if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) < 0) {
    return fail(f, "namespaces", "unshare", errno, "", "unshare(mount, uts, ipc, net)");
  }
  ctl_send_namespaces(ctl);
  if (bring_up_loopback(f) < 0) return -1;
  if (setup_rootfs(cfg, f) < 0) return -1;
  if (cfg->hostname && cfg->hostname[0] && sethostname(cfg->hostname, strlen(cfg->hostname)) < 0) {
    return fail(f, "hostname", "sethostname", errno, "", "sethostname(%s)", cfg->hostname);
  }
  if (cfg->tty && setup_pty_child(ctl, cfg->console_rows, cfg->console_cols, f) < 0) return -1;
  /* Docker creates a missing WORKDIR; with an image the root is writable, so do the same. */
  if (cfg->rootfs_kind == ROOTFS_OVERLAY) mkdir_all(cfg->cwd, 0755);
  process_spec_t spec = {.args = &cfg->args, .env = &cfg->env, .cwd = cfg->cwd, .user = &cfg->user, .capabilities = cfg->capabilities,
                         .seccomp = &cfg->seccomp};
  return finish_and_exec(&spec, f);
}

static void write_init_record(const shim_config_t *cfg, pid_t pid, unsigned long long ticks, const struct timespec *started) {
  char when[48];
  format_rfc3339nano(started, when, sizeof(when));
  buf_t b = {0};
  buf_printf(&b, "{\"pid\":%d,\"startTimeTicks\":%llu,\"shimPid\":%d,\"startedAt\":\"%s\"}\n", (int)pid, ticks, (int)getpid(), when);
  failure_t f;
  if (write_file_atomic(cfg->init_record_path, b.data, b.len, 0644, &f, "init", ATOMIC_NO_SYNC) < 0) dprintf(STDERR_FILENO, "capstan-shim: %s\n", f.message);
  buf_free(&b);
}

static void write_exit_record(const char *path, int status) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char when[48];
  format_rfc3339nano(&now, when, sizeof(when));
  buf_t b = {0};
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char *name = signal_name(sig);
    buf_printf(&b, "{\"exitCode\":%d,\"signal\":\"%s\",\"finishedAt\":\"%s\"}\n", 128 + sig, name, when);
  } else {
    buf_printf(&b, "{\"exitCode\":%d,\"finishedAt\":\"%s\"}\n", WEXITSTATUS(status), when);
  }
  failure_t f;
  if (write_file_atomic(path, b.data, b.len, 0644, &f, "exit", ATOMIC_SYNC_AFTER) < 0) dprintf(STDERR_FILENO, "capstan-shim: %s\n", f.message);
  buf_free(&b);
}

/* A reference to the mount namespace `pid` is in, or -1. */
static int open_mount_namespace(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
  return open(path, O_RDONLY | O_CLOEXEC);
}

/* Returns the container process's status as the shim's own exit status would: 128+signal, or the code. */
static int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

/* Everything after daemonizing. Returns the shim's exit status. */
static int run_shim(const shim_config_t *cfg, const char *container_dir, int status_fd) {
  failure_t f;
  logfile_t log = {.fd = -1};
  int ctl[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
    fail(&f, "sync", "socketpair", errno, "", "socketpair");
    goto report;
  }
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1};
  if (!cfg->tty) {
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
      fail(&f, "stdio", "pipe2", errno, "", "pipe2");
      goto report;
    }
    if (cfg->open_stdin && pipe2(in, O_CLOEXEC) < 0) {
      fail(&f, "stdio", "pipe2", errno, "", "pipe2");
      goto report;
    }
  }
  int listen_fd = -1;
  int control_fd = -1;
  if (cfg->tty || cfg->open_stdin) {
    listen_fd = listen_unix(cfg->attach_socket, &f);
    if (listen_fd < 0) goto report;
  }
  if (cfg->tty && cfg->control_socket) {
    control_fd = listen_unix(cfg->control_socket, &f);
    if (control_fd < 0) goto report;
  }

  /* SIGCHLD arrives through a signalfd; block it before the child exists so none is missed. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    fail(&f, "sync", "signalfd", errno, "", "signalfd");
    goto report;
  }

  /* Only the next child enters the new PID namespace, as its PID 1; the shim stays outside. */
  if (unshare(CLONE_NEWPID) < 0) {
    fail(&f, "namespaces", "unshare", errno, "", "unshare(CLONE_NEWPID)");
    goto report;
  }
  pid_t child = fork();
  if (child < 0) {
    fail(&f, "namespaces", "fork", errno, "", "fork into the new PID namespace");
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
    int devnull = -1;
    /* The command never runs outside its cgroups: joining them is the child's first act, and a
     * failure ends the start (the shim reports it with stage "cgroup"). */
    if (join_cgroups_self(&cfg->cgroup_procs_files, &cf) < 0) {
      ctl_send_failure(ctl[1], &cf);
      _exit(126);
    }
    if (!cfg->tty) {
      if (in[0] < 0) {
        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0) {
          fail(&cf, "stdio", "open", errno, "/dev/null", "open /dev/null");
          ctl_send_failure(ctl[1], &cf);
          _exit(126);
        }
      }
      if (dup2(in[0] >= 0 ? in[0] : devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) {
        fail(&cf, "stdio", "dup2", errno, "", "dup2 stdio");
        ctl_send_failure(ctl[1], &cf);
        _exit(126);
      }
    }
    child_setup(cfg, ctl[1], &cf);
    ctl_send_failure(ctl[1], &cf);
    _exit(cf.exit_code ? cf.exit_code : 126);
  }

  close(ctl[1]);
  if (out[1] >= 0) close(out[1]);
  if (err[1] >= 0) close(err[1]);
  if (in[0] >= 0) close(in[0]);

  /* The shim's own files, written while the child sets itself up (on the other CPU, if any). */
  int pty_master = -1;
  int mount_ns_fd = -1;
  char pid_text[32];
  int pid_len = snprintf(pid_text, sizeof(pid_text), "%d\n", (int)getpid());
  if (write_file_atomic(cfg->shim_pid_path, pid_text, (size_t)pid_len, 0644, &f, "shim", ATOMIC_NO_SYNC) < 0 ||
      log_open(&log, cfg->log_path, cfg->log_max_bytes, cfg->log_max_files, &f) < 0) {
    close(ctl[0]);
    goto kill_child;
  }

  /* Keep the container's mount namespace alive until its exit is recorded. When the last process
   * in a mount namespace exits, the kernel tears down every mount in it (and waits an RCU grace
   * period, several milliseconds) inside that exit, before the parent hears of it; holding a
   * reference moves the teardown to our close() below, after exit.json is written. The child says
   * when its namespaces exist, so the reference is taken while it still sets up, never too late.
   * Best effort: without it only the exit is slower. */
  int rc;
  while ((rc = ctl_receive_until_exec(ctl[0], &pty_master, &f)) == CTL_NAMESPACES) {
    if (mount_ns_fd < 0) mount_ns_fd = open_mount_namespace(child);
  }
  close(ctl[0]);
  if (rc == 0 && cfg->tty && pty_master < 0) {
    fail(&f, "tty", "recvmsg", EPROTO, "", "the container did not hand over its pty");
    rc = -1;
  }
  if (rc != 0) goto kill_child;

  struct timespec started;
  clock_gettime(CLOCK_REALTIME, &started);
  unsigned long long ticks = process_start_ticks(child);
  /* The agent hears first (it records the pid in spec.json itself); init.json, for an agent that
   * re-adopts the container later, follows at once. */
  status_started(status_fd, child, ticks);
  if (status_fd >= 0) close(status_fd);
  write_init_record(cfg, child, ticks, &started);

  relay_t relay = {
      .child = child,
      .sigchld_fd = sigfd,
      .stdout_fd = out[0],
      .stderr_fd = err[0],
      .stdin_fd = in[1],
      .pty_master = pty_master,
      .listen_fd = listen_fd,
      .control_fd = control_fd,
      .log = &log,
  };
  int status = relay_run(&relay);
  /* Every log record is already written (page cache) when exit.json appears, so a reader that
   * acts on exit.json sees the whole log; making it durable can wait until after (see
   * write_file_atomic on exit.json's own durability). */
  if (listen_fd >= 0) {
    close(listen_fd);
    unlink(cfg->attach_socket);
  }
  if (control_fd >= 0) {
    close(control_fd);
    unlink(cfg->control_socket);
  }
  write_exit_record(cfg->exit_record_path, status);
  log_sync(&log);
  if (mount_ns_fd >= 0) close(mount_ns_fd);
  (void)container_dir;
  return exit_code_of(status);

kill_child:
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  if (pty_master >= 0) close(pty_master);
  if (mount_ns_fd >= 0) close(mount_ns_fd);
report:
  status_error(status_fd, &f);
  if (cfg->attach_socket && (cfg->tty || cfg->open_stdin)) unlink(cfg->attach_socket);
  if (cfg->control_socket && cfg->tty) unlink(cfg->control_socket);
  return 1;
}

/* Blocks until the agent says go (one byte on fd 3); false when it hung up instead. */
static bool told_to_go(int status_fd) {
  char go;
  ssize_t n;
  do {
    n = read(status_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

int cmd_start(const char *container_dir, bool when_told) {
  int status_fd = status_fd_or_none();
  if (status_fd >= 0) fcntl(status_fd, F_SETFD, FD_CLOEXEC);
  failure_t f;
  if (container_dir[0] != '/') {
    fail(&f, "config", "", EINVAL, container_dir, "the container directory must be an absolute path: %s", container_dir);
    status_error(status_fd, &f);
    return 1;
  }
  if (when_told && status_fd < 0) {
    fail(&f, "config", "", EBADF, "", "--when-told needs the agent's socket as fd 3");
    status_error(status_fd, &f);
    return 1;
  }
  char config_path[PATH_MAX];
  if (snprintf(config_path, sizeof(config_path), "%s/config.json", container_dir) >= (int)sizeof(config_path)) {
    fail(&f, "config", "", ENAMETOOLONG, container_dir, "container directory path too long");
    status_error(status_fd, &f);
    return 1;
  }
  shim_config_t cfg;
  if (!when_told && load_shim_config(config_path, &cfg, &f) < 0) {
    status_error(status_fd, &f);
    return 1;
  }

  /* Double fork: the first child starts a new session and exits, so the shim is no session
   * leader (it can never acquire a controlling terminal) and is re-parented away from the agent:
   * the container outlives the agent. */
  pid_t first = fork();
  if (first < 0) {
    fail(&f, "daemonize", "fork", errno, "", "fork");
    status_error(status_fd, &f);
    return 1;
  }
  if (first > 0) {
    int st = 0;
    while (waitpid(first, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
  }
  if (setsid() < 0) {
    fail(&f, "daemonize", "setsid", errno, "", "setsid");
    status_error(status_fd, &f);
    _exit(1);
  }
  pid_t second = fork();
  if (second < 0) {
    fail(&f, "daemonize", "fork", errno, "", "fork");
    status_error(status_fd, &f);
    _exit(1);
  }
  if (second > 0) _exit(0);

  /* The shim proper. Its stdio must not hold the agent's pipes open: stdin/stdout to /dev/null,
   * stderr (diagnostics) appended to shim.log in the container directory. */
  if (chdir("/") < 0) {
    /* "/" always exists; nothing sensible to do otherwise. */
  }
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    dup2(devnull, STDOUT_FILENO);
    close(devnull);
  }
  char shim_log[PATH_MAX];
  snprintf(shim_log, sizeof(shim_log), "%s/shim.log", container_dir);
  int logfd = open(shim_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (logfd >= 0) {
    dup2(logfd, STDERR_FILENO);
    close(logfd);
  }
  umask(022);
  /* --when-told: the agent started us before preparing the container (cgroups, root filesystem,
   * config.json), so our exec and daemonizing overlap its work; only now is config.json there. */
  if (when_told) {
    if (!told_to_go(status_fd)) _exit(0);
    if (load_shim_config(config_path, &cfg, &f) < 0) {
      status_error(status_fd, &f);
      _exit(1);
    }
  }
  int code = run_shim(&cfg, container_dir, status_fd);
  _exit(code);
}
