/*
 * The shim's event loop while the container runs: container output → log (and the attached
 * client), the attached client's input → the container, SIGCHLD → reap. One poll(2) loop, no
 * threads.
 *
 * Attach socket (documented for the agent in shim-protocol.ts): raw bytes, no header.
 *   - tty: client → pty master (the container's terminal input); pty output → client, and the log.
 *     Output produced before the first client ever attached (up to 64 KiB) is replayed to it, so
 *     `run -it` sees the first prompt. End of input from the client ends that attach.
 *   - no tty (openStdin): client → the container's stdin pipe only; output goes to the log alone.
 *     End of input from the client closes the container's stdin (docker's StdinOnce).
 * With relay_t.linger_ms (exec), a tty command that ended before anyone attached keeps the socket
 * listening that long for its first client, so a command that finishes at once still shows its
 * output. One client at a time: a newer connection replaces the attached one. A client that does not read
 * what it is sent within 5 s is dropped, so it can never stall the container's output.
 *
 * Control socket (controlSocket, tty only): any number of JSON lines
 * {"type":"resize","rows":R,"cols":C} per connection; up to four connections at once.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

enum {
  kLineBytes = 16 * 1024,     /* a longer line is logged in pieces, as Docker does */
  kReadBytes = 32 * 1024,
  kReplayBytes = 64 * 1024,
  kPartialFlushMs = 1000,     /* a partial line (a prompt) is logged after this long without a newline */
  kDrainMs = 2000,            /* after the child exits, how long we wait for its output to end */
  kControlConnections = 4,
  kControlLineBytes = 512,
};

typedef struct {
  int fd;
  char line[kControlLineBytes];
  size_t len;
} control_conn_t;

typedef struct {
  const char *name; /* "stdout" | "stderr" */
  char data[kLineBytes];
  size_t len;
  struct timespec first; /* when the first byte of the pending line was read */
} line_t;

typedef struct {
  relay_t *r;
  line_t out;
  line_t err;
  int client;                 /* attached client, -1 when none */
  bool client_reading;        /* still reading the client's input (not half-closed) */
  char pending_in[kReadBytes];
  size_t pending_len;
  size_t pending_off;
  bool close_stdin_when_flushed;
  bool ever_attached;
  buf_t replay;
  control_conn_t control[kControlConnections];
} state_t;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

int listen_unix(const char *path, failure_t *f) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  int dir_fd = -1;
  if (strlen(path) < sizeof(addr.sun_path)) {
    strcpy(addr.sun_path, path);
  } else {
    /* Deep state directories make paths longer than sun_path (108 bytes): bind the name inside an
     * open descriptor of its directory instead. */
    char directory[PATH_MAX];
    snprintf(directory, sizeof(directory), "%s", path);
    char *slash = strrchr(directory, '/');
    if (!slash || slash == directory) return fail(f, "attach", "bind", ENAMETOOLONG, path, "socket path %s", path);
    *slash = '\0';
    dir_fd = open(directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return fail(f, "attach", "open", errno, directory, "open %s", directory);
    if (snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dir_fd, slash + 1) >= (int)sizeof(addr.sun_path)) {
      close(dir_fd);
      return fail(f, "attach", "bind", ENAMETOOLONG, path, "socket name %s is too long", slash + 1);
    }
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    int err = errno;
    if (dir_fd >= 0) close(dir_fd);
    return fail(f, "attach", "socket", err, path, "socket(AF_UNIX)");
  }
  if (unlink(path) < 0 && errno != ENOENT) {
    int err = errno;
    close(fd);
    if (dir_fd >= 0) close(dir_fd);
    return fail(f, "attach", "unlink", err, path, "remove the old socket %s", path);
  }
  /* Create it 0600 from the start: a umask-wide window would let anyone connect. */
  mode_t old = umask(0177);
  int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
  int err = errno;
  umask(old);
  if (dir_fd >= 0) close(dir_fd);
  if (rc < 0) {
    close(fd);
    return fail(f, "attach", "bind", err, path, "bind %s", path);
  }
  if (listen(fd, 4) < 0) {
    err = errno;
    close(fd);
    return fail(f, "attach", "listen", err, path, "listen on %s", path);
  }
  return fd;
}

/* ---- output ---- */

static void drop_client(state_t *s) {
  close_fd(&s->client);
  s->client_reading = false;
  s->pending_len = s->pending_off = 0;
}

