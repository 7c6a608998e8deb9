/*
 * capstan-shim: the per-container parent process (like conmon). It performs syscalls only; every
 * decision (which namespaces' paths, which cgroups, which capabilities) arrives already made in
 * config.json, written by the agent (server/runtime/shim-protocol.ts is the contract).
 *
 * This header is shared by the shim's translation units: failure reporting, the JSON reader and
 * writer, the configuration, and the pieces of container set-up.
 */
#ifndef CAPSTAN_SHIM_H
#define CAPSTAN_SHIM_H

#define _GNU_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ---- failures ------------------------------------------------------------------------------ */

/*
 * One failed step, as the status pipe reports it: the stage of set-up ("mount", "cgroup", "exec",
 * ...), the syscall, errno, the path involved, and a sentence. It is a plain struct of fixed-size
 * fields so the container's child can send it to the shim in one message over a socket.
 */
typedef struct {
  char stage[32];
  char syscall[32];
  int err;
  /* Docker's convention for exec failures: 127 command not found, 126 not executable; 0 = unset. */
  int exit_code;
  char path[PATH_MAX];
  char message[1024];
} failure_t;

/* Records a failure; returns -1 so callers can `return fail(...)`. `err` 0 means "not an errno". */
int fail(failure_t *f, const char *stage, const char *syscall, int err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* errno's symbolic name: ENOENT. */
const char *errno_name(int err);

/* ---- growable byte buffer ------------------------------------------------------------------ */

typedef struct {
  char *data;
  size_t len;
  size_t cap;
} buf_t;

void buf_reserve(buf_t *b, size_t more);
void buf_append(buf_t *b, const void *data, size_t len);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `len` bytes as a JSON string literal (quotes included). Invalid UTF-8 becomes U+FFFD. */
void buf_json_string(buf_t *b, const char *s, size_t len);
void buf_free(buf_t *b);

/* ---- JSON reader --------------------------------------------------------------------------- */

typedef enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } jtype_t;

typedef struct jnode {
  jtype_t type;
  bool boolean;
  double number;
  char *string; /* NUL-terminated; strings holding NUL are refused by the parser */
  size_t count; /* array items or object members */
  struct jnode **items;
  char **keys; /* objects only, parallel to items */
} jnode_t;

/* Parses a whole document; NULL with `error` filled on malformed input. */
jnode_t *json_parse(const char *text, size_t len, char *error, size_t error_size);
const jnode_t *json_get(const jnode_t *object, const char *key);

/* ---- small I/O helpers ---------------------------------------------------------------------- */

int write_all(int fd, const void *data, size_t len);
/* Reads a whole (small) file into a NUL-terminated malloc'd buffer. */
char *read_file(const char *path, size_t max_bytes, size_t *len_out, failure_t *f, const char *stage);
/* write temp + fsync + rename + fsync(directory): readers see the old file or the new one. */
/*
 * When write_file_atomic makes the file durable (see util.c):
 *   ATOMIC_NO_SYNC       rename only: the content means nothing after a reboot (PIDs, start times).
 *   ATOMIC_SYNC_AFTER    rename first (readers act on it at once), then fdatasync the file and fsync
 *                        the directory before returning.
 */
typedef enum { ATOMIC_NO_SYNC = 0, ATOMIC_SYNC_AFTER = 1 } atomic_sync_t;
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode, failure_t *f, const char *stage, atomic_sync_t sync);
/* RFC 3339 with nanoseconds, UTC: 2024-05-01T12:00:00.123456789Z. `out` needs 40 bytes. */
void format_rfc3339nano(const struct timespec *ts, char *out, size_t out_size);
/* Field 22 of /proc/<pid>/stat: start time in clock ticks after boot; 0 when unreadable. */
unsigned long long process_start_ticks(pid_t pid);
/* mkdir -p with `mode` for the components it creates. */
int mkdir_all(const char *path, mode_t mode);
const char *signal_name(int sig);

/* ---- configuration ------------------------------------------------------------------------- */

typedef struct {
  char **items;
  size_t count;
} strv_t;

typedef struct {
  uid_t uid;
  gid_t gid;
  gid_t *additional_gids;
  size_t additional_count;
} user_t;

typedef enum { ROOTFS_HOST, ROOTFS_OVERLAY } rootfs_kind_t;

/* ShimConfig.seccomp: a filter already resolved by the agent (server/runtime/security/seccomp.ts).
 * Actions are libseccomp's values (SCMP_ACT_ERRNO(errno) included); names stay names, resolved
 * by libseccomp when loading. */
enum { kSeccompMaxArgs = 6 };
typedef struct {
  unsigned index;
  int op; /* enum scmp_compare */
  uint64_t value;
  uint64_t value_two;
} seccomp_arg_t;

