#!/usr/bin/env node
'use strict';
/*
 * The cgroup v2 VM lane: `npm run test:cgroup2` (= scripts/prepare-test.js --vm, then this file).
 *
 * Why: this machine (and CI) boots a hybrid cgroup hierarchy, while most hosts in the field run
 * pure cgroup v2. A Debian kernel under qemu (plain TCG emulation, no KVM) gives a real v2
 * hierarchy in seconds and can see the host's files over virtio-9p, so the integration tests run
 * against it with the very same node, node_modules and build/ as on the host.
 *
 * How:
 *  1. Host: take the newest /boot/vmlinuz-<v> that has /lib/modules/<v>; build or reuse
 *     .vm/initramfs-<v>-<hash>.cpio.gz (initramfs.js: static busybox + applet links, the
 *     modules of its ROOT_MODULES in `modinfo -F depends` order, guest-init.sh as /init). The
 *     hash covers guest-init.sh, the builder and busybox, so editing the init script rebuilds.
 *  2. Host: glob the compiled integration tests (build/test/integration/**\/*.test.js; override
 *     with CAPSTAN_LANE_GLOB) less EXCLUDED_FILES, and print the files and every exclusion (files
 *     and single tests, EXCLUDED_TESTS) with its reason. No file is a failure. In a fresh temp
 *     dir, write job.env (repo path, node path, ava's arguments) into out/, the writable export,
 *     and make scratch.img: a sparse 4 GiB raw image, formatted ext4 by the host's mkfs.ext4.
 *  3. qemu-system-x86_64 -m 4096 -smp 2 -nographic -no-reboot: the host's / is shared read-only
 *     (tag hostroot), out/ read-write (tag laneout), scratch.img as a virtio disk (vda). The
 *     guest (guest-init.sh) loads its modules, brings up lo and dummy0, mounts
 *     them, builds a pure cgroup2 world inside /host (its own proc, sysfs, devtmpfs with pts and
 *     shm, tmpfs /tmp and /run, loopback up, cgroup2 at /sys/fs/cgroup with every controller
 *     enabled in the root's subtree_control, no v1 hierarchy), mounts the scratch disk (below)
 *     at /tmp/capstan-block, moves /host onto / as switch_root does, chroots into it, cds into
 *     the repo and runs
 *       CI=true CAPSTAN_EXPECT_CGROUP2=1 HOME=/tmp node node_modules/ava/entrypoints/cli.mjs
 *         --tap --serial --timeout=5m [--match '!<excluded title>'...] <files>
 *     (one file at a time, one test at a time), tee-ing its TAP to the console and to ava.tap,
 *     its stderr (what the tests print) to the console and ava.stderr, the exit code to ava.rc;
 *     then it powers off.
 *  4. Host: streams the console (prefixed "vm| ") as it comes, ava's TAP in the short form
 *     `npm test` shows (scripts/lib/tap.js renderTapLine). Then it judges ava.tap (ava-summary.js:
 *     a failure, a skip, a todo, tests a failed hook kept from running, an unfinished report or
 *     "no test ran" all fail the lane), lists what failed or skipped and what was excluded, and
 *     ends with the closing line "N passed, N failed" counting every result ava reported (a run
 *     that died without naming a failure counts one). Exit code: ava's (1 if ava said 0 but the
 *     run is not acceptable; 2 if the VM itself failed).
 *     A watchdog kills qemu by PID when the guest does not reach node within the boot limit or
 *     the whole VM run exceeds its limit; the guest also powers itself off 30 s after that limit,
 *     in case this process was SIGKILLed. The temp dir is removed in every case.
 *
 * Knobs (environment):
 *   CAPSTAN_LANE_GLOB="<glob> ..."   test files, relative to the repo (default below; EXCLUDED_FILES
 *                                    are left out of any glob)
 *   CAPSTAN_LANE_TIMEOUT_S=<s>       whole VM run limit (default DEFAULT_TIMEOUT_S below)
 *   CAPSTAN_LANE_BOOT_TIMEOUT_S=<s>  qemu start to node start limit (default 180)
 *   CAPSTAN_LANE_SHELL=1             no tests: an interactive shell in the guest's chroot, in the
 *                                    repo, with the test environment (exit it to power off; no
 *                                    watchdog). Run it from a terminal: node test/vm/run-lane.js
 *   CAPSTAN_LANE_KEEP=1              keep the temp dir (out/: job.env, ava.tap, ava.stderr, ava.rc;
 *                                    scratch.img) and print its path
 *   CAPSTAN_LANE_QEMU_ARGS="..."     extra qemu arguments (split on spaces), for experiments
 *   CAPSTAN_LANE_9P_CACHE=<mode>     9p cache mode of the read-only host root (default loose;
 *                                    none if you suspect stale reads)
 *
 * What tests see in the guest: every host file read-only (the repo too: write under os.tmpdir())
 * but /var (the host's, under an overlay on a tmpfs), /tmp and /run empty tmpfs, 2 vCPUs, 4 GiB,
 * their own cgroup /capstan-lane, loopback only (and dummy0, an interface that leads nowhere),
 * overlayfs and loop devices, and CAPSTAN_TEST_BLOCK_DIR=/tmp/capstan-block, a directory on the
 * ext4 scratch disk where O_DIRECT I/O is real block I/O. The writable export is at $CAPSTAN_LANE_OUT
 * (/tmp/capstan-lane-out) for artefacts; CAPSTAN_LANE_KEEP=1 keeps it on the host.
 * Emulation is slow and its clock is shared with a busy host: boot to node takes 5-10 s, ava's
 * first output 15-30 s after that, much more when the machine is loaded; every test runs several
 * times slower than on the host, so timing assertions must be tolerant. Measured here (2 cores
 * shared with other work): the whole lane 10-21 min (by load), against about 3 min for `npm test`.
 * Docker's dockerd and containerd run in the guest (data in its tmpfs /tmp), and Podman's service
 * too (slow to answer GET /version under emulation: 13-31 s, which the engine client allows).
 *
 * Debugging: the console stream shows every "capstan-lane:" step of the guest; a "guest-error:"
 * line names the step that failed (the guest powers off at once). Kernel messages are quiet; drop
 * "quiet" from KERNEL_APPEND to see them all. The guest's init is test/vm/guest-init.sh.
 */

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { closingLine, failureReports, renderFailureReports, renderTapLine } = require('../../scripts/lib/tap');
const { judgeTapRun } = require('./ava-summary');
const { LaneSetupError, findNewestKernel, ensureInitramfs } = require('./initramfs');