static void send_to_client(state_t *s, const char *data, size_t len) {
  /* Without a tty the attach socket carries stdin only; output is read from the log. */
  if (len == 0 || s->r->pty_master < 0) return;
  if (s->client < 0) {
    if (s->ever_attached || s->replay.len >= kReplayBytes) return;
    size_t room = kReplayBytes - s->replay.len;
    buf_append(&s->replay, data, len < room ? len : room);
    return;
  }
  /* The client socket blocks with a send timeout: a stuck client is dropped, never waited for. */
  if (write_all(s->client, data, len) < 0) drop_client(s);
}

static void flush_line(state_t *s, line_t *line) {
  if (line->len == 0) return;
  log_record(s->r->log, line->name, line->data, line->len, &line->first);
  line->len = 0;
}

static void take_output(state_t *s, line_t *line, const char *data, size_t len) {
  send_to_client(s, data, len);
  if (!s->r->log) return;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  while (len > 0) {
    if (line->len == 0) line->first = now;
    const char *newline = memchr(data, '\n', len);
    size_t take = newline ? (size_t)(newline - data) + 1 : len;
    size_t room = kLineBytes - line->len;
    if (take > room) take = room;
    memcpy(line->data + line->len, data, take);
    line->len += take;
    data += take;
    len -= take;
    if (line->data[line->len - 1] == '\n' || line->len == kLineBytes) flush_line(s, line);
  }
}

/* Reads once from an output fd; returns false at EOF (or EIO: the pty's last slave closed). */
static bool read_output(state_t *s, int fd, line_t *line) {
  char chunk[kReadBytes];
  ssize_t n = read(fd, chunk, sizeof(chunk));
  if (n > 0) {
    take_output(s, line, chunk, (size_t)n);
    return true;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  return false;
}

/* ---- input ---- */

static int input_target(state_t *s) { return s->r->pty_master >= 0 ? s->r->pty_master : s->r->stdin_fd; }

static void flush_input(state_t *s) {
  int target = input_target(s);
  while (s->pending_off < s->pending_len) {
    if (target < 0) {
      s->pending_len = s->pending_off = 0;
      break;
    }
    ssize_t n = write(target, s->pending_in + s->pending_off, s->pending_len - s->pending_off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return; /* the container is not reading: wait for POLLOUT */
      /* The container closed its stdin: discard what the client sends. */
      s->pending_len = s->pending_off = 0;
      if (s->r->stdin_fd >= 0) close_fd(&s->r->stdin_fd);
      break;
    }
    s->pending_off += (size_t)n;
  }
  s->pending_len = s->pending_off = 0;
  if (s->close_stdin_when_flushed && s->r->stdin_fd >= 0) close_fd(&s->r->stdin_fd);
}

static void read_client(state_t *s) {
  ssize_t n = read(s->client, s->pending_in, sizeof(s->pending_in));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    if (s->r->pty_master >= 0) {
      drop_client(s); /* with a tty, end of input is the end of the attach */
    } else {
      /* Without one it is the end of the container's stdin (docker's StdinOnce); output goes on. */
      s->client_reading = false;
      s->close_stdin_when_flushed = true;
      if (s->r->stdin_fd >= 0) close_fd(&s->r->stdin_fd);
    }
    return;
  }
  s->pending_len = (size_t)n;
  s->pending_off = 0;
  flush_input(s);
}

static void set_winsize(state_t *s, const jnode_t *size) {
  const jnode_t *cols = json_get(size, "cols");
  const jnode_t *rows = json_get(size, "rows");
  if (s->r->pty_master < 0 || !cols || !rows || cols->type != J_NUMBER || rows->type != J_NUMBER) return;
  if (cols->number < 1 || cols->number > 65535 || rows->number < 1 || rows->number > 65535) return;
  struct winsize ws = {.ws_row = (unsigned short)rows->number, .ws_col = (unsigned short)cols->number};
  ioctl(s->r->pty_master, TIOCSWINSZ, &ws);
}

