'use strict';
// Installs Debian packages that the tests need, only when missing: idempotent and quick when
// everything is there (one dpkg-query), as `npm test` must be on a fresh machine.
const { execFileSync, spawnSync } = require('node:child_process');

function missingPackages(names) {
  const missing = [];
  for (const name of names) {
    const result = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    if (result.status !== 0 || !/install ok installed/.test(result.stdout)) missing.push(name);
  }
  return missing;
}

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
  execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
}

module.exports = { ensureDebianPackages, missingPackages };
