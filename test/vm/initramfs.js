'use strict';
// Finds the guest kernel and builds (or reuses from .vm/) the initramfs the lane boots with:
// static busybox with its applet links, the modules the guest needs (virtio-9p, the scratch disk
// and ext4, overlayfs, loop; see ROOT_MODULES) in dependency order, and guest-init.sh as /init.

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { buildNewcArchive } = require('./cpio');

const INIT_SCRIPT = path.join(__dirname, 'guest-init.sh');
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];
const STALE_ARCHIVE_AGE_MS = 60 * 60 * 1000;

/**
 * The modules the guest loads itself, in this order; everything they depend on (`modinfo -F
 * depends`) is added before them.
 * - virtio_pci: the bus qemu puts the virtio devices on; 9pnet_virtio and 9p: the host's files.
 * - virtio_blk: the lane's scratch disk (/dev/vda), ext4 on it at /tmp/capstan-block, where block
 *   I/O is real (tmpfs does none). crc32c_generic first: ext4 and jbd2 ask the crypto API for
 *   "crc32c" at mount time (a softdep, which `depends` does not list), and the guest has no
 *   modprobe to load it then; the generic one, because crc32c_intel needs SSE4.2, which qemu's
 *   default TCG CPU lacks.
 * - overlay: image containers stack their layers with overlayfs.
 * - loop: block I/O tests make loop devices of their own.
 * - dummy: a network interface besides lo (dummy0), connected to nothing.
 */
const ROOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'virtio_blk', 'crc32c_generic', 'ext4', 'overlay', 'loop', 'dummy'];

class LaneSetupError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'LaneSetupError';
  }
}