static void accept_client(state_t *s) {
  int fd = accept4(s->r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return;
  struct timeval send_timeout = {.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  if (s->client >= 0) drop_client(s);
  s->client = fd;
  s->client_reading = s->r->pty_master >= 0 || s->r->stdin_fd >= 0;
  if (!s->ever_attached) {
    s->ever_attached = true;
    if (s->replay.len > 0 && write_all(fd, s->replay.data, s->replay.len) < 0) drop_client(s);
    buf_free(&s->replay);
  }
}

/* ---- control socket: {"type":"resize","rows":R,"cols":C} lines ---- */

static void accept_control(state_t *s) {
  int fd = accept4(s->r->control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  int slot = 0;
  for (int i = 0; i < kControlConnections; i++) {
    if (s->control[i].fd < 0) {
      slot = i;
      break;
    }
  }
  /* All slots busy: the first connection is replaced (the newest client is the live one). */
  if (s->control[slot].fd >= 0) close(s->control[slot].fd);
  s->control[slot].fd = fd;
  s->control[slot].len = 0;
}

static void control_line(state_t *s, const char *line, size_t len) {
  char error[64];
  jnode_t *message = json_parse(line, len, error, sizeof(error));
  const jnode_t *type = json_get(message, "type");
  if (type && type->type == J_STRING && strcmp(type->string, "resize") == 0) set_winsize(s, message);
}

static void read_control(state_t *s, control_conn_t *c) {
  ssize_t n = read(c->fd, c->line + c->len, sizeof(c->line) - c->len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    close_fd(&c->fd);
    return;
  }
  c->len += (size_t)n;
  char *start = c->line;
  char *newline;
  while ((newline = memchr(start, '\n', c->len - (size_t)(start - c->line))) != NULL) {
    control_line(s, start, (size_t)(newline - start));
    start = newline + 1;
  }
  size_t rest = c->len - (size_t)(start - c->line);
  if (rest == sizeof(c->line)) {
    close_fd(&c->fd); /* a line longer than any message: not a client of ours */
    return;
  }
  memmove(c->line, start, rest);
  c->len = rest;
}

/* ---- the loop ---- */

static bool reap(relay_t *r, int *status) {
  struct signalfd_siginfo info;
  while (read(r->sigchld_fd, &info, sizeof(info)) > 0) {
  }
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0) return false;
    if (pid == r->child) {
      *status = st;
      return true;
    }
    /* Any other child (there should be none) is reaped too, never left a zombie. */
  }
}

int relay_run(relay_t *r) {
  state_t s;
  memset(&s, 0, sizeof(s));
  s.r = r;
  s.client = -1;
  s.out.name = "stdout";
  s.err.name = "stderr";
  for (int i = 0; i < kControlConnections; i++) s.control[i].fd = -1;
  if (r->pty_master >= 0) fcntl(r->pty_master, F_SETFL, fcntl(r->pty_master, F_GETFL) | O_NONBLOCK);
  if (r->stdin_fd >= 0) fcntl(r->stdin_fd, F_SETFL, fcntl(r->stdin_fd, F_GETFL) | O_NONBLOCK);

  bool exited = false;
  int status = 0;
  long long drain_deadline = 0;
  long long linger_deadline = 0;
  long long last_output = now_ms();
  /* Replay exists only with a pty, and the master is closed once it reports EIO. */
  const bool tty = r->pty_master >= 0;

  for (;;) {
    bool outputs_open = r->stdout_fd >= 0 || r->stderr_fd >= 0 || r->pty_master >= 0;
    bool draining = false;
    bool lingering = false;
    if (exited) {
      long long now = now_ms();
      draining = outputs_open && now < drain_deadline;
      /* Nobody has attached yet: keep the socket for the first client, who gets the replay. */
      lingering = tty && !s.ever_attached && r->listen_fd >= 0 && now < linger_deadline;
      if (!draining && !lingering) break;
    }

    struct pollfd fds[8 + kControlConnections];
    int n = 0;
    int i_sig = -1, i_out = -1, i_err = -1, i_pty = -1, i_stdin = -1, i_listen = -1, i_client = -1, i_control = -1;
    int i_conn[kControlConnections];
    bool input_pending = s.pending_off < s.pending_len;
    if (!exited) {
      i_sig = n;
      fds[n++] = (struct pollfd){.fd = r->sigchld_fd, .events = POLLIN};
    }
    if (r->stdout_fd >= 0) {
      i_out = n;
      fds[n++] = (struct pollfd){.fd = r->stdout_fd, .events = POLLIN};
    }
    if (r->stderr_fd >= 0) {
      i_err = n;
      fds[n++] = (struct pollfd){.fd = r->stderr_fd, .events = POLLIN};
    }
    if (r->pty_master >= 0) {
      i_pty = n;
      fds[n++] = (struct pollfd){.fd = r->pty_master, .events = (short)(POLLIN | (input_pending ? POLLOUT : 0))};
    }
    if (r->stdin_fd >= 0 && input_pending) {
      i_stdin = n;
      fds[n++] = (struct pollfd){.fd = r->stdin_fd, .events = POLLOUT};
    }
    if (r->listen_fd >= 0 && (!exited || lingering)) {
      i_listen = n;
      fds[n++] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
    }
    if (s.client >= 0 && s.client_reading && !input_pending) {
      i_client = n;
      fds[n++] = (struct pollfd){.fd = s.client, .events = POLLIN};
    }
    if (r->control_fd >= 0 && !exited) {
      i_control = n;
      fds[n++] = (struct pollfd){.fd = r->control_fd, .events = POLLIN};
    }
    for (int i = 0; i < kControlConnections; i++) {
      i_conn[i] = -1;
      if (s.control[i].fd >= 0 && !exited) {
        i_conn[i] = n;
        fds[n++] = (struct pollfd){.fd = s.control[i].fd, .events = POLLIN};
      }
    }

    int timeout = -1;
    bool partial = s.out.len > 0 || s.err.len > 0;
    if (partial) {
      long long left = last_output + kPartialFlushMs - now_ms();
      timeout = left > 0 ? (int)left : 0;
    }
    if (exited) {
      long long until = draining ? drain_deadline : 0;
      if (lingering && linger_deadline > until) until = linger_deadline;
      long long left = until - now_ms();
      if (left < 0) left = 0;
      if (timeout < 0 || left < timeout) timeout = (int)left;
    }

    int ready = poll(fds, (nfds_t)n, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      dprintf(STDERR_FILENO, "capstan-shim: poll: %s\n", strerror(errno));
      break;
    }
    if (partial && now_ms() - last_output >= kPartialFlushMs) {
      flush_line(&s, &s.out);
      flush_line(&s, &s.err);
    }

    if (i_out >= 0 && fds[i_out].revents) {
      last_output = now_ms();
      if (!read_output(&s, r->stdout_fd, &s.out)) close_fd(&r->stdout_fd);
    }
    if (i_err >= 0 && fds[i_err].revents) {
      last_output = now_ms();
      if (!read_output(&s, r->stderr_fd, &s.err)) close_fd(&r->stderr_fd);
    }
    if (i_pty >= 0 && (fds[i_pty].revents & (POLLIN | POLLHUP | POLLERR))) {
      last_output = now_ms();
      if (!read_output(&s, r->pty_master, &s.out)) {
        /* Keep the master open until the end for exec's sake? No: EIO means no slave is left. */
        close_fd(&r->pty_master);
      }
    }
    if ((i_pty >= 0 && (fds[i_pty].revents & POLLOUT)) || (i_stdin >= 0 && fds[i_stdin].revents)) flush_input(&s);
    if (i_client >= 0 && fds[i_client].revents) read_client(&s);
    if (i_listen >= 0 && (fds[i_listen].revents & POLLIN)) accept_client(&s);
    for (int i = 0; i < kControlConnections; i++) {
      if (i_conn[i] >= 0 && fds[i_conn[i]].revents && s.control[i].fd >= 0) read_control(&s, &s.control[i]);
    }
    if (i_control >= 0 && (fds[i_control].revents & POLLIN)) accept_control(&s);
    if (i_sig >= 0 && (fds[i_sig].revents & POLLIN)) {
      if (reap(r, &status)) {
        exited = true;
        drain_deadline = now_ms() + kDrainMs;
        linger_deadline = now_ms() + r->linger_ms;
      }
    }
  }

  /* The loop can also end on a poll failure, before the child was reaped: the exit record must
   * still carry its true wait status, never the 0 `status` starts with. */
  while (!exited) {
    if (waitpid(r->child, &status, 0) == r->child) exited = true;
    else if (errno != EINTR) break;
  }
  flush_line(&s, &s.out);
  flush_line(&s, &s.err);
  close_fd(&r->stdout_fd);
  close_fd(&r->stderr_fd);
  close_fd(&r->pty_master);
  close_fd(&r->stdin_fd);
  if (s.client >= 0) {
    shutdown(s.client, SHUT_RDWR);
    close_fd(&s.client);
  }
  for (int i = 0; i < kControlConnections; i++) close_fd(&s.control[i].fd);
  buf_free(&s.replay);
  return status;
}
