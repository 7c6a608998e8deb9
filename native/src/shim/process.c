/*
 * What the container's child does last (user, capabilities, working directory, exec), shared by
 * `start` and `exec`, and the control channel between the shim and that child.
 *
 * The control channel is a SOCK_SEQPACKET socketpair marked close-on-exec on both ends. The child
 * first joins its cgroups itself (join_cgroups_self); it may send a pty master (SCM_RIGHTS) and,
 * if a step fails, one failure record before it exits. When exec succeeds the kernel closes the
 * child's end, so the shim reads EOF: that is how it learns that the command is running.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

typedef struct {
  uint32_t kind;
  failure_t failure;
} ctl_msg_t;

static const char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/*
 * The calling process joins the cgroups whose cgroup.procs files are listed, by moving ITSELF:
 * on v1 it writes "0" (the writer) to the directory's `tasks`, which moves the writing thread
 * only and so skips the global cgroup_threadgroup_rwsem that a cgroup.procs write takes
 * (percpu_down_write → synchronize_rcu: 6-16 ms per start here, against ~0.2 ms). That is a
 * whole-process move only because the caller is single-threaded (a fresh fork of the shim, which
 * never starts threads). On v2 there is no `tasks`; "0" goes to cgroup.procs itself.
 * Called by the child before it does anything else, so nothing it runs is outside its cgroups.
 */
