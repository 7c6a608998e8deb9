/**
 * Test images built from Debian's busybox-static (/usr/bin/busybox), in the three formats the image
 * store imports:
 *   - a plain root filesystem tarball (and its gzip);
 *   - a `docker save` archive with two layers, the second one deleting a file (whiteout) and
 *     replacing a directory's content (opaque directory);
 *   - an OCI image layout, as a directory and as a tar, with the same two layers gzip-compressed.
 * Everything is written by hand (tar included), so the tests need no Docker and no network.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { packTar, type TarWriteEntry } from '../../server/runtime/images/tar';

export const HOST_BUSYBOX = '/usr/bin/busybox';

/** Applets linked into /bin (each must exist in Debian's busybox-static). */
export const BUSYBOX_APPLETS = [
  'sh', 'ash', 'ls', 'cat', 'echo', 'httpd', 'sleep', 'ps', 'mount', 'umount', 'id', 'hostname', 'ip', 'true', 'false', 'nc',
  'wc', 'grep', 'touch', 'mkdir', 'rm', 'env', 'pwd', 'uname', 'head', 'tail', 'sed', 'printf', 'kill', 'test', '[', 'tr',
  'sort', 'cut', 'ln', 'mv', 'cp', 'chmod', 'stat', 'readlink', 'seq', 'wget', 'netstat', 'top', 'whoami', 'tty', 'stty', 'date',
  'dd', 'df', 'find', 'xargs', 'awk', 'ifconfig', 'nproc',
] as const;

/** Mode, owner and time used for every entry: reproducible archives (and image IDs). */
const MTIME = 1_700_000_000;

export type TarFile = TarWriteEntry & { content?: Buffer | string };

export function busyboxAvailable(): boolean {
  return fs.existsSync(HOST_BUSYBOX);
}