const REPO_DIR = path.resolve(__dirname, '..', '..');
const CACHE_DIR = path.join(REPO_DIR, '.vm');
const DEFAULT_GLOB = 'build/test/integration/**/*.test.js';
/** Integration files the lane does not run, each with why (printed by every run). */
const EXCLUDED_FILES = [
  {
    file: 'build/test/integration/dashboard.test.js',
    reason: 'browser tests: chromium under TCG emulation is too slow to be worth it, and they test the page, not the cgroup hierarchy (the host runs them)',
  },
  {
    file: 'build/test/integration/docker-compat.test.js',
    reason:
      'the CLI\'s words and exit codes beside the docker CLI\'s, over 140 command lines run twice (a few minutes of ' +
      'node and docker start-ups under TCG); none of it depends on the hierarchy: what does (limits, inspect, OOM, ' +
      'stats of Docker\'s containers) is in inspect-update, engines and the runtime files, which the lane runs (the host runs it)',
  },
  {
    file: 'build/test/integration/image-life.test.js',
    reason:
      'save, load, tag, history and prune beside docker\'s: image archives and the layer store on the filesystem; ' +
      'the containers it runs from a loaded image start as every other capstan container does, which runtime and ' +
      'shim test in the lane (the host runs it)',
  },
  {
    file: 'build/test/integration/commit.test.js',
    reason:
      'diff, commit and export beside docker\'s: the overlay upper directory and the layer store; the one ' +
      'hierarchy step, pausing a running container for the copy, is the freezer that runtime\'s pause and ' +
      'unpause test in the lane (the host runs it)',
  },
  {
    file: 'build/test/integration/registry.test.js',
    reason:
      'pull and login against a real docker-registry and docker push: HTTP, digests and the layer store, ' +
      'none of it the cgroup hierarchy (the host runs it)',
  },
  {
    file: 'build/test/integration/stats-interactive.test.js',
    reason: 'the terminal view in tmux: it tests the screen, fed by the same stream the dashboard gets, not the cgroup hierarchy (the host runs it)',
  },
];
/**
 * Single tests the lane leaves out, each with why: { file, title, reason }. `title` is an ava
 * --match pattern ("*" matches anything): the lane passes --match '!<title>', so they are not
 * run (rather than skipped), and checks that no result it got matches one. Every run prints them.
 * ava matches titles of every file alike: keep patterns specific to their file.
 */
