'use strict';
// Writes the "newc" cpio format that the kernel unpacks as an initramfs (see the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst). Written here instead of piping
// `find | cpio` so that the lane needs no cpio package, the archive can hold /dev/console without
// root (mknod), and the bytes are deterministic (mtime 0, fixed inode numbers), which keeps the
// .vm/ cache honest.

const NEWC_MAGIC = '070701';
const TRAILER_NAME = 'TRAILER!!!';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** Pads to the 4-byte boundary that newc requires after the header+name and after the data. */
function padding(length) {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function hex8(value) {
  return value.toString(16).toUpperCase().padStart(8, '0');
}

/**
 * One archive entry. `name` has no leading slash ("bin/busybox"); `data` is a Buffer (file
 * contents, or the target for a symlink).
 */
function encodeEntry({ ino, mode, nlink = 1, data = Buffer.alloc(0), rdevMajor = 0, rdevMinor = 0, name }) {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [
    ino, mode, 0 /* uid */, 0 /* gid */, nlink, 0 /* mtime */, data.length,
    0 /* devmajor */, 0 /* devminor */, rdevMajor, rdevMinor, nameBytes.length, 0 /* check */,
  ];
  const header = Buffer.from(NEWC_MAGIC + fields.map(hex8).join(''), 'ascii');
  const headerAndName = Buffer.concat([header, nameBytes]);
  return Buffer.concat([headerAndName, padding(headerAndName.length), data, padding(data.length)]);
}

/**
 * Builds a newc archive from a list of entries:
 *   { type: 'dir', name, mode? } | { type: 'file', name, data, mode? } |
 *   { type: 'symlink', name, target } | { type: 'chardev', name, major, minor, mode? }
 * Parents must come before their children, as the kernel creates entries in order.
 */
function buildNewcArchive(entries) {
  const parts = [];
  let ino = 1;
  for (const entry of entries) {
    const name = entry.name.replace(/^\/+/, '');
    switch (entry.type) {
      case 'dir':
        parts.push(encodeEntry({ ino: ino++, name, mode: S_IFDIR | (entry.mode ?? 0o755), nlink: 2 }));
        break;
      case 'file':
        parts.push(encodeEntry({ ino: ino++, name, mode: S_IFREG | (entry.mode ?? 0o644), data: entry.data }));
        break;
      case 'symlink':
        parts.push(encodeEntry({ ino: ino++, name, mode: S_IFLNK | 0o777, data: Buffer.from(entry.target, 'utf8') }));
        break;
      case 'chardev':
        parts.push(encodeEntry({
          ino: ino++, name, mode: S_IFCHR | (entry.mode ?? 0o600), rdevMajor: entry.major, rdevMinor: entry.minor,
        }));
        break;
      default:
        throw new TypeError(`cpio entry ${JSON.stringify(entry.name)} has unknown type ${JSON.stringify(entry.type)}`);
    }
  }
  parts.push(encodeEntry({ ino: 0, name: TRAILER_NAME, mode: 0 }));
  return Buffer.concat(parts);
}

module.exports = { buildNewcArchive };