int join_cgroups_self(const strv_t *procs_files, failure_t *f) {
  for (size_t i = 0; i < procs_files->count; i++) {
    const char *procs = procs_files->items[i];
    const char *slash = strrchr(procs, '/');
    if (!slash || slash == procs) return fail(f, "cgroup", "open", EINVAL, procs, "not a cgroup file path: %s", procs);
    char tasks[PATH_MAX];
    if (snprintf(tasks, sizeof(tasks), "%.*s/tasks", (int)(slash - procs), procs) >= (int)sizeof(tasks)) {
      return fail(f, "cgroup", "open", ENAMETOOLONG, procs, "path too long: %s", procs);
    }
    const char *target = tasks;
    int fd = open(tasks, O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      target = procs; /* cgroup v2 */
      fd = open(procs, O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) return fail(f, "cgroup", "open", errno, target, "open %s", target);
    ssize_t n;
    do {
      n = write(fd, "0", 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      return fail(f, "cgroup", "write", err, target, "join the cgroup: write 0 to %s", target);
    }
    close(fd);
  }
  return 0;
}

int ctl_send_pty(int sock, int master_fd) {
  ctl_msg_t msg;
  memset(&msg, 0, sizeof(msg));
  msg.kind = CTL_PTY;
  struct iovec iov = {.iov_base = &msg, .iov_len = sizeof(msg.kind)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr hdr = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&hdr);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &master_fd, sizeof(int));
  ssize_t n;
  do {
    n = sendmsg(sock, &hdr, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -1 : 0;
}

void ctl_send_failure(int sock, const failure_t *f) {
  ctl_msg_t msg;
  memset(&msg, 0, sizeof(msg));
  msg.kind = CTL_FAILURE;
  msg.failure = *f;
  ssize_t n;
  do {
    n = send(sock, &msg, sizeof(msg), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

void ctl_send_namespaces(int sock) {
  uint32_t kind = CTL_NAMESPACES;
  ssize_t n;
  do {
    n = send(sock, &kind, sizeof(kind), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

int ctl_receive_until_exec(int sock, int *pty_fd, failure_t *f) {
  for (;;) {
    ctl_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    struct iovec iov = {.iov_base = &msg, .iov_len = sizeof(msg)};
    union {
      char buf[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } control;
    struct msghdr hdr = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(sock, &hdr, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(f, "sync", "recvmsg", errno, "", "reading the container's set-up result");
    if (n == 0) return 0;
    if (msg.kind == CTL_NAMESPACES) return CTL_NAMESPACES;
    if (msg.kind == CTL_PTY) {
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&hdr); c; c = CMSG_NXTHDR(&hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(pty_fd, CMSG_DATA(c), sizeof(int));
      }
      continue;
    }
    if (msg.kind == CTL_FAILURE && (size_t)n == sizeof(msg)) {
      *f = msg.failure;
      f->stage[sizeof(f->stage) - 1] = '\0';
      f->syscall[sizeof(f->syscall) - 1] = '\0';
      f->path[sizeof(f->path) - 1] = '\0';
      f->message[sizeof(f->message) - 1] = '\0';
      return 1;
    }
    return fail(f, "sync", "recvmsg", EPROTO, "", "unexpected message from the container's child");
  }
}

void reset_signals_for_child(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* An ignored disposition survives exec: the command must see SIGPIPE as usual. */
  signal(SIGPIPE, SIG_DFL);
}

int setup_pty_child(int ctl_sock, unsigned short rows, unsigned short cols, failure_t *f) {
  /* /dev/ptmx is the container's own devpts instance (newinstance, ptmxmode=0666), so the slave
   * exists inside the container and `tty` names it. */
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return fail(f, "tty", "open", errno, "/dev/ptmx", "open /dev/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) return fail(f, "tty", "ioctl", errno, "/dev/ptmx", "ioctl(TIOCSPTLCK)");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) return fail(f, "tty", "ioctl", errno, "/dev/ptmx", "ioctl(TIOCGPTPEER)");
  struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
  ioctl(slave, TIOCSWINSZ, &ws);
  if (ctl_send_pty(ctl_sock, master) < 0) return fail(f, "tty", "sendmsg", errno, "", "handing the pty to the shim");
  close(master);
  if (setsid() < 0) return fail(f, "tty", "setsid", errno, "", "setsid");
  if (ioctl(slave, TIOCSCTTY, 0) < 0) return fail(f, "tty", "ioctl", errno, "", "ioctl(TIOCSCTTY)");
  for (int fd = 0; fd < 3; fd++) {
    if (dup2(slave, fd) < 0) return fail(f, "tty", "dup2", errno, "", "dup2 pty to fd %d", fd);
  }
  if (slave > 2) close(slave);
  return 0;
}

static const char *env_lookup(const strv_t *env, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < env->count; i++) {
    if (strncmp(env->items[i], name, n) == 0 && env->items[i][n] == '=') return env->items[i] + n + 1;
  }
  return NULL;
}

/* The message in the words of docker's runtime (Go's os/exec and syscall errors), which scripts
 * match on: a missing path is `exec: "/x": stat /x: no such file or directory`, any other errno
 * is strerror with a lower-case first letter (`permission denied`, `exec format error`). */
static void go_exec_message(failure_t *f, const char *command, const char *path, int err) {
  char reason[256];
  snprintf(reason, sizeof(reason), "%s", strerror(err));
  if (reason[0] >= 'A' && reason[0] <= 'Z') reason[0] = (char)(reason[0] - 'A' + 'a');
  if (err == ENOENT) {
    snprintf(f->message, sizeof(f->message), "exec: \"%s\": stat %s: %s", command, path, reason);
  } else {
    snprintf(f->message, sizeof(f->message), "exec: \"%s\": %s", command, reason);
  }
}

int finish_and_exec(const process_spec_t *spec, failure_t *f) {
  if (apply_user_and_capabilities(spec->user, spec->capabilities, f) < 0) return -1;
  if (chdir(spec->cwd) < 0) return fail(f, "cwd", "chdir", errno, spec->cwd, "chdir to the working directory %s", spec->cwd);

  /* Nothing of the shim's may reach the command: every descriptor above stdio closes on exec
   * (the control socket already does, and it must stay open until then). */
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) return fail(f, "exec", "close_range", errno, "", "close_range");
  /* The filter comes last, after no_new_privs (apply_user_and_capabilities): nothing the shim
   * itself still has to do can be refused by it; from here on only execve and the failure report
   * (send, exit_group) run, which any profile that can start a program allows. */
  if (spec->seccomp && load_seccomp(spec->seccomp, f) < 0) return -1;

  char *const *argv = spec->args->items;
  char *const *envp = spec->env->items;
  const char *command = argv[0];
  if (strchr(command, '/')) {
    execve(command, argv, envp);
    int err = errno;
    fail(f, "exec", "execve", err, command, "exec: \"%s\"", command);
    go_exec_message(f, command, command, err);
    f->exit_code = err == ENOENT ? 127 : 126;
    return -1;
  }

  const char *search = env_lookup(spec->env, "PATH");
  if (!search) search = kDefaultPath;
  bool saw_eacces = false;
  int other_err = 0;
  char other_path[PATH_MAX] = "";
  const char *p = search;
  for (;;) {
    const char *colon = strchr(p, ':');
    size_t dir_len = colon ? (size_t)(colon - p) : strlen(p);
    char candidate[PATH_MAX];
    int n = dir_len == 0 ? snprintf(candidate, sizeof(candidate), "%s", command)
                         : snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)dir_len, p, command);
    if (n > 0 && n < (int)sizeof(candidate)) {
      execve(candidate, argv, envp);
      int err = errno;
      if (err == EACCES) {
        saw_eacces = true;
        snprintf(other_path, sizeof(other_path), "%s", candidate);
      } else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ELOOP && err != ENAMETOOLONG && other_err == 0) {
        other_err = err;
        snprintf(other_path, sizeof(other_path), "%s", candidate);
      }
    }
    if (!colon) break;
    p = colon + 1;
  }
  if (other_err) {
    fail(f, "exec", "execve", other_err, other_path, "exec: \"%s\"", other_path);
    go_exec_message(f, other_path, other_path, other_err);
    f->exit_code = 126;
  } else if (saw_eacces) {
    fail(f, "exec", "execve", EACCES, other_path, "exec: \"%s\"", other_path);
    go_exec_message(f, other_path, other_path, EACCES);
    f->exit_code = 126;
  } else {
    fail(f, "exec", "execve", ENOENT, command, "exec: \"%s\": executable file not found in $PATH", command);
    /* Keep docker's wording: no ": No such file or directory" tail after "not found in $PATH". */
    snprintf(f->message, sizeof(f->message), "exec: \"%s\": executable file not found in $PATH", command);
    f->exit_code = 127;
  }
  return -1;
}
