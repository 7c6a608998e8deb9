/*
 * Reads ShimConfig and ExecConfig (server/runtime/shim-protocol.ts). The agent has validated
 * everything already; this only checks types and that paths are absolute, so a broken file is
 * reported as a config failure instead of surfacing later as a confusing syscall error.
 */
#include "shim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kMaxConfigBytes = 4 * 1024 * 1024, kMaxProgramBytes = 65535 * 8 };

static int config_fail(failure_t *f, const char *path, const char *fmt, const char *key) {
  char what[256];
  snprintf(what, sizeof(what), fmt, key);
  return fail(f, "config", "", EINVAL, path, "%s: %s", path, what);
}

static int get_string(const jnode_t *obj, const char *key, bool required, const char **out, const char *file, failure_t *f) {
  const jnode_t *v = json_get(obj, key);
  if (!v || v->type == J_NULL) {
    *out = NULL;
    return required ? config_fail(f, file, "\"%s\" is required", key) : 0;
  }
  if (v->type != J_STRING) return config_fail(f, file, "\"%s\" must be a string", key);
  *out = v->string;
  return 0;
}

static int get_path(const jnode_t *obj, const char *key, bool required, const char **out, const char *file, failure_t *f) {
  if (get_string(obj, key, required, out, file, f) < 0) return -1;
  if (*out && (*out)[0] != '/') return config_fail(f, file, "\"%s\" must be an absolute path", key);
  return 0;
}

static int get_bool(const jnode_t *obj, const char *key, bool *out, const char *file, failure_t *f) {
  const jnode_t *v = json_get(obj, key);
  if (!v || v->type == J_NULL) {
    *out = false;
    return 0;
  }
  if (v->type != J_BOOL) return config_fail(f, file, "\"%s\" must be true or false", key);
  *out = v->boolean;
  return 0;
}

static int get_integer(const jnode_t *obj, const char *key, bool required, double min, double max, double *out, const char *file,
                       failure_t *f) {
  const jnode_t *v = json_get(obj, key);
  if (!v || v->type == J_NULL) {
    if (required) return config_fail(f, file, "\"%s\" is required", key);
    return 0;
  }
  if (v->type != J_NUMBER || floor(v->number) != v->number || v->number < min || v->number > max) {
    return config_fail(f, file, "\"%s\" must be an integer in range", key);
  }
  *out = v->number;
  return 0;
}

static int get_strv(const jnode_t *obj, const char *key, bool paths, strv_t *out, const char *file, failure_t *f) {
  out->items = NULL;
  out->count = 0;
  const jnode_t *v = json_get(obj, key);
  if (!v || v->type == J_NULL) return 0;
  if (v->type != J_ARRAY) return config_fail(f, file, "\"%s\" must be an array of strings", key);
  out->items = calloc(v->count + 1, sizeof(char *));
  if (!out->items) _exit(70);
  for (size_t i = 0; i < v->count; i++) {
    const jnode_t *item = v->items[i];
    if (item->type != J_STRING) return config_fail(f, file, "\"%s\" must be an array of strings", key);
    if (paths && item->string[0] != '/') return config_fail(f, file, "\"%s\" must hold absolute paths", key);
    out->items[i] = item->string;
  }
  out->count = v->count;
  return 0;
}

static int get_user(const jnode_t *obj, user_t *user, const char *file, failure_t *f) {
  const jnode_t *u = json_get(obj, "user");
  memset(user, 0, sizeof(*user));
  if (!u || u->type == J_NULL) return 0; /* root */
  if (u->type != J_OBJECT) return config_fail(f, file, "\"%s\" must be an object", "user");
  double uid = 0, gid = 0;
  if (get_integer(u, "uid", true, 0, 4294967294.0, &uid, file, f) < 0) return -1;
  if (get_integer(u, "gid", true, 0, 4294967294.0, &gid, file, f) < 0) return -1;
  user->uid = (uid_t)uid;
  user->gid = (gid_t)gid;
  const jnode_t *groups = json_get(u, "additionalGids");
  if (groups && groups->type != J_NULL) {
    if (groups->type != J_ARRAY || groups->count > 65536) return config_fail(f, file, "\"%s\" must be an array of ids", "additionalGids");
    user->additional_gids = calloc(groups->count + 1, sizeof(gid_t));
    if (!user->additional_gids) _exit(70);
    for (size_t i = 0; i < groups->count; i++) {
      const jnode_t *g = groups->items[i];
      if (g->type != J_NUMBER || floor(g->number) != g->number || g->number < 0 || g->number > 4294967294.0) {
        return config_fail(f, file, "\"%s\" must be an array of ids", "additionalGids");
      }
      user->additional_gids[i] = (gid_t)g->number;
    }
    user->additional_count = groups->count;
  }
  return 0;
}

