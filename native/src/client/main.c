/*
 * capstan-client: the `capstan` program's first step (bin/capstan starts it). A short command costs
 * Node far more to start (about 190 ms of a `node -e ""` on a loaded machine, 37 MiB) than the
 * command itself; docker's Go client starts in a few milliseconds. So this program hands the
 * command line to the running agent over its CLI socket (<state dir>/cli.sock, mode 0600, which
 * only the agent's user and root can connect to) and copies what comes back to stdout and stderr.
 * The agent runs the same TypeScript CLI in its own process and decides which commands it serves
 * (server/cli/served.ts); for anything else it answers "not served" and this program becomes the
 * Node CLI (execv of build/server/cli/capstan.js), with the same arguments. So it holds no policy:
 * it only knows where the socket is and how the frames look.
 *
 * It also becomes the Node CLI, without asking, when the agent cannot be the one answering:
 * CAPSTAN_HOST or CAPSTAN_TOKEN select another agent or token; CAPSTAN_CLI=node asks for the Node
 * CLI; no socket, or none that answers. (A TZ other than the agent's is the agent's to refuse.)
 *
 * The protocol (server/agent/cli-frames.ts is the other side; integers are big-endian):
 *   request:  "CAPSTAN-CLI 2\n", u32 tty bits (1: stdout, 2: stderr), u32 argc, argc x (u32 length,
 *             bytes), u32 envc, envc x (u32 length, "NAME=VALUE"); the arguments after `capstan`
 *             (without a leading --state-dir DIR) and this process's environment, which the
 *             command reads as the Node CLI reads its own (run -e NAME, HOME for the registry
 *             credentials).
 *   then, from the client: 's' frames, u32 signal number: SIGINT and SIGTERM, which the agent
 *             hands to the command as the Node CLI's process would receive them (run passes them
 *             to the container, logs -f stops, others end with 128 + the signal).
 *   response: frames of u8 type, u32 length, payload: 'o' stdout bytes, 'e' stderr bytes, 'x' the
 *             exit status (u32), which ends the answer; 'k' a signal number (u32): the command
 *             ended by that signal, and so does this program; 'n' not served (payload: why),
 *             which also ends it.
 * A third SIGINT or SIGTERM ends this program at once, by that signal, whatever the agent does.
 * Closing the socket tells the agent the client is gone: it stops what the command was attached to.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_STATE_DIR "/var/lib/capstan"
#define SOCKET_NAME "cli.sock"
#define REQUEST_MAGIC "CAPSTAN-CLI 2\n"
/* Signals forwarded before the third ends this program by itself. */
#define FORWARDED_SIGNALS_BEFORE_EXIT 2
/* The agent refuses larger requests; past it the Node CLI takes the command. */
#define MAX_REQUEST_BYTES (1024 * 1024)
#define MAX_FRAME_BYTES (16 * 1024 * 1024)

/* Becomes the Node CLI with the original arguments. Returns only if that cannot start. */
static int become_node_cli(char **argv) {
  char self[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0) {
    fprintf(stderr, "capstan: cannot find the Node CLI: readlink /proc/self/exe: %s\n", strerror(errno));
    return 1;
  }
  self[length] = '\0';
  /* <package>/native/build/Release/capstan-client -> <package>/build/server/cli/capstan.js */
  for (int up = 0; up < 4; up++) {
    char *slash = strrchr(self, '/');
    if (slash == NULL) break;
    *slash = '\0';
  }
  char cli[PATH_MAX];
  if (snprintf(cli, sizeof cli, "%s/build/server/cli/capstan.js", self) >= (int)sizeof cli) {
    fprintf(stderr, "capstan: cannot find the Node CLI: the package path is too long\n");
    return 1;
  }
  argv[0] = cli;
  /* SIG_IGN would outlive execve into node and the processes it starts. */
  signal(SIGPIPE, SIG_DFL);
  /* capstan.js's #! line starts node (and sets NODE_EXTRA_CA_CERTS aside, as it explains). */
  execv(cli, argv);
  fprintf(stderr, "capstan: cannot start the Node CLI: execve %s: %s\n", cli, strerror(errno));
  return 1;
}

static int set_in_environment(const char *name) {
  const char *value = getenv(name);
  return value != NULL && value[0] != '\0';
}