/** Orders "6.1.0-9-amd64" before "6.1.0-56-amd64" (numeric runs compare as numbers). */
function compareKernelVersions(a, b) {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** The newest kernel in /boot that also has its /lib/modules tree: { version, vmlinuz, modulesDir }. */
function findNewestKernel({ bootDir = '/boot', modulesRoot = '/lib/modules' } = {}) {
  let names;
  try {
    names = fs.readdirSync(bootDir);
  } catch (error) {
    throw new LaneSetupError(`cannot list ${bootDir}: ${error.code} (install linux-image-amd64)`, { cause: error });
  }
  const versions = names
    .filter((name) => name.startsWith('vmlinuz-'))
    .map((name) => name.slice('vmlinuz-'.length))
    .filter((version) => fs.existsSync(path.join(modulesRoot, version, 'modules.dep')))
    .sort(compareKernelVersions);
  if (versions.length === 0) {
    throw new LaneSetupError(`no kernel with modules in ${bootDir} and ${modulesRoot} (apt-get install linux-image-amd64)`);
  }
  const version = versions[versions.length - 1];
  const vmlinuz = path.join(bootDir, `vmlinuz-${version}`);
  try {
    fs.accessSync(vmlinuz, fs.constants.R_OK);
  } catch (error) {
    throw new LaneSetupError(`${vmlinuz} is not readable (${error.code}); Debian kernels are root-only: run as root`, {
      cause: error,
    });
  }
  return { version, vmlinuz, modulesDir: path.join(modulesRoot, version) };
}

function modinfoField(kernelVersion, moduleName, field) {
  try {
    return execFileSync('modinfo', ['-k', kernelVersion, '-F', field, moduleName], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (error) {
    if (error.code === 'ENOENT') throw new LaneSetupError('modinfo not found (apt-get install kmod)', { cause: error });
    const stderr = String(error.stderr || '').trim();
    throw new LaneSetupError(`modinfo -k ${kernelVersion} -F ${field} ${moduleName} failed: ${stderr}`, { cause: error });
  }
}

/**
 * The modules to insert, each after everything it depends on (depth-first post-order over
 * `modinfo -F depends`). Modules built into this kernel are left out.
 * Returns [{ name, filename }].
 */
function resolveModules(kernelVersion, roots = ROOT_MODULES) {
  const ordered = [];
  const state = new Map(); // name -> 'visiting' | 'done'
  const visit = (name) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new LaneSetupError(`module dependency cycle through ${name}`);
    state.set(name, 'visiting');
    const filename = modinfoField(kernelVersion, name, 'filename');
    if (filename !== '(builtin)' && filename !== '') {
      const depends = modinfoField(kernelVersion, name, 'depends').split(',').filter(Boolean);
      for (const dependency of depends) visit(dependency);
      ordered.push({ name, filename });
    }
    state.set(name, 'done');
  };
  for (const root of roots) visit(root);
  return ordered;
}

/** busybox insmod takes plain .ko files only, so compressed modules are unpacked on the host. */
function readModuleUncompressed(filename, busybox) {
  if (filename.endsWith('.ko')) return fs.readFileSync(filename);
  if (filename.endsWith('.ko.gz')) return zlib.gunzipSync(fs.readFileSync(filename));
  if (filename.endsWith('.ko.xz')) return execFileSync(busybox, ['xzcat', filename], { maxBuffer: 1 << 28 });
  if (filename.endsWith('.ko.zst')) {
    try {
      return execFileSync('zstd', ['-dcq', filename], { maxBuffer: 1 << 28 });
    } catch (error) {
      throw new LaneSetupError(`cannot unpack ${filename} (apt-get install zstd)`, { cause: error });
    }
  }
  throw new LaneSetupError(`unknown module file type: ${filename}`);
}

function findBusybox() {
  for (const candidate of BUSYBOX_CANDIDATES) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new LaneSetupError('busybox not found (apt-get install busybox-static)');
}

/** The applets this busybox offers, which become /bin/<applet> -> busybox links. */
function busyboxApplets(busybox) {
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  // The Debian dynamic busybox lacks applets the init needs; only the static one has them all.
  for (const needed of ['sh', 'mount', 'insmod', 'chroot', 'poweroff', 'tee', 'cttyhack', 'setsid']) {
    if (!applets.includes(needed)) {
      throw new LaneSetupError(`${busybox} has no "${needed}" applet (apt-get install busybox-static)`);
    }
  }
  return applets;
}

function sha256(...buffers) {
  const hash = crypto.createHash('sha256');
  for (const buffer of buffers) hash.update(buffer);
  return hash.digest('hex');
}

/**
 * Returns { path, built, modules } for the initramfs of `kernel`, building it into cacheDir when
 * no archive with the same key exists. The key covers the kernel version, /init, this builder and
 * the busybox binary, so editing any of them rebuilds. Archives of other keys older than an hour
 * are removed.
 */
function ensureInitramfs(kernel, { cacheDir }) {
  const busybox = findBusybox();
  const initScript = fs.readFileSync(INIT_SCRIPT);
  const busyboxBinary = fs.readFileSync(busybox);
  const key = sha256(initScript, fs.readFileSync(__filename), fs.readFileSync(require.resolve('./cpio')), busyboxBinary)
    .slice(0, 16);
  const archiveName = `initramfs-${kernel.version}-${key}.cpio.gz`;
  const archivePath = path.join(cacheDir, archiveName);
  const modules = resolveModules(kernel.version);
  if (fs.existsSync(archivePath)) return { path: archivePath, built: false, modules };

  const entries = [
    { type: 'dir', name: 'bin' },
    { type: 'dir', name: 'dev' },
    { type: 'chardev', name: 'dev/console', major: 5, minor: 1 },
    { type: 'dir', name: 'etc' },
    { type: 'dir', name: 'host' },
    { type: 'dir', name: 'lib' },
    { type: 'dir', name: 'lib/modules' },
    { type: 'dir', name: 'out' },
    { type: 'dir', name: 'proc' },
    { type: 'dir', name: 'sys' },
    { type: 'dir', name: 'tmp', mode: 0o1777 },
    { type: 'file', name: 'bin/busybox', data: busyboxBinary, mode: 0o755 },
  ];
  for (const applet of busyboxApplets(busybox)) {
    if (applet !== 'busybox') entries.push({ type: 'symlink', name: `bin/${applet}`, target: 'busybox' });
  }
  for (const module of modules) {
    entries.push({ type: 'file', name: `lib/modules/${module.name}.ko`, data: readModuleUncompressed(module.filename, busybox) });
  }
  entries.push({ type: 'file', name: 'etc/lane-modules', data: Buffer.from(modules.map((m) => `${m.name}\n`).join('')) });
  entries.push({ type: 'file', name: 'init', data: initScript, mode: 0o755 });

  fs.mkdirSync(cacheDir, { recursive: true });
  const temporary = `${archivePath}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, zlib.gzipSync(buildNewcArchive(entries)));
  fs.renameSync(temporary, archivePath);
  // Old archives go, but not young ones: another lane run may be about to boot with one.
  const staleBefore = Date.now() - STALE_ARCHIVE_AGE_MS;
  for (const name of fs.readdirSync(cacheDir)) {
    if (!name.startsWith('initramfs-') || name === archiveName) continue;
    const file = path.join(cacheDir, name);
    try {
      if (fs.statSync(file).mtimeMs < staleBefore) fs.rmSync(file, { force: true });
    } catch { /* removed by a concurrent run */ }
  }
  return { path: archivePath, built: true, modules };
}

module.exports = { LaneSetupError, findNewestKernel, resolveModules, ensureInitramfs, compareKernelVersions, ROOT_MODULES };