static int get_console_size(const jnode_t *obj, unsigned short *rows, unsigned short *cols, const char *file, failure_t *f) {
  const jnode_t *size = json_get(obj, "consoleSize");
  *rows = *cols = 0;
  if (!size || size->type == J_NULL) return 0;
  if (size->type != J_OBJECT) return config_fail(f, file, "\"%s\" must be an object", "consoleSize");
  double r = 0, c = 0;
  if (get_integer(size, "rows", true, 1, 65535, &r, file, f) < 0) return -1;
  if (get_integer(size, "cols", true, 1, 65535, &c, file, f) < 0) return -1;
  *rows = (unsigned short)r;
  *cols = (unsigned short)c;
  return 0;
}

static int get_capabilities(const jnode_t *obj, uint64_t *mask, bool *present, const char *file, failure_t *f) {
  strv_t caps;
  *mask = 0;
  *present = json_get(obj, "capabilities") != NULL;
  if (get_strv(obj, "capabilities", false, &caps, file, f) < 0) return -1;
  for (size_t i = 0; i < caps.count; i++) {
    int number = capability_number(caps.items[i]);
    if (number < 0) return fail(f, "config", "", EINVAL, file, "%s: unknown capability \"%s\"", file, caps.items[i]);
    *mask |= 1ULL << number;
  }
  return 0;
}

static jnode_t *load_json(const char *path, failure_t *f);

static int get_errno(const jnode_t *obj, const char *key, int *out, const char *file, failure_t *f) {
  double value = 0;
  if (get_integer(obj, key, false, 0, 4095, &value, file, f) < 0) return -1;
  *out = (int)value;
  return 0;
}

static int get_action(const jnode_t *obj, const char *action_key, const char *errno_key, uint32_t *out, const char *file, failure_t *f) {
  const char *name = NULL;
  int err = 0;
  if (get_string(obj, action_key, true, &name, file, f) < 0 || get_errno(obj, errno_key, &err, file, f) < 0) return -1;
  if (seccomp_action_value(name, err, out) < 0) return fail(f, "config", "", EINVAL, file, "%s: unknown seccomp action \"%s\"", file, name);
  return 0;
}

