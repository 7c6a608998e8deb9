/*
 * capstan-shim: entry point.
 *   capstan-shim start [--when-told] <container-dir>       start a container (fd 3: status pipe)
 *   capstan-shim exec <container-dir> <exec-config.json>   run a process in a running container
 *   capstan-shim overlay-markers <layer-root>              write overlayfs whiteouts (stdin list)
 *   capstan-shim overlay-opaques <layer-root>              which of the directories on stdin are opaque
 *   capstan-shim seccomp-export <filter.json> <out.bpf>    a resolved filter's BPF, by libseccomp
 * The contract with the agent is server/runtime/shim-protocol.ts.
 */
#include "shim.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int usage(void) {
  fprintf(stderr,
          "usage: capstan-shim start [--when-told] <container-dir>\n"
          "       capstan-shim exec <container-dir> <exec-config.json>\n"
          "       capstan-shim overlay-markers <layer-root>\n"
          "       capstan-shim overlay-opaques <layer-root>\n"
          "       capstan-shim seccomp-export <filter.json> <out.bpf>\n");
  return 2;
}

int main(int argc, char **argv) {
  /* A vanished attach client or agent must be an EPIPE to handle, not the shim's death. */
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "start") == 0) return cmd_start(argv[2], false);
  if (argc == 4 && strcmp(argv[1], "start") == 0 && strcmp(argv[2], "--when-told") == 0) return cmd_start(argv[3], true);
  if (argc == 4 && strcmp(argv[1], "exec") == 0) return cmd_exec(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "overlay-markers") == 0) return cmd_overlay_markers(argv[2]);
  if (argc == 3 && strcmp(argv[1], "overlay-opaques") == 0) return cmd_overlay_opaques(argv[2]);
  if (argc == 4 && strcmp(argv[1], "seccomp-export") == 0) return cmd_seccomp_export(argv[2], argv[3]);
  return usage();
}