typedef struct {
  strv_t names;
  uint32_t action;
  size_t arg_count;
  seccomp_arg_t args[kSeccompMaxArgs];
} seccomp_rule_t;

typedef struct {
  bool enabled; /* false: no filter (seccomp=unconfined, or no "seccomp" in the config) */
  uint32_t default_action;
  strv_t architectures; /* libseccomp names: x86_64, x86, x32 */
  seccomp_rule_t *rules;
  size_t rule_count;
  /* ShimConfig.seccomp.program: the same filter as libseccomp exported it (seccomp-export), read
   * into memory when the config is loaded (the file is on the host, out of reach after
   * pivot_root). NULL: build it with libseccomp in the child. */
  void *program;
  size_t program_bytes;
} seccomp_config_t;

/* ShimConfig.mounts[i]: a bind (volumes are binds of their _data folder) or a tmpfs. */
typedef enum { MOUNT_BIND, MOUNT_TMPFS } user_mount_kind_t;
typedef struct {
  user_mount_kind_t kind;
  const char *source;      /* bind: absolute host path */
  const char *destination; /* absolute path inside the container, resolved inside the root */
  bool readonly;
  bool copy_up;            /* bind of a volume: copy the image's content first when the volume is empty */
  bool nosuid, nodev, noexec; /* tmpfs: per-mount flags; binds are always nodev */
  const char *data;        /* tmpfs: mount options (size=, mode=) */
} user_mount_t;

/* ShimConfig (shim-protocol.ts). */
typedef struct {
  const char *id;
  strv_t args;
  strv_t env;
  const char *cwd;
  user_t user;
  const char *hostname;
  bool tty;
  bool open_stdin;
  const char *attach_socket;
  const char *control_socket; /* optional, tty only: window-size messages */
  unsigned short console_rows; /* 0: unset */
  unsigned short console_cols;
  rootfs_kind_t rootfs_kind;
  const char *mountpoint;
  strv_t lower_dirs; /* lowest first, as in the config */
  const char *upper_dir;
  const char *work_dir;
  strv_t cgroup_procs_files;
  uint64_t capabilities; /* bit mask of capability numbers */
  strv_t masked_paths;
  strv_t readonly_paths;
  user_mount_t *mounts;
  size_t mount_count;
  seccomp_config_t seccomp;
  const char *log_path;
  long long log_max_bytes;
  int log_max_files;
  const char *init_record_path;
  const char *exit_record_path;
  const char *shim_pid_path;
} shim_config_t;

/* ExecConfig (shim-protocol.ts). Fields marked "optional" fall back to the container's
 * init.json / config.json when the agent leaves them out. */
typedef struct {
  strv_t args;
  strv_t env;
  const char *cwd;
  user_t user;
  bool tty;
  bool open_stdin;
  const char *attach_socket;    /* required with tty */
  const char *control_socket;   /* optional, tty only */
  unsigned short console_rows;  /* 0: unset */
  unsigned short console_cols;
  pid_t pid;                    /* optional: the container's main process */
  unsigned long long start_ticks;
  bool has_cgroup_procs_files;  /* optional */
  strv_t cgroup_procs_files;
  bool has_capabilities;        /* optional */
  uint64_t capabilities;
  bool has_seccomp;             /* optional ("seccomp": null = none) */
  seccomp_config_t seccomp;
  const char *exit_record_path; /* optional */
} exec_config_t;

int load_shim_config(const char *path, shim_config_t *cfg, failure_t *f);
int load_exec_config(const char *path, exec_config_t *cfg, failure_t *f);

/* ---- capabilities (caps.c) ------------------------------------------------------------------ */

/* CAP_CHOWN → 0; -1 when unknown. */
int capability_number(const char *name);
/* setgroups/setgid/setuid, bounding/effective/permitted/inheritable/ambient sets, no_new_privs. */
int apply_user_and_capabilities(const user_t *user, uint64_t keep, failure_t *f);

/* ---- seccomp (seccomp.c) -------------------------------------------------------------------- */

/* libseccomp's action for a ShimConfig action name ("SCMP_ACT_ERRNO" with `err`); -1 if unknown. */
int seccomp_action_value(const char *name, int err, uint32_t *out);
/* libseccomp's comparison for an operator name ("SCMP_CMP_MASKED_EQ"); -1 if unknown. */
int seccomp_operator_value(const char *name, int *out);
/* Loads the filter into the calling thread (no_new_privs must be set): the exported program when
 * there is one, else built with libseccomp. Stage "seccomp". A disabled config does nothing. */
int load_seccomp(const seccomp_config_t *cfg, failure_t *f);
/* Builds the filter with libseccomp and writes its BPF program (seccomp_export_bpf) to `out`. */
int export_seccomp(const seccomp_config_t *cfg, const char *out, failure_t *f);
/* Reads {"seccomp": {...}} from a file (the input of `capstan-shim seccomp-export`). */
int load_seccomp_config(const char *path, seccomp_config_t *cfg, failure_t *f);