/* ShimConfig.seccomp / ExecConfig.seccomp: absent or null means no filter. */
static int get_seccomp(const jnode_t *obj, seccomp_config_t *out, bool *present, const char *file, failure_t *f) {
  memset(out, 0, sizeof(*out));
  const jnode_t *s = json_get(obj, "seccomp");
  *present = s != NULL;
  if (!s || s->type == J_NULL) return 0;
  if (s->type != J_OBJECT) return config_fail(f, file, "\"%s\" must be an object", "seccomp");
  if (get_action(s, "defaultAction", "defaultErrno", &out->default_action, file, f) < 0) return -1;
  if (get_strv(s, "architectures", false, &out->architectures, file, f) < 0) return -1;
  const jnode_t *rules = json_get(s, "rules");
  if (!rules || rules->type != J_ARRAY) return config_fail(f, file, "\"%s\" must be an array", "seccomp.rules");
  out->rules = calloc(rules->count + 1, sizeof(seccomp_rule_t));
  if (!out->rules) _exit(70);
  for (size_t i = 0; i < rules->count; i++) {
    const jnode_t *rule = rules->items[i];
    seccomp_rule_t *target = &out->rules[i];
    if (rule->type != J_OBJECT) return config_fail(f, file, "\"%s\" must hold objects", "seccomp.rules");
    if (get_strv(rule, "names", false, &target->names, file, f) < 0) return -1;
    if (get_action(rule, "action", "errno", &target->action, file, f) < 0) return -1;
    const jnode_t *args = json_get(rule, "args");
    if (args && args->type != J_NULL) {
      if (args->type != J_ARRAY || args->count > kSeccompMaxArgs) return config_fail(f, file, "\"%s\" must be an array of at most 6 comparisons", "seccomp.rules[].args");
      for (size_t a = 0; a < args->count; a++) {
        const jnode_t *arg = args->items[a];
        if (arg->type != J_OBJECT) return config_fail(f, file, "\"%s\" must hold objects", "seccomp.rules[].args");
        double index = 0, value = 0, value_two = 0;
        const char *op = NULL;
        if (get_integer(arg, "index", true, 0, kSeccompMaxArgs - 1, &index, file, f) < 0) return -1;
        if (get_integer(arg, "value", true, 0, 9007199254740991.0, &value, file, f) < 0) return -1;
        if (get_integer(arg, "valueTwo", false, 0, 9007199254740991.0, &value_two, file, f) < 0) return -1;
        if (get_string(arg, "op", true, &op, file, f) < 0) return -1;
        seccomp_arg_t *cmp = &target->args[a];
        cmp->index = (unsigned)index;
        cmp->value = (uint64_t)value;
        cmp->value_two = (uint64_t)value_two;
        if (seccomp_operator_value(op, &cmp->op) < 0) return fail(f, "config", "", EINVAL, file, "%s: unknown seccomp operator \"%s\"", file, op);
      }
      target->arg_count = args->count;
    }
  }
  out->rule_count = rules->count;
  const char *program = NULL;
  if (get_path(s, "program", false, &program, file, f) < 0) return -1;
  if (program) {
    size_t len = 0;
    out->program = read_file(program, kMaxProgramBytes, &len, f, "seccomp");
    if (!out->program) return -1;
    if (len == 0 || len % 8 != 0 || len / 8 > 65535) {
      return fail(f, "seccomp", "", EINVAL, program, "%s is not a BPF program (%zu bytes)", program, len);
    }
    out->program_bytes = len;
  }
  out->enabled = true;
  return 0;
}

int load_seccomp_config(const char *path, seccomp_config_t *cfg, failure_t *f) {
  jnode_t *root = load_json(path, f);
  if (!root) return -1;
  bool present;
  if (get_seccomp(root, cfg, &present, path, f) < 0) return -1;
  if (!cfg->enabled) return config_fail(f, path, "\"%s\" is required", "seccomp");
  return 0;
}

static jnode_t *load_json(const char *path, failure_t *f) {
  size_t len = 0;
  char *text = read_file(path, kMaxConfigBytes, &len, f, "config");
  if (!text) return NULL;
  char error[256];
  jnode_t *root = json_parse(text, len, error, sizeof(error));
  free(text);
  if (!root) {
    fail(f, "config", "", EINVAL, path, "%s: %s", path, error);
    return NULL;
  }
  if (root->type != J_OBJECT) {
    fail(f, "config", "", EINVAL, path, "%s: not a JSON object", path);
    return NULL;
  }
  return root;
}

