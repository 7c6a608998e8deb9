#!/usr/bin/env node
'use strict';
// What `npm test` makes sure of before ava starts, so the suite passes on a fresh machine:
// the Debian packages the tests drive for real (installed only when missing, as root) and a
// build of whatever is stale.
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { BUILD_PACKAGES, ensureDebianPackages } = require('./lib/debian');

// promtool validates /metrics; busybox-static provides the test workloads' tools.
// chromium runs the dashboard's browser tests (test/integration/dashboard.test.ts).
// docker.io and podman are the real engines the engine client is tested against; the tests start
// private daemons (test/helpers/engines.ts), never the host's services. runc is named because
// podman depends on "crun | runc" and its test configuration runs runc.
// tmux is the terminal `capstan stats -i` is driven in (test/integration/stats-interactive.test.ts).
const TEST_PACKAGES = ['prometheus', 'busybox-static', 'chromium', 'docker.io', 'podman', 'runc', 'tmux', 'docker-registry', 'apache2-utils', 'openssl'];

// BUILD_PACKAGES (libseccomp-dev): the native build below links the shim against it.
const packages = [...BUILD_PACKAGES, ...TEST_PACKAGES];
if (process.argv.includes('--vm')) {
  packages.push(...require('../test/vm/packages').VM_DEBIAN_PACKAGES);
}

try {
  ensureDebianPackages(packages);
  if (process.argv.includes('--packages-only')) process.exit(0);
} catch (error) {
  console.error(`capstan test setup: ${error.message}`);
  process.exit(1);
}
execFileSync(process.execPath, [path.join(__dirname, 'build.js'), '--quiet'], { stdio: 'inherit' });
