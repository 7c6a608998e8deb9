'use strict';
// Installs Debian packages that the tests need, only when missing: idempotent and quick when
// everything is there (one dpkg-query), as `npm test` must be on a fresh machine.
// An install never starts a system service: docker.io's maintainer scripts would start the host's
// dockerd (invoke-rc.d, without systemd as PID 1), and the tests start private engines of their
// own. Debian's policy-rc.d hook answers 101 ("action not allowed") for the install's duration.
const fs = require('node:fs');
const { execFileSync, spawnSync } = require('node:child_process');

const POLICY_RC_D = '/usr/sbin/policy-rc.d';
const OUR_POLICY = '#!/bin/sh\n# Written by capstan (scripts/lib/debian.js) while apt-get installs test packages: start no service.\nexit 101\n';

function missingPackages(names) {
  const missing = [];
  for (const name of names) {
    const result = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    if (result.status !== 0 || !/install ok installed/.test(result.stdout)) missing.push(name);
  }
  return missing;
}

/**
 * What the native build links besides libc: libseccomp (the shim loads each container's seccomp
 * filter with it, statically linked from libseccomp.a). Installed by the build itself when missing,
 * so `npm install` on a fresh machine works, and by the test preparation.
 */
const BUILD_PACKAGES = ['libseccomp-dev'];

let aptUpdated = false;

/** Installs the named packages if any is missing. Needs root; otherwise says what to install. */
function ensureDebianPackages(names, { log = console.error } = {}) {
  const missing = missingPackages(names);
  if (missing.length === 0) return;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(`missing Debian packages: ${missing.join(' ')} (run as root, or: apt-get install ${missing.join(' ')})`);
  }
  log(`capstan: installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    aptUpdated = true;
  }
  withoutServiceStarts(() =>
    execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    }),
  );
}

/**
 * Runs `install` with a policy-rc.d that refuses every service start. A policy-rc.d already there
 * is the machine's and is left alone; one with exactly our content is a leftover of an install
 * that was killed, and is ours to remove.
 */
function withoutServiceStarts(install, policyPath = POLICY_RC_D) {
  let existing;
  try {
    existing = fs.readFileSync(policyPath, 'utf8');
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  if (existing !== undefined && existing !== OUR_POLICY) return install();
  fs.writeFileSync(policyPath, OUR_POLICY, { mode: 0o755 });
  try {
    return install();
  } finally {
    fs.rmSync(policyPath, { force: true });
  }
}

module.exports = { BUILD_PACKAGES, ensureDebianPackages, missingPackages, withoutServiceStarts, OUR_POLICY };