static int get_mounts(const jnode_t *obj, shim_config_t *cfg, const char *file, failure_t *f) {
  cfg->mounts = NULL;
  cfg->mount_count = 0;
  const jnode_t *v = json_get(obj, "mounts");
  if (!v || v->type == J_NULL) return 0;
  if (v->type != J_ARRAY) return config_fail(f, file, "\"%s\" must be an array of objects", "mounts");
  cfg->mounts = calloc(v->count + 1, sizeof(user_mount_t));
  if (!cfg->mounts) _exit(70);
  for (size_t i = 0; i < v->count; i++) {
    const jnode_t *item = v->items[i];
    user_mount_t *m = &cfg->mounts[i];
    if (item->type != J_OBJECT) return config_fail(f, file, "\"%s\" must be an array of objects", "mounts");
    const char *kind = NULL;
    if (get_string(item, "kind", true, &kind, file, f) < 0) return -1;
    if (strcmp(kind, "bind") == 0) m->kind = MOUNT_BIND;
    else if (strcmp(kind, "tmpfs") == 0) m->kind = MOUNT_TMPFS;
    else return config_fail(f, file, "\"mounts[].kind\" must be \"bind\" or \"tmpfs\"%s", "");
    if (get_path(item, "source", m->kind == MOUNT_BIND, &m->source, file, f) < 0) return -1;
    if (get_path(item, "destination", true, &m->destination, file, f) < 0) return -1;
    if (get_bool(item, "readOnly", &m->readonly, file, f) < 0) return -1;
    if (get_bool(item, "copyUp", &m->copy_up, file, f) < 0) return -1;
    if (get_bool(item, "nosuid", &m->nosuid, file, f) < 0) return -1;
    if (get_bool(item, "nodev", &m->nodev, file, f) < 0) return -1;
    if (get_bool(item, "noexec", &m->noexec, file, f) < 0) return -1;
    if (get_string(item, "data", false, &m->data, file, f) < 0) return -1;
  }
  cfg->mount_count = v->count;
  return 0;
}

int load_shim_config(const char *path, shim_config_t *cfg, failure_t *f) {
  memset(cfg, 0, sizeof(*cfg));
  jnode_t *root = load_json(path, f);
  if (!root) return -1;
  if (get_string(root, "id", true, &cfg->id, path, f) < 0) return -1;
  if (get_strv(root, "args", false, &cfg->args, path, f) < 0) return -1;
  if (cfg->args.count == 0 || cfg->args.items[0][0] == '\0') return config_fail(f, path, "\"%s\" must name a command", "args");
  if (get_strv(root, "env", false, &cfg->env, path, f) < 0) return -1;
  if (get_path(root, "cwd", false, &cfg->cwd, path, f) < 0) return -1;
  if (!cfg->cwd) cfg->cwd = "/";
  if (get_user(root, &cfg->user, path, f) < 0) return -1;
  if (get_string(root, "hostname", false, &cfg->hostname, path, f) < 0) return -1;
  if (get_bool(root, "tty", &cfg->tty, path, f) < 0) return -1;
  if (get_bool(root, "openStdin", &cfg->open_stdin, path, f) < 0) return -1;
  if (get_path(root, "attachSocket", cfg->tty || cfg->open_stdin, &cfg->attach_socket, path, f) < 0) return -1;
  if (get_path(root, "controlSocket", false, &cfg->control_socket, path, f) < 0) return -1;
  if (get_console_size(root, &cfg->console_rows, &cfg->console_cols, path, f) < 0) return -1;

  const jnode_t *rootfs = json_get(root, "rootfs");
  if (!rootfs || rootfs->type != J_OBJECT) return config_fail(f, path, "\"%s\" must be an object", "rootfs");
  const char *kind = NULL;
  if (get_string(rootfs, "kind", true, &kind, path, f) < 0) return -1;
  if (get_path(rootfs, "mountpoint", true, &cfg->mountpoint, path, f) < 0) return -1;
  if (strcmp(kind, "host") == 0) {
    cfg->rootfs_kind = ROOTFS_HOST;
  } else if (strcmp(kind, "overlay") == 0) {
    cfg->rootfs_kind = ROOTFS_OVERLAY;
    if (get_strv(rootfs, "lowerDirs", true, &cfg->lower_dirs, path, f) < 0) return -1;
    if (cfg->lower_dirs.count == 0) return config_fail(f, path, "\"%s\" must list at least one layer", "rootfs.lowerDirs");
    if (get_path(rootfs, "upperDir", true, &cfg->upper_dir, path, f) < 0) return -1;
    if (get_path(rootfs, "workDir", true, &cfg->work_dir, path, f) < 0) return -1;
  } else {
    return config_fail(f, path, "\"rootfs.kind\" must be \"host\" or \"overlay\"%s", "");
  }

  if (get_strv(root, "cgroupProcsFiles", true, &cfg->cgroup_procs_files, path, f) < 0) return -1;
  bool present;
  if (get_capabilities(root, &cfg->capabilities, &present, path, f) < 0) return -1;
  if (get_strv(root, "maskedPaths", true, &cfg->masked_paths, path, f) < 0) return -1;
  if (get_strv(root, "readonlyPaths", true, &cfg->readonly_paths, path, f) < 0) return -1;
  if (get_mounts(root, cfg, path, f) < 0) return -1;
  if (get_seccomp(root, &cfg->seccomp, &present, path, f) < 0) return -1;

  const jnode_t *log = json_get(root, "log");
  if (!log || log->type != J_OBJECT) return config_fail(f, path, "\"%s\" must be an object", "log");
  if (get_path(log, "path", true, &cfg->log_path, path, f) < 0) return -1;
  double max_bytes = 0, max_files = 0;
  if (get_integer(log, "maxBytes", false, 0, 9007199254740991.0, &max_bytes, path, f) < 0) return -1;
  if (get_integer(log, "maxFiles", false, 0, 1000, &max_files, path, f) < 0) return -1;
  cfg->log_max_bytes = (long long)max_bytes;
  cfg->log_max_files = (int)max_files;

  if (get_path(root, "initRecordPath", true, &cfg->init_record_path, path, f) < 0) return -1;
  if (get_path(root, "exitRecordPath", true, &cfg->exit_record_path, path, f) < 0) return -1;
  if (get_path(root, "shimPidPath", true, &cfg->shim_pid_path, path, f) < 0) return -1;
  return 0;
}