/* ---- process set-up shared by start and exec (process.c) ------------------------------------ */

typedef struct {
  const strv_t *args;
  const strv_t *env;
  const char *cwd;
  const user_t *user;
  uint64_t capabilities;
  const seccomp_config_t *seccomp;
} process_spec_t;

/*
 * In the child, after the namespaces and root are in place: user, capabilities, no_new_privs,
 * working directory, the seccomp filter (the last set-up step), then exec with a PATH lookup in
 * `env`. Returns only on failure.
 */
int finish_and_exec(const process_spec_t *spec, failure_t *f);

/* ---- the control channel between the shim and its child (process.c) ------------------------ */

enum { CTL_PTY = 2, CTL_FAILURE = 3, CTL_NAMESPACES = 4 };

/* Child, first thing after fork: moves itself into every cgroup (see process.c). Stage "cgroup". */
int join_cgroups_self(const strv_t *procs_files, failure_t *f);
int ctl_send_pty(int sock, int master_fd);
void ctl_send_failure(int sock, const failure_t *f);
/* Child of `start`: its new namespaces exist (the shim can take a reference to them now). */
void ctl_send_namespaces(int sock);
/*
 * Shim: reads what the child reports until it execs (EOF). Returns 0 on exec, 1 when the child
 * reported a failure (copied into `f`), -1 on a transport error, and CTL_NAMESPACES when the child
 * says its namespaces exist (call again to read on). A pty master arrives in *pty_fd.
 */
int ctl_receive_until_exec(int sock, int *pty_fd, failure_t *f);

/* Child in a tty container: opens a pty in the container's devpts, keeps the slave as its
 * controlling terminal and stdio, and sends the master to the shim. */
int setup_pty_child(int ctl_sock, unsigned short rows, unsigned short cols, failure_t *f);

/* Resets what a child must not inherit from the shim: signal mask and ignored SIGPIPE. */
void reset_signals_for_child(void);

/* ---- root filesystem (rootfs.c) ------------------------------------------------------------ */

int setup_rootfs(const shim_config_t *cfg, failure_t *f);
/* ShimConfig.mounts, inside the root at cfg->mountpoint (mounts.c); called by setup_rootfs. */
int setup_user_mounts(const shim_config_t *cfg, failure_t *f);
int bring_up_loopback(failure_t *f);

/* ---- log (log.c) ---------------------------------------------------------------------------- */

typedef struct {
  const char *path;
  int fd;
  long long size;
  long long max_bytes; /* 0: never rotate */
  int max_files;
} logfile_t;

int log_open(logfile_t *log, const char *path, long long max_bytes, int max_files, failure_t *f);
/* Writes one JSON line {"time","stream","log"}; rotates first when it would overflow. */
void log_record(logfile_t *log, const char *stream, const char *data, size_t len, const struct timespec *when);
void log_sync(logfile_t *log);

/* ---- relay (relay.c) ------------------------------------------------------------------------ */

typedef struct {
  pid_t child;
  int sigchld_fd;       /* signalfd for SIGCHLD */
  int stdout_fd;        /* pipe read ends, -1 when unused */
  int stderr_fd;
  int stdin_fd;         /* pipe write end into the child's stdin, -1 when unused */
  int pty_master;       /* -1 without a tty */
  int listen_fd;        /* attach socket, -1 when none */
  int control_fd;       /* control socket (window size), -1 when none */
  logfile_t *log;       /* NULL: output is not logged (exec) */
  int linger_ms;        /* with a tty: after the exit, how long the attach socket still waits for a
                           first client (which then gets the replayed output); 0: not at all */
} relay_t;

/* Runs until the child has exited and its output is drained; returns the wait status. */
int relay_run(relay_t *relay);
/* Creates a listening unix stream socket at `path`, mode 0600. Paths longer than sun_path are
 * bound through /proc/self/fd/<directory fd>/<name>. */
int listen_unix(const char *path, failure_t *f);

/* ---- status pipe ---------------------------------------------------------------------------- */

/* Writes {"type":"error",...} on the status fd. */
void status_error(int status_fd, const failure_t *f);
void status_started(int status_fd, pid_t pid, unsigned long long start_ticks);

/* ---- subcommands ---------------------------------------------------------------------------- */

/* when_told: after daemonizing, wait for one byte on fd 3 (a socket) before reading config.json;
 * end of file instead means the start was called off. */
int cmd_start(const char *container_dir, bool when_told);
int cmd_exec(const char *container_dir, const char *exec_config_path);
int cmd_overlay_markers(const char *layer_root);
int cmd_overlay_opaques(const char *layer_root);
int cmd_seccomp_export(const char *filter_json, const char *out);

#endif
