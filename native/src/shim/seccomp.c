/*
 * The container's seccomp filter, built and loaded with libseccomp. Every decision (which profile,
 * which rules apply to this container's capabilities and architecture, which errno) was made by
 * the agent (server/runtime/security/seccomp.ts); this file only turns names into libseccomp's
 * values and makes the calls: seccomp_init, seccomp_arch_add, seccomp_rule_add_array, then
 * seccomp_load, or seccomp_export_bpf for `capstan-shim seccomp-export`, whose program the agent
 * keeps and a later start loads as it is (seccomp(SECCOMP_SET_MODE_FILTER)).
 *
 * A syscall name that libseccomp does not know is skipped, as runc does: profiles name syscalls
 * of newer kernels and other architectures.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int seccomp_action_value(const char *name, int err, uint32_t *out) {
  static const struct {
    const char *name;
    uint32_t value;
  } kFixed[] = {
      {"SCMP_ACT_KILL", SCMP_ACT_KILL},
      {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
      {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
      {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
      {"SCMP_ACT_LOG", SCMP_ACT_LOG},
      {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
  };
  if (strcmp(name, "SCMP_ACT_ERRNO") == 0) {
    *out = SCMP_ACT_ERRNO((uint32_t)err);
    return 0;
  }
  if (strcmp(name, "SCMP_ACT_TRACE") == 0) {
    *out = SCMP_ACT_TRACE((uint32_t)err);
    return 0;
  }
  for (size_t i = 0; i < sizeof(kFixed) / sizeof(kFixed[0]); i++) {
    if (strcmp(kFixed[i].name, name) == 0) {
      *out = kFixed[i].value;
      return 0;
    }
  }
  return -1;
}

int seccomp_operator_value(const char *name, int *out) {
  static const struct {
    const char *name;
    enum scmp_compare value;
  } kOperators[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (size_t i = 0; i < sizeof(kOperators) / sizeof(kOperators[0]); i++) {
    if (strcmp(kOperators[i].name, name) == 0) {
      *out = (int)kOperators[i].value;
      return 0;
    }
  }
  return -1;
}

/* The filter as libseccomp builds it from the resolved rules; NULL with `f` filled on failure. */
static scmp_filter_ctx build_filter(const seccomp_config_t *cfg, failure_t *f) {
  scmp_filter_ctx ctx = seccomp_init(cfg->default_action);
  if (!ctx) {
    fail(f, "seccomp", "seccomp_init", EINVAL, "", "seccomp_init(default action 0x%x)", cfg->default_action);
    return NULL;
  }
  int rc;
  for (size_t i = 0; i < cfg->architectures.count; i++) {
    const char *name = cfg->architectures.items[i];
    uint32_t arch = seccomp_arch_resolve_name(name);
    if (arch == 0) {
      seccomp_release(ctx);
      fail(f, "seccomp", "seccomp_arch_add", EINVAL, "", "libseccomp does not know the architecture \"%s\"", name);
      return NULL;
    }
    rc = seccomp_arch_add(ctx, arch);
    if (rc < 0 && rc != -EEXIST) {
      seccomp_release(ctx);
      fail(f, "seccomp", "seccomp_arch_add", -rc, "", "seccomp_arch_add(%s)", name);
      return NULL;
    }
  }
  for (size_t r = 0; r < cfg->rule_count; r++) {
    const seccomp_rule_t *rule = &cfg->rules[r];
    struct scmp_arg_cmp compare[kSeccompMaxArgs];
    for (size_t a = 0; a < rule->arg_count; a++) {
      compare[a] = (struct scmp_arg_cmp){
          .arg = rule->args[a].index,
          .op = (enum scmp_compare)rule->args[a].op,
          .datum_a = rule->args[a].value,
          .datum_b = rule->args[a].value_two,
      };
    }
    for (size_t n = 0; n < rule->names.count; n++) {
      const char *name = rule->names.items[n];
      int number = seccomp_syscall_resolve_name(name);
      if (number == __NR_SCMP_ERROR) continue;
      rc = seccomp_rule_add_array(ctx, rule->action, number, (unsigned)rule->arg_count, compare);
      if (rc < 0) {
        seccomp_release(ctx);
        fail(f, "seccomp", "seccomp_rule_add", -rc, "", "seccomp rule %zu for syscall %s", r, name);
        return NULL;
      }
    }
  }
  return ctx;
}

int load_seccomp(const seccomp_config_t *cfg, failure_t *f) {
  if (!cfg->enabled) return 0;
  if (cfg->program) {
    /* The program libseccomp exported for this very filter: loading it is one syscall, where
     * building it costs milliseconds per architecture at every start. */
    struct sock_fprog prog = {.len = (unsigned short)(cfg->program_bytes / sizeof(struct sock_filter)), .filter = cfg->program};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) return fail(f, "seccomp", "seccomp", errno, "", "loading the seccomp filter");
    return 0;
  }
  scmp_filter_ctx ctx = build_filter(cfg, f);
  if (!ctx) return -1;
  int rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc < 0) return fail(f, "seccomp", "seccomp_load", -rc, "", "loading the seccomp filter");
  return 0;
}

int export_seccomp(const seccomp_config_t *cfg, const char *out, failure_t *f) {
  scmp_filter_ctx ctx = build_filter(cfg, f);
  if (!ctx) return -1;
  char temp[PATH_MAX];
  if (snprintf(temp, sizeof(temp), "%s.tmp-%d", out, (int)getpid()) >= (int)sizeof(temp)) {
    seccomp_release(ctx);
    return fail(f, "seccomp", "", ENAMETOOLONG, out, "path too long: %s", out);
  }
  int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    seccomp_release(ctx);
    return fail(f, "seccomp", "open", errno, temp, "create %s", temp);
  }
  int rc = seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  if (rc < 0 || fsync(fd) < 0) {
    int err = rc < 0 ? -rc : errno;
    close(fd);
    unlink(temp);
    return fail(f, "seccomp", "seccomp_export_bpf", err, out, "export the seccomp filter to %s", out);
  }
  close(fd);
  if (rename(temp, out) < 0) {
    int err = errno;
    unlink(temp);
    return fail(f, "seccomp", "rename", err, out, "rename %s to %s", temp, out);
  }
  return 0;
}

int cmd_seccomp_export(const char *filter_json, const char *out) {
  failure_t f;
  seccomp_config_t cfg;
  if (filter_json[0] != '/' || out[0] != '/') {
    fprintf(stderr, "capstan-shim: seccomp-export needs absolute paths\n");
    return 2;
  }
  if (load_seccomp_config(filter_json, &cfg, &f) < 0 || export_seccomp(&cfg, out, &f) < 0) {
    fprintf(stderr, "capstan-shim: %s\n", f.message);
    return 1;
  }
  return 0;
}