int load_exec_config(const char *path, exec_config_t *cfg, failure_t *f) {
  memset(cfg, 0, sizeof(*cfg));
  jnode_t *root = load_json(path, f);
  if (!root) return -1;
  if (get_strv(root, "args", false, &cfg->args, path, f) < 0) return -1;
  if (cfg->args.count == 0 || cfg->args.items[0][0] == '\0') return config_fail(f, path, "\"%s\" must name a command", "args");
  if (get_strv(root, "env", false, &cfg->env, path, f) < 0) return -1;
  if (get_path(root, "cwd", false, &cfg->cwd, path, f) < 0) return -1;
  if (!cfg->cwd) cfg->cwd = "/";
  if (get_user(root, &cfg->user, path, f) < 0) return -1;
  if (get_bool(root, "tty", &cfg->tty, path, f) < 0) return -1;
  if (get_bool(root, "openStdin", &cfg->open_stdin, path, f) < 0) return -1;
  if (get_path(root, "attachSocket", cfg->tty, &cfg->attach_socket, path, f) < 0) return -1;
  if (get_path(root, "controlSocket", false, &cfg->control_socket, path, f) < 0) return -1;
  if (get_console_size(root, &cfg->console_rows, &cfg->console_cols, path, f) < 0) return -1;
  double pid = 0, ticks = 0;
  if (get_integer(root, "pid", false, 1, 4194304, &pid, path, f) < 0) return -1;
  if (get_integer(root, "startTimeTicks", false, 0, 9007199254740991.0, &ticks, path, f) < 0) return -1;
  cfg->pid = (pid_t)pid;
  cfg->start_ticks = (unsigned long long)ticks;
  cfg->has_cgroup_procs_files = json_get(root, "cgroupProcsFiles") != NULL;
  if (get_strv(root, "cgroupProcsFiles", true, &cfg->cgroup_procs_files, path, f) < 0) return -1;
  if (get_capabilities(root, &cfg->capabilities, &cfg->has_capabilities, path, f) < 0) return -1;
  if (get_seccomp(root, &cfg->seccomp, &cfg->has_seccomp, path, f) < 0) return -1;
  if (get_path(root, "exitRecordPath", false, &cfg->exit_record_path, path, f) < 0) return -1;
  return 0;
}