/** The base layer's entries: busybox, its applets, /etc/passwd and group, mount points. */
export function baseLayerEntries(): TarFile[] {
  const dir = (name: string, mode = 0o755): TarFile => ({ name, type: 'directory', mode, mtime: MTIME });
  const file = (name: string, content: Buffer | string, mode = 0o644): TarFile => ({ name, type: 'file', content, mode, mtime: MTIME });
  return [
    dir('./'),
    dir('bin/'),
    file('bin/busybox', fs.readFileSync(HOST_BUSYBOX), 0o755),
    ...BUSYBOX_APPLETS.map((applet): TarFile => ({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox', mtime: MTIME })),
    dir('etc/'),
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
    file('etc/group', 'root:x:0:\nnogroup:x:65534:\n'),
    file('etc/issue', 'capstan busybox test image\n'),
    file('etc/hostname', 'busybox\n'),
    dir('root/', 0o700),
    dir('tmp/', 0o1777),
    dir('proc/', 0o555),
    dir('sys/', 0o555),
    dir('dev/'),
    dir('var/'),
    dir('var/www/'),
    file('var/www/old.html', 'from the base layer\n'),
    // A hard link inside the layer, as real images have them.
    { name: 'bin/busybox-hardlink', type: 'hardlink', linkname: 'bin/busybox', mtime: MTIME },
  ];
}

/** The second layer: adds /etc/motd, deletes /etc/issue, replaces /var/www's content. */
export function updateLayerEntries(): TarFile[] {
  return [
    { name: 'etc/', type: 'directory', mode: 0o755, mtime: MTIME },
    { name: 'etc/motd', type: 'file', content: 'hello from layer 2\n', mode: 0o644, mtime: MTIME },
    { name: 'etc/.wh.issue', type: 'file', content: '', mode: 0o644, mtime: MTIME },
    { name: 'var/', type: 'directory', mode: 0o755, mtime: MTIME },
    { name: 'var/www/', type: 'directory', mode: 0o755, mtime: MTIME },
    { name: 'var/www/.wh..wh..opq', type: 'file', content: '', mode: 0o644, mtime: MTIME },
    { name: 'var/www/index.html', type: 'file', content: '<h1>capstan</h1>\n', mode: 0o644, mtime: MTIME },
  ];
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface BusyboxImageFiles {
  /** Plain rootfs tarball (base layer only). */
  rootfsTar: string;
  rootfsTarGz: string;
  /** `docker save` archive, tagged dockerSaveTag. */
  dockerSave: string;
  dockerSaveTag: string;
  /** OCI image layout directory and the same as a tar, named ociTag. */
  ociDirectory: string;
  ociTar: string;
  ociTag: string;
  /** Digests of the uncompressed layer tars ("sha256:<hex>"), bottom first. */
  diffIds: [string, string];
}

function imageConfig(diffIds: string[]): string {
  return JSON.stringify({
    architecture: ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch,
    os: 'linux',
    created: new Date(MTIME * 1000).toISOString(),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [{ created_by: 'capstan test: busybox base' }, { created_by: 'capstan test: update layer' }],
  });
}

/** Packs a directory tree (sorted, reproducible) into a tar. */
export function packDirectory(root: string): Buffer {
  const entries: TarFile[] = [];
  const visit = (relative: string): void => {
    const absolute = path.join(root, relative);
    const stat = fs.lstatSync(absolute);
    if (stat.isDirectory()) {
      if (relative !== '') entries.push({ name: `${relative}/`, type: 'directory', mode: stat.mode & 0o7777, mtime: MTIME });
      for (const name of fs.readdirSync(absolute).sort()) visit(relative === '' ? name : `${relative}/${name}`);
    } else if (stat.isSymbolicLink()) {
      entries.push({ name: relative, type: 'symlink', linkname: fs.readlinkSync(absolute), mtime: MTIME });
    } else {
      entries.push({ name: relative, type: 'file', content: fs.readFileSync(absolute), mode: stat.mode & 0o7777, mtime: MTIME });
    }
  };
  visit('');
  return packTar(entries);
}

/** Writes every busybox test archive into `directory` (which must exist). */
export function writeBusyboxImages(directory: string): BusyboxImageFiles {
  return writeTestImages(directory, baseLayerEntries(), updateLayerEntries(), 'busybox');
}

/**
 * Writes the archives of a two-layer image made of `baseEntries` and `updateEntries` (the rootfs
 * tarballs hold the base layer only). Files are named `<stem>-rootfs.tar` etc.
 */
export function writeTestImages(directory: string, baseEntries: TarFile[], updateEntries: TarFile[], stem: string): BusyboxImageFiles {
  const base = packTar(baseEntries);
  const update = packTar(updateEntries);
  const diffIds: [string, string] = [`sha256:${sha256(base)}`, `sha256:${sha256(update)}`];
  const config = imageConfig(diffIds);
  const configHex = sha256(config);

  const rootfsTar = path.join(directory, `${stem}-rootfs.tar`);
  fs.writeFileSync(rootfsTar, base);
  const rootfsTarGz = path.join(directory, `${stem}-rootfs.tar.gz`);
  fs.writeFileSync(rootfsTarGz, gzipSync(base));

  // docker save (the classic layout: <id>/layer.tar and <config>.json).
  const dockerSaveTag = `capstan-test/${stem}:save`;
  const layerDirs = diffIds.map((id) => id.slice('sha256:'.length));
  const dockerSave = path.join(directory, `${stem}-docker-save.tar`);
  fs.writeFileSync(
    dockerSave,
    packTar([
      { name: `${configHex}.json`, type: 'file', content: config, mtime: MTIME },
      ...layerDirs.flatMap((hex, i): TarFile[] => [
        { name: `${hex}/`, type: 'directory', mtime: MTIME },
        { name: `${hex}/VERSION`, type: 'file', content: '1.0', mtime: MTIME },
        { name: `${hex}/json`, type: 'file', content: JSON.stringify({ id: hex }), mtime: MTIME },
        { name: `${hex}/layer.tar`, type: 'file', content: i === 0 ? base : update, mtime: MTIME },
      ]),
      {
        name: 'manifest.json',
        type: 'file',
        content: JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [dockerSaveTag], Layers: layerDirs.map((hex) => `${hex}/layer.tar`) }]),
        mtime: MTIME,
      },
      { name: 'repositories', type: 'file', content: JSON.stringify({ [`capstan-test/${stem}`]: { save: layerDirs[1] } }), mtime: MTIME },
    ]),
  );

  // OCI image layout with gzip-compressed layers.
  const ociTag = `capstan-test/${stem}-oci:1.0`;
  const ociDirectory = path.join(directory, `${stem}-oci`);
  const blobs = path.join(ociDirectory, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const blob = (data: Buffer | string): { digest: string; size: number } => {
    const hex = sha256(data);
    fs.writeFileSync(path.join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
  };
  const layers = [base, update].map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob(gzipSync(layer)) }));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(config) },
    layers,
  });
  const manifestBlob = blob(manifest);
  fs.writeFileSync(path.join(ociDirectory, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(ociDirectory, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifestBlob, annotations: { 'org.opencontainers.image.ref.name': ociTag } }],
    }),
  );
  const ociTar = path.join(directory, `${stem}-oci.tar`);
  fs.writeFileSync(ociTar, packDirectory(ociDirectory));

  return { rootfsTar, rootfsTarGz, dockerSave, dockerSaveTag, ociDirectory, ociTar, ociTag, diffIds };
}