const EXCLUDED_TESTS = [
  {
    file: 'build/test/integration/engines.test.js',
    title: 'capstan stats agrees with docker stats: CPU within 5 points, memory within 2 %',
    reason:
      'CPU % is container CPU time over /proc/stat host CPU time (docker\'s formula), and under TCG the ' +
      'tick-sampled /proc/stat falls behind the cgroup\'s nanosecond counters: a --cpus 0.5 loop read ' +
      '55.8 % in docker stats and 73.0 % in capstan stats, each over its own window, so agreement within ' +
      '5 points says nothing there (the host runs it)',
  },
];
const AVA_CLI = 'node_modules/ava/entrypoints/cli.mjs';
/** ava's --timeout: how long no test may finish before ava gives up (not a per-test limit). */
const AVA_TIMEOUT = '5m';
/** The guest's memory. Units: MiB. */
const GUEST_MEMORY_MIB = 4096;
/** The scratch disk's size; sparse, so it costs only what the tests write. Units: bytes. */
const SCRATCH_DISK_BYTES = 4 * 1024 ** 3;
/** Where the guest mounts the scratch disk; the tests get it as CAPSTAN_TEST_BLOCK_DIR. */
const GUEST_BLOCK_DIR = '/tmp/capstan-block';
const KERNEL_APPEND = 'console=ttyS0 panic=-1 quiet';
const MARKER = 'capstan-lane:';
/**
 * Whole VM run limit (CAPSTAN_LANE_TIMEOUT_S): a run took 20 min in CI (Dec 7) and 30-40 min here
 * while other work loaded the machine; 50 min leaves room for that and keeps .ci/run (npm test
 * 7-25 min, then the lane) under CI's 90 minutes. Units: seconds.
 */
const DEFAULT_TIMEOUT_S = 3000;

/** Exit code when the VM or the lane itself failed (as opposed to the tests). */
const EXIT_LANE_FAILURE = 2;

function log(message) {
  process.stdout.write(`[cgroup2-lane] ${message}\n`);
}

function secondsEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new LaneSetupError(`${name} must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  return value;
}

/** Glob to RegExp for "**", "*" and "?" (enough for test paths; no braces or classes). */
function globToRegExp(glob) {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i];
    if (char === '*' && glob[i + 1] === '*') {
      const slashFollows = glob[i + 2] === '/';
      source += slashFollows ? '(?:[^/]+/)*' : '.*';
      i += slashFollows ? 2 : 1;
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** Files under `root` matching `glob` (relative to root, no leading "/"), as sorted root-relative paths. */
function globFiles(root, glob) {
  const segments = glob.split('/');
  const firstWild = segments.findIndex((segment) => /[*?]/.test(segment));
  const base = firstWild === -1 ? glob : segments.slice(0, firstWild).join('/');
  const pattern = globToRegExp(glob);
  const found = [];
  const walk = (relative) => {
    let entries;
    try {
      entries = fs.readdirSync(path.join(root, relative), { withFileTypes: true });
    } catch (error) {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return;
      throw error;
    }
    for (const entry of entries) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else if (pattern.test(child)) found.push(child);
    }
  };
  if (firstWild === -1) {
    if (fs.existsSync(path.join(root, base))) found.push(base);
  } else {
    walk(base);
  }
  return found.sort();
}

function shellQuote(value) {
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

/**
 * The paths under /tmp the guest must keep visible when it mounts its own tmpfs there: the repo
 * and node's install prefix (bin/node's parent), outermost only. Host paths, absolute.
 */
function pathsToKeepUnderTmp(paths) {
  const underTmp = [...new Set(paths.map((p) => path.resolve(p)))].filter((p) => p.startsWith('/tmp/'));
  return underTmp.filter((p) => !underTmp.some((other) => other !== p && p.startsWith(`${other}/`))).sort();
}

/** ava's arguments after the fixed ones: a --match '!<title>' per excluded test, then the files. */
function avaArguments(files, excludedTests = EXCLUDED_TESTS) {
  return [...excludedTests.flatMap(({ title }) => ['--match', `!${title}`]), ...files];
}

/** An ava --match pattern as a RegExp over a test's own title ("*" matches anything, case-insensitive as in ava). */
function matchPatternToRegExp(pattern) {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

/** Results ("file › title" as TAP has them) that an exclusion should have kept from running. */
function resultsMatchingExclusions(titles, excludedTests = EXCLUDED_TESTS) {
  return titles.filter((full) => {
    const own = full.includes(' › ') ? full.slice(full.indexOf(' › ') + 3) : full;
    return excludedTests.some(({ title }) => matchPatternToRegExp(title).test(own));
  });
}

/** What the guest runs, as shell assignments guest-init.sh sources (ava's arguments via `set --`). */
function renderJobEnv({ repoDir, nodeBin, mode, avaArgs, hostRootCache, guestTimeoutS, blockDir }) {
  return [
    `LANE_REPO_DIR=${shellQuote(repoDir)}`,
    `LANE_TMP_KEEP=${shellQuote(pathsToKeepUnderTmp([repoDir, path.dirname(path.dirname(nodeBin))]).join('\n'))}`,
    `LANE_GUEST_TIMEOUT_S=${shellQuote(Math.ceil(guestTimeoutS))}`,
    `LANE_HOSTROOT_CACHE=${shellQuote(hostRootCache)}`,
    `LANE_NODE_BIN=${shellQuote(nodeBin)}`,
    `LANE_MODE=${shellQuote(mode)}`,
    `LANE_AVA_TIMEOUT=${shellQuote(AVA_TIMEOUT)}`,
    `LANE_BLOCK_DIR=${shellQuote(blockDir ?? '')}`,
    `set -- ${avaArgs.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

function findQemu() {
  const probe = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
  if (probe.error) throw new LaneSetupError(`qemu-system-x86_64 not runnable (${probe.error.code}); apt-get install qemu-system-x86`);
  return 'qemu-system-x86_64';
}

/**
 * A sparse raw image of `sizeBytes`, formatted ext4 on the host (mkfs.ext4 writes only its
 * metadata, so this takes well under a second and a few MiB of the host's disk).
 */
function createScratchDisk(file, sizeBytes) {
  fs.writeFileSync(file, '');
  fs.truncateSync(file, sizeBytes);
  const mkfs = spawnSync('mkfs.ext4', ['-q', '-F', '-L', 'capstan-block', file], { encoding: 'utf8' });
  if (mkfs.error) throw new LaneSetupError(`mkfs.ext4 not runnable (${mkfs.error.code}); apt-get install e2fsprogs`, { cause: mkfs.error });
  if (mkfs.status !== 0) throw new LaneSetupError(`mkfs.ext4 ${file} failed (exit ${mkfs.status}): ${mkfs.stderr.trim()}`);
}

function qemuArgs({ kernel, initramfs, outDir, disk }) {
  const extra = (process.env.CAPSTAN_LANE_QEMU_ARGS || '').split(' ').filter(Boolean);
  return [
    '-m', String(GUEST_MEMORY_MIB), '-smp', '2', '-nographic', '-no-reboot',
    // No network device at all: the guest needs none, and the machine allows no other addresses.
    '-nic', 'none',
    '-kernel', kernel.vmlinuz, '-initrd', initramfs, '-append', KERNEL_APPEND,
    // multidevs=remap: / spans several host filesystems; remap keeps inode numbers unique.
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    // qemu's option syntax escapes a comma in a value by doubling it.
    '-virtfs', `local,path=${outDir.replace(/,/g, ',,')},mount_tag=laneout,security_model=none,multidevs=remap`,
    // The scratch disk (/dev/vda in the guest). cache=unsafe: the image is thrown away after the
    // run, so the guest's flushes (ext4's journal commits, fsyncs of state files) need not reach
    // the host's disk; it is what a throwaway disk should cost. The guest's O_DIRECT still goes
    // past the guest's page cache as a real request on vda, which is all the tests measure.
    // discard=unmap: files the tests delete give their space back to the sparse image.
    ...(disk ? ['-drive', `file=${disk.replace(/,/g, ',,')},format=raw,if=virtio,cache=unsafe,discard=unmap`] : []),
    ...extra,
  ];
}

/** Console text without terminal control sequences (SeaBIOS clears the screen) or CRs. */
function cleanConsoleLine(line) {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[A-Za-z]/g, '').replace(/\r/g, '');
}

function formatSeconds(ms) {
  return ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(1)} s`;
}

/** The excluded files and tests, one a line, with their reasons. */
function exclusionLines() {
  return [
    ...EXCLUDED_FILES.map(({ file, reason }) => `  file ${file}: ${reason}`),
    ...EXCLUDED_TESTS.map(({ file, title, reason }) => `  test ${file} › ${title}: ${reason}`),
  ];
}

async function main() {
  const startedAt = Date.now();
  const timings = {};
  const shellMode = process.env.CAPSTAN_LANE_SHELL === '1';
  const keepOut = process.env.CAPSTAN_LANE_KEEP === '1';
  const totalTimeoutMs = secondsEnv('CAPSTAN_LANE_TIMEOUT_S', DEFAULT_TIMEOUT_S) * 1000;
  const bootTimeoutMs = secondsEnv('CAPSTAN_LANE_BOOT_TIMEOUT_S', 180) * 1000;

  const glob = process.env.CAPSTAN_LANE_GLOB || DEFAULT_GLOB;
  const globs = glob.split(/\s+/).filter(Boolean);
  for (const one of globs) {
    if (path.isAbsolute(one)) throw new LaneSetupError(`CAPSTAN_LANE_GLOB must be relative to the repository, got ${one}`);
  }
  const excludedFiles = new Set(EXCLUDED_FILES.map((entry) => entry.file));
  for (const file of excludedFiles) {
    if (!fs.existsSync(path.join(REPO_DIR, file))) throw new LaneSetupError(`the excluded file ${file} does not exist: update EXCLUDED_FILES`);
  }
  const files = [...new Set(globs.flatMap((one) => globFiles(REPO_DIR, one)))].sort().filter((file) => !excludedFiles.has(file));
  if (!shellMode && files.length === 0) {
    throw new LaneSetupError(
      `no test file matches ${glob} in ${REPO_DIR} (less the excluded ones): ` +
      'build the tests first (npx tsc -p tsconfig.json)',
    );
  }
  if (!fs.existsSync(path.join(REPO_DIR, AVA_CLI))) throw new LaneSetupError(`${AVA_CLI} is missing: run npm install`);
  const qemu = findQemu();

  const kernel = findNewestKernel();
  const initramfsStart = Date.now();
  const initramfs = ensureInitramfs(kernel, { cacheDir: CACHE_DIR });
  timings.initramfs = Date.now() - initramfsStart;
  log(`kernel ${kernel.version}; initramfs ${path.relative(REPO_DIR, initramfs.path)} ` +
    `(${initramfs.built ? 'built' : 'cached'}; modules: ${initramfs.modules.map((m) => m.name).join(' ')})`);
  if (!shellMode) {
    log(`test files (${files.length}): ${files.join(' ')}`);
    log(`excluded (${EXCLUDED_FILES.length} file(s), ${EXCLUDED_TESTS.length} test pattern(s)):\n${exclusionLines().join('\n')}`);
  }

  // The lane's temp dir: out/ is the guest's writable export, scratch.img its disk.
  const laneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-lane-'));
  const outDir = path.join(laneDir, 'out');
  const disk = path.join(laneDir, 'scratch.img');
  let qemuProcess;
  const cleanup = () => {
    if (qemuProcess && qemuProcess.exitCode === null && qemuProcess.signalCode === null) {
      try { process.kill(qemuProcess.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    if (keepOut) log(`kept ${laneDir}`);
    else fs.rmSync(laneDir, { recursive: true, force: true });
  };
  // Whatever ends this process (a crash, ^C, CI cancelling), qemu must not outlive it.
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      log(`received ${signal}: killing the VM`);
      process.exit(128 + os.constants.signals[signal]);
    });
  }

  fs.mkdirSync(outDir);
  const diskStart = Date.now();
  createScratchDisk(disk, SCRATCH_DISK_BYTES);
  timings.disk = Date.now() - diskStart;
  fs.writeFileSync(path.join(outDir, 'job.env'), renderJobEnv({
    repoDir: REPO_DIR, nodeBin: process.execPath, mode: shellMode ? 'shell' : 'test', avaArgs: avaArguments(files),
    hostRootCache: process.env.CAPSTAN_LANE_9P_CACHE || 'loose',
    // The host's watchdog acts first; the guest's own is for a host side that died (SIGKILL).
    guestTimeoutS: totalTimeoutMs / 1000 + 30,
    blockDir: GUEST_BLOCK_DIR,
  }));

  const args = qemuArgs({ kernel, initramfs: initramfs.path, outDir, disk });
  const qemuStart = Date.now();
  if (shellMode) {
    log('CAPSTAN_LANE_SHELL=1: interactive guest shell (exit it to power off; Ctrl-A X kills qemu)');
    qemuProcess = spawn(qemu, args, { stdio: 'inherit' });
    const code = await new Promise((resolve) => qemuProcess.on('exit', (c) => resolve(c ?? 1)));
    return code === 0 ? 0 : EXIT_LANE_FAILURE;
  }

  qemuProcess = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const marks = {};
  let watchdogReason;
  const killByWatchdog = (reason) => {
    if (watchdogReason) return;
    watchdogReason = reason;
    log(`watchdog: ${reason}; killing qemu (pid ${qemuProcess.pid})`);
    try { process.kill(qemuProcess.pid, 'SIGKILL'); } catch { /* already gone */ }
  };
  const bootTimer = setTimeout(() => {
    if (marks.nodeStart === undefined) killByWatchdog(`the guest did not start node within ${bootTimeoutMs / 1000} s`);
  }, bootTimeoutMs);
  const totalTimer = setTimeout(() => killByWatchdog(`the VM ran longer than ${totalTimeoutMs / 1000} s`), totalTimeoutMs);

  const onConsoleLine = (raw) => {
    const line = cleanConsoleLine(raw);
    const now = Date.now() - qemuStart;
    let shown = line;
    if (line.includes(`${MARKER} init started`)) marks.init ??= now;
    else if (line.includes(`${MARKER} node-start`)) marks.nodeStart ??= now;
    else if (line.includes(`${MARKER} tests-done`)) marks.testsDone ??= now;
    else if (marks.nodeStart !== undefined && marks.testsDone === undefined) {
      // ava's TAP (and the tests' own output) as `npm test` shows it.
      if (marks.firstAvaLine === undefined && line.trim() !== '') marks.firstAvaLine = now;
      shown = renderTapLine(line);
    }
    if (shown !== undefined) process.stdout.write(`vm| ${shown}\n`);
  };
  let pending = '';
  qemuProcess.stdout.setEncoding('utf8');
  qemuProcess.stdout.on('data', (chunk) => {
    // SeaBIOS and the kernel reset the terminal (ESC c) without a newline: make it one.
    pending += chunk.replace(/\x1bc/g, '\n');
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      onConsoleLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  });
  qemuProcess.stderr.setEncoding('utf8');
  qemuProcess.stderr.on('data', (chunk) => process.stderr.write(chunk.replace(/^(?=.)/gm, 'qemu| ')));

  const exit = await new Promise((resolve) => {
    qemuProcess.on('error', (error) => resolve({ error }));
    qemuProcess.on('exit', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(bootTimer);
  clearTimeout(totalTimer);
  if (pending) onConsoleLine(pending);
  const qemuEnd = Date.now();

  timings.bootToNode = marks.nodeStart;
  timings.avaStartup = marks.firstAvaLine !== undefined ? marks.firstAvaLine - marks.nodeStart : undefined;
  timings.tests = marks.testsDone !== undefined ? marks.testsDone - marks.nodeStart : undefined;
  timings.shutdown = marks.testsDone !== undefined ? qemuEnd - qemuStart - marks.testsDone : undefined;
  timings.vm = qemuEnd - qemuStart;
  const printTimings = () => {
    log(`timings: initramfs ${formatSeconds(timings.initramfs)}, scratch disk ${formatSeconds(timings.disk)}, ` +
      `kernel to /init ${formatSeconds(marks.init)}, ` +
      `boot to node ${formatSeconds(timings.bootToNode)}, node start to first ava output ${formatSeconds(timings.avaStartup)}, ` +
      `tests ${formatSeconds(timings.tests)}, power-off ${formatSeconds(timings.shutdown)}, VM ${formatSeconds(timings.vm)}, ` +
      `total ${formatSeconds(Date.now() - startedAt)}`);
  };

  const read = (name) => {
    try { return fs.readFileSync(path.join(outDir, name), 'utf8'); } catch { return undefined; }
  };
  if (exit.error) throw new LaneSetupError(`cannot start qemu: ${exit.error.message}`, { cause: exit.error });
  const rcText = read('ava.rc');
  const tap = read('ava.tap') ?? '';
  const avaStderr = read('ava.stderr') ?? '';
  const guestError = read('guest-error');
  // ava.rc is written once ava has exited; without it the VM died or was killed mid-run.
  const avaExitCode = rcText === undefined ? undefined : Number(rcText.trim());
  const verdict = judgeTapRun(avaExitCode ?? 0, tap, avaStderr);
  const counts = { ...verdict.counts };
  if (avaExitCode === undefined) {
    const why = watchdogReason ?? guestError?.trim() ??
      `qemu exited (code ${exit.code}, signal ${exit.signal}) before the tests reported a result`;
    verdict.reasons.unshift(`the VM produced no test result: ${why}`);
    verdict.ok = false;
  }
  const leaked = resultsMatchingExclusions([...verdict.titles.passed, ...verdict.titles.failed, ...verdict.titles.skipped, ...verdict.titles.todo]);
  if (leaked.length > 0) {
    verdict.reasons.push(`excluded test(s) ran anyway (ava did not apply the --match): ${leaked.join('; ')}`);
    verdict.ok = false;
  }
  // A run that failed without naming a failed test (ava or the VM died) still counts as one.
  if (!verdict.ok && counts.failed === 0) counts.failed = 1;

  printTimings();
  process.stdout.write('\n');
  for (const kind of ['skipped', 'todo']) {
    if (verdict.titles[kind].length === 0) continue;
    log(`${kind}:\n${verdict.titles[kind].map((title) => `  ${title}`).join('\n')}`);
  }
  log(`excluded, not run in the lane:\n${exclusionLines().join('\n')}`);
  // Last before the verdict: a log read from its tail shows why, not only what.
  const failures = failureReports(tap);
  if (failures.length > 0) log(`failed, and why:\n${renderFailureReports(failures)}`);
  if (verdict.ok) log(`PASSED in a pure cgroup v2 guest (kernel ${kernel.version})`);
  else log(`FAILED: ${verdict.reasons.join('; ')}`);
  process.stdout.write(`\n${closingLine(counts)}\n`);
  if (verdict.ok) return 0;
  if (avaExitCode === undefined) return EXIT_LANE_FAILURE;
  return Number.isInteger(avaExitCode) && avaExitCode !== 0 ? avaExitCode : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    log(`FAILED: ${error instanceof LaneSetupError ? error.message : error.stack}`);
    process.exit(EXIT_LANE_FAILURE);
  },
);
