# Built by `node-gyp rebuild -C native --nodedir=/usr` from the repository root (scripts/build.js).
# Outputs build/Release/capstan.node (the addon) and build/Release/capstan-readfloor (the
# benchmark's floor: the same reads with nothing else around them).
{
  "targets": [
    {
      "target_name": "capstan",
      "sources": ["src/binding.cc", "src/io.cc", "src/oom_watcher.cc", "src/oom_binding.cc", "src/netns.cc", "src/kept_files.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # C++ exceptions on: argument errors are `throw Napi::TypeError`, and std::bad_alloc on a
      # worker thread becomes a rejected promise instead of an abort.
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: when a worker_thread is terminated while a read
      # is in flight, the promise can no longer be settled; without it node-addon-api rethrows
      # that failure out of the completion callback and the whole process aborts.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      # Node's common.gypi adds -Wno-unused-parameter; capstan's own code is held to -Wextra.
      "cflags": ["-Wall", "-Wextra", "-Wunused-parameter"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
    },
    {
      "target_name": "capstan-readfloor",
      "type": "executable",
      "sources": ["src/readfloor.c"],
      "cflags": ["-Wall", "-Wextra", "-Wunused-parameter", "-std=c11"],
    },
    {
      # The `capstan` program's first step (bin/capstan): hands the command to the agent's CLI
      # socket, or becomes the Node CLI (native/src/client/main.c says when). libc only.
      "target_name": "capstan-client",
      "type": "executable",
      "sources": ["src/client/main.c"],
      "cflags": ["-Wall", "-Wextra", "-Wunused-parameter", "-std=gnu11"],
      # Static, as the shim: no dynamic loader work on every command.
      "ldflags": ["-static"],
    },
    {
      # The per-container parent process (server/runtime/shim-protocol.ts). Plain C, libc and
      # libseccomp (Debian libseccomp-dev, whose libseccomp.a the static link takes).
      "target_name": "capstan-shim",
      "type": "executable",
      "sources": [
        "src/shim/main.c", "src/shim/start.c", "src/shim/exec.c", "src/shim/process.c",
        "src/shim/caps.c", "src/shim/rootfs.c", "src/shim/mounts.c", "src/shim/relay.c", "src/shim/log.c",
        "src/shim/config.c", "src/shim/json.c", "src/shim/util.c", "src/shim/markers.c", "src/shim/seccomp.c",
      ],
      "cflags": ["-Wall", "-Wextra", "-Wunused-parameter", "-std=gnu11"],
      # Static: no dynamic loader work on every container start (the shim uses no NSS lookups).
      "ldflags": ["-static"],
      "libraries": ["-lseccomp", "-lm"],
    },
  ],
}
