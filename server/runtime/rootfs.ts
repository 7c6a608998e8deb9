/**
 * A container's root filesystem on the TypeScript side: the folders the shim mounts, never the
 * mounts themselves (those happen inside the container's own mount namespace, in the shim, so
 * nothing is left mounted on the host when a container or the agent dies).
 *
 *   <containerDir>/rootfs   where the shim assembles the root (the overlay's mount point)
 *   <containerDir>/upper    the container's copy-on-write layer (kept across restarts)
 *   <containerDir>/work     overlayfs' work directory (same filesystem as upper)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostRootfs, ROOTFS_DIRECTORY, type ImageRef, type PreparedRootfs, type RootfsProvider } from './filesystems';
import type { ImageRecord, ImageStore } from './images';
import type { ShimConfig } from './shim-protocol';

export const UPPER_DIRECTORY = 'upper';
export const WORK_DIRECTORY = 'work';

export type OverlayRootfs = Extract<ShimConfig['rootfs'], { kind: 'overlay' }>;

/**
 * The overlay the shim mounts for `image`: the image's layers (bottom first) under the container's
 * own upper layer. Creates the folders; an existing upper layer (a restart) is kept as it is.
 */
export function prepareOverlay(containerDirectory: string, layerDirs: readonly string[]): OverlayRootfs {
  if (layerDirs.length === 0) throw new TypeError('an image needs at least one layer');
  const mountpoint = path.join(containerDirectory, ROOTFS_DIRECTORY);
  const upperDir = path.join(containerDirectory, UPPER_DIRECTORY);
  const workDir = path.join(containerDirectory, WORK_DIRECTORY);
  for (const directory of [mountpoint, workDir]) fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  // The upper layer's root becomes the container's "/": world-readable like any root directory.
  fs.mkdirSync(upperDir, { recursive: true, mode: 0o755 });
  for (const layer of layerDirs) {
    if (!fs.statSync(layer).isDirectory()) throw new Error(`image layer ${layer} is missing`);
  }
  return { kind: 'overlay', lowerDirs: [...layerDirs], upperDir, workDir, mountpoint };
}

/** Removes what prepareOverlay created (overlayfs leaves a root-only work/work inside work/), on libuv's pool. */
export async function releaseOverlay(containerDirectory: string): Promise<void> {
  await Promise.all(
    [UPPER_DIRECTORY, WORK_DIRECTORY, ROOTFS_DIRECTORY].map((name) => fs.promises.rm(path.join(containerDirectory, name), { recursive: true, force: true })),
  );
}

/** An image's record as the manager sees it (ImageRef). */
export function imageRef(image: ImageRecord, reference?: string): ImageRef {
  const defaults: ImageRef['defaults'] = {};
  if (image.config.Cmd) defaults.cmd = [...image.config.Cmd];
  if (image.config.Entrypoint) defaults.entrypoint = [...image.config.Entrypoint];
  if (image.config.Env) defaults.env = [...image.config.Env];
  if (image.config.WorkingDir) defaults.workingDir = image.config.WorkingDir;
  if (image.config.User) defaults.user = image.config.User;
  if (image.config.Volumes) defaults.volumes = [...image.config.Volumes];
  const shown = reference !== undefined && image.repoTags.some((tag) => tag === reference || tag === `${reference}:latest`)
    ? reference
    : (image.repoTags[0] ?? image.id.slice('sha256:'.length, 'sha256:'.length + 12));
  return { id: image.id, reference: shown, defaults };
}

/** The manager's RootfsProvider backed by the image store; no image means the host's filesystem. */
export class ImageRootfs implements RootfsProvider {
  constructor(private readonly store: ImageStore) {}

  resolveImage(reference: string): ImageRef | undefined {
    const image = this.store.resolve(reference);
    return image ? imageRef(image, reference) : undefined;
  }

  prepare(containerDirectory: string, image: ImageRef | undefined): PreparedRootfs {
    if (!image) return hostRootfs(containerDirectory);
    const record = this.store.get(image.id);
    const rootfs = prepareOverlay(containerDirectory, this.store.layerDirs(record));
    return { rootfs, layersTopFirst: [rootfs.upperDir, ...[...rootfs.lowerDirs].reverse()] };
  }

  release(containerDirectory: string): Promise<void> {
    return releaseOverlay(containerDirectory);
  }
}
