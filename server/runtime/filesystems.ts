/**
 * What the manager needs from the image store (server/runtime/images, owned by the image side):
 * look an image up, give a container its root filesystem, and take it back. Kept as an interface
 * so the lifecycle can be tested without images and the store can change behind it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ShimConfig } from './shim-protocol';

/** The image's defaults that `run` applies when the user does not override them. */
export interface ImageDefaults {
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  /** VOLUME paths: each gets an anonymous volume unless the container mounts something there. */
  volumes?: string[];
}

export interface ImageRef {
  /** Stable id ("sha256:<hex>"). */
  id: string;
  /** How to show it (the name the user typed, or the image's first tag). */
  reference: string;
  defaults: ImageDefaults;
}

export interface PreparedRootfs {
  rootfs: ShimConfig['rootfs'];
  /** Directories that make up the container's view, TOP FIRST (upper, then image layers), for reading /etc/passwd. */
  layersTopFirst: string[];
}

export interface RootfsProvider {
  /** undefined when no image matches. */
  resolveImage(reference: string): ImageRef | undefined;
  /** Creates the container's writable layer (kept across restarts) and returns the shim's rootfs. */
  prepare(containerDirectory: string, image: ImageRef | undefined): PreparedRootfs;
  /** Undoes prepare (the folder itself is removed by the caller). */
  release(containerDirectory: string): Promise<void>;
}

/** The mount point the shim assembles the root at, inside the container's folder. */
export const ROOTFS_DIRECTORY = 'rootfs';

/** No image: the host's / read-only with a private /tmp (the shim does the mounting). */
export function hostRootfs(containerDirectory: string): PreparedRootfs {
  const mountpoint = path.join(containerDirectory, ROOTFS_DIRECTORY);
  fs.mkdirSync(mountpoint, { recursive: true, mode: 0o700 });
  return { rootfs: { kind: 'host', mountpoint }, layersTopFirst: ['/'] };
}

/** A provider that knows no images: every container runs on the host's filesystem. */
export class HostOnlyRootfs implements RootfsProvider {
  resolveImage(): ImageRef | undefined {
    return undefined;
  }

  prepare(containerDirectory: string): PreparedRootfs {
    return hostRootfs(containerDirectory);
  }

  async release(): Promise<void> {}
}