static int write_all(int fd, const void *data, size_t length) {
  const char *bytes = data;
  while (length > 0) {
    ssize_t written = write(fd, bytes, length);
    if (written < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    bytes += written;
    length -= (size_t)written;
  }
  return 0;
}

/* 1: all read; 0: end of stream before the first byte; -1: error or a short read. */
static int read_exact(int fd, void *data, size_t length) {
  char *bytes = data;
  size_t done = 0;
  while (done < length) {
    ssize_t got = read(fd, bytes + done, length - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (got == 0) return done == 0 ? 0 : -1;
    done += (size_t)got;
  }
  return 1;
}

static void put_u32(char *at, uint32_t value) {
  at[0] = (char)(value >> 24);
  at[1] = (char)(value >> 16);
  at[2] = (char)(value >> 8);
  at[3] = (char)value;
}

static uint32_t get_u32(const unsigned char *at) {
  return ((uint32_t)at[0] << 24) | ((uint32_t)at[1] << 16) | ((uint32_t)at[2] << 8) | (uint32_t)at[3];
}

extern char **environ;

/* Appends (u32 length, bytes) at *at. */
static void put_string(char **at, const char *text) {
  size_t length = strlen(text);
  put_u32(*at, (uint32_t)length);
  memcpy(*at + 4, text, length);
  *at += 4 + length;
}

/* The request's bytes, or NULL when it would pass MAX_REQUEST_BYTES. */
static char *build_request(int argc, char **args, size_t *length_out) {
  size_t envc = 0;
  size_t length = strlen(REQUEST_MAGIC) + 12;
  for (int i = 0; i < argc; i++) length += 4 + strlen(args[i]);
  for (char **entry = environ; *entry != NULL; entry++, envc++) length += 4 + strlen(*entry);
  if (length > MAX_REQUEST_BYTES) return NULL;
  char *request = malloc(length);
  if (request == NULL) return NULL;
  char *at = request;
  memcpy(at, REQUEST_MAGIC, strlen(REQUEST_MAGIC));
  at += strlen(REQUEST_MAGIC);
  uint32_t tty = (isatty(STDOUT_FILENO) ? 1u : 0u) | (isatty(STDERR_FILENO) ? 2u : 0u);
  put_u32(at, tty);
  put_u32(at + 4, (uint32_t)argc);
  at += 8;
  for (int i = 0; i < argc; i++) put_string(&at, args[i]);
  put_u32(at, (uint32_t)envc);
  at += 4;
  for (char **entry = environ; *entry != NULL; entry++) put_string(&at, *entry);
  *length_out = length;
  return request;
}

/* Signals caught while the agent runs the command: written to a pipe the main loop polls. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int number) {
  int saved = errno;
  unsigned char byte = (unsigned char)number;
  (void)!write(signal_pipe[1], &byte, 1);
  errno = saved;
}

static int catch_forwarded_signals(void) {
  if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  struct sigaction action = {.sa_handler = on_signal};
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGINT, &action, NULL) != 0 || sigaction(SIGTERM, &action, NULL) != 0) return -1;
  return 0;
}

/* A connected socket to <state_dir>/cli.sock, or -1 (then the Node CLI answers, and says why). */
static int connect_agent(const char *state_dir) {
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (snprintf(address.sun_path, sizeof address.sun_path, "%s/%s", state_dir, SOCKET_NAME) >= (int)sizeof address.sun_path) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* fds 0-2 that are closed get /dev/null, as Node gives them: else the socket could become fd 1. */
static void open_standard_fds(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (opened >= 0 && opened != fd) {
      dup2(opened, fd);
      close(opened);
    }
  }
}

/* Ends this program as the signal would have ended the Node CLI: killed by it, not an exit code. */
static int die_by(int number) {
  signal(number, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, number);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(number);
  return 128 + number;
}

int main(int argc, char **argv) {
  open_standard_fds();
  if (set_in_environment("CAPSTAN_HOST") || set_in_environment("CAPSTAN_TOKEN")) return become_node_cli(argv);
  const char *mode = getenv("CAPSTAN_CLI");
  if (mode != NULL && strcmp(mode, "node") == 0) return become_node_cli(argv);

  /* A leading --state-dir chooses the socket; every other flag is the CLI's to read. */
  const char *state_dir = set_in_environment("CAPSTAN_STATE_DIR") ? getenv("CAPSTAN_STATE_DIR") : DEFAULT_STATE_DIR;
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "--state-dir") == 0) {
    state_dir = argv[2];
    first = 3;
  } else if (argc > 1 && strncmp(argv[1], "--state-dir=", 12) == 0) {
    state_dir = argv[1] + 12;
    first = 2;
  }
  if (state_dir[0] == '\0') return become_node_cli(argv);

  size_t request_length = 0;
  char *request = build_request(argc - first, argv + first, &request_length);
  if (request == NULL) return become_node_cli(argv);
  int agent = connect_agent(state_dir);
  if (agent < 0) return become_node_cli(argv);
  /* A closed stdout (`capstan ps | head -1`) is a normal end: EPIPE below, not a signal. */
  signal(SIGPIPE, SIG_IGN);
  if (write_all(agent, request, request_length) != 0) {
    close(agent);
    return become_node_cli(argv);
  }
  free(request);

  if (catch_forwarded_signals() != 0) {
    fprintf(stderr, "capstan: cannot catch SIGINT and SIGTERM: %s\n", strerror(errno));
    return 1;
  }
  int answered = 0;
  int forwarded = 0;
  int last_signal = 0;
  char *payload = NULL;
  for (;;) {
    struct pollfd ready[2] = {{.fd = agent, .events = POLLIN}, {.fd = signal_pipe[0], .events = POLLIN}};
    if (poll(ready, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "capstan: poll: %s\n", strerror(errno));
      return 1;
    }
    if (ready[1].revents & POLLIN) {
      unsigned char number;
      while (read(signal_pipe[0], &number, 1) == 1) {
        last_signal = number;
        if (++forwarded > FORWARDED_SIGNALS_BEFORE_EXIT) return die_by(number);
        char frame[9] = {'s'};
        put_u32(frame + 1, 4);
        put_u32(frame + 5, number);
        /* An agent that is gone shows on the socket's side of the poll. */
        (void)write_all(agent, frame, sizeof frame);
      }
    }
    if (!(ready[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    unsigned char header[5];
    int status = read_exact(agent, header, sizeof header);
    if (status != 1) {
      /*
       * Not handed to the Node CLI now: the agent may have begun the command (a run -d), and a
       * second run of it would not be the same command.
       */
      fprintf(stderr, answered ? "capstan: the agent closed the CLI socket before the command finished\n"
                               : "capstan: the agent closed the CLI socket before answering (is it stopping?)\n");
      return 1;
    }
    answered = 1;
    uint32_t length = get_u32(header + 1);
    if (length > MAX_FRAME_BYTES) {
      fprintf(stderr, "capstan: the agent sent a frame of %u bytes (at most %d expected)\n", length, MAX_FRAME_BYTES);
      return 1;
    }
    free(payload);
    payload = malloc(length > 0 ? length : 1);
    if (payload == NULL || (length > 0 && read_exact(agent, payload, length) != 1)) {
      fprintf(stderr, "capstan: the agent closed the CLI socket before the command finished\n");
      return 1;
    }
    switch (header[0]) {
      case 'o':
        if (write_all(STDOUT_FILENO, payload, length) != 0) {
          if (errno == EPIPE) return 0;
          fprintf(stderr, "capstan: write stdout: %s\n", strerror(errno));
          return 1;
        }
        break;
      case 'e':
        if (write_all(STDERR_FILENO, payload, length) != 0 && errno != EPIPE) return 1;
        break;
      case 'x':
        if (length != 4) {
          fprintf(stderr, "capstan: the agent sent an exit frame of %u bytes\n", length);
          return 1;
        }
        return (int)(get_u32((unsigned char *)payload) & 0xff);
      case 'k':
        /* A signal no handler of the command took (ps at Ctrl-C): it ends this program as it
         * would have ended the Node CLI's process. */
        if (length != 4) {
          fprintf(stderr, "capstan: the agent sent a signal frame of %u bytes\n", length);
          return 1;
        }
        return die_by((int)get_u32((unsigned char *)payload));
      case 'n': {
        close(agent);
        /* A Ctrl-C before the answer: the user wanted no command, not the Node CLI's run of it. */
        unsigned char number;
        if (read(signal_pipe[0], &number, 1) == 1) return die_by(number);
        if (last_signal != 0) return die_by(last_signal);
        return become_node_cli(argv);
      }
      default:
        fprintf(stderr, "capstan: the agent sent an unknown frame type 0x%02x\n", header[0]);
        return 1;
    }
  }
}
