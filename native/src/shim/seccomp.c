/*
 * The container's seccomp filter, built and loaded with libseccomp. Every decision (which profile,
 * which rules apply to this container's capabilities and architecture, which errno) was made by
 * the agent (server/runtime/security/seccomp.ts); this file only turns names into libseccomp's
 * values and makes the calls: seccomp_init, seccomp_arch_add, seccomp_rule_add_array,
 * seccomp_load.
 *
 * A syscall name that libseccomp does not know is skipped, as runc does: profiles name syscalls
 * of newer kernels and other architectures.
 */
#include "shim.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>

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

int load_seccomp(const seccomp_config_t *cfg, failure_t *f) {
  if (!cfg->enabled) return 0;
  scmp_filter_ctx ctx = seccomp_init(cfg->default_action);
  if (!ctx) return fail(f, "seccomp", "seccomp_init", EINVAL, "", "seccomp_init(default action 0x%x)", cfg->default_action);
  int rc;
  for (size_t i = 0; i < cfg->architectures.count; i++) {
    const char *name = cfg->architectures.items[i];
    uint32_t arch = seccomp_arch_resolve_name(name);
    if (arch == 0) {
      seccomp_release(ctx);
      return fail(f, "seccomp", "seccomp_arch_add", EINVAL, "", "libseccomp does not know the architecture \"%s\"", name);
    }
    rc = seccomp_arch_add(ctx, arch);
    if (rc < 0 && rc != -EEXIST) {
      seccomp_release(ctx);
      return fail(f, "seccomp", "seccomp_arch_add", -rc, "", "seccomp_arch_add(%s)", name);
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
        return fail(f, "seccomp", "seccomp_rule_add", -rc, "", "seccomp rule %zu for syscall %s", r, name);
      }
    }
  }
  rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc < 0) return fail(f, "seccomp", "seccomp_load", -rc, "", "loading the seccomp filter");
  return 0;
}
