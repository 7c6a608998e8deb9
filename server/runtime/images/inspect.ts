/**
 * `inspect` of an image: capstan's image record in the shape of Docker 20.10's image inspect
 * (moby api/types ImageInspect), every key docker prints, in docker's order. Pure.
 *
 * Where capstan has no such thing the value is docker's zero: no registry (RepoDigests []), no
 * builder (DockerVersion ""; Parent, Container, Author, Comment only for a commit), no tag history (Metadata.LastTagTime is the import).
 */
import { thisPlatform } from './formats';
import type { ImageConfig, ImageRecord } from './types';

/** docker's container.Config of an image: every key, null for an unset list or map. */
function imageConfigDocument(config: ImageConfig | undefined): Record<string, unknown> {
  const exposed = config?.ExposedPorts && config.ExposedPorts.length > 0 ? Object.fromEntries(config.ExposedPorts.map((port) => [port, {}])) : undefined;
  const labels = config?.Labels && Object.keys(config.Labels).length > 0 ? { ...config.Labels } : null;
  return {
    Hostname: '',
    Domainname: '',
    User: config?.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(exposed ? { ExposedPorts: exposed } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: config?.Env && config.Env.length > 0 ? [...config.Env] : null,
    Cmd: config?.Cmd && config.Cmd.length > 0 ? [...config.Cmd] : null,
    Image: '',
    Volumes: null,
    WorkingDir: config?.WorkingDir ?? '',
    Entrypoint: config?.Entrypoint && config.Entrypoint.length > 0 ? [...config.Entrypoint] : null,
    OnBuild: null,
    Labels: labels,
  };
}

export interface ImageInspectFacts {
  /** The layers' directories, bottom first (GraphDriver.Data). */
  layerDirs: readonly string[];
}

export function inspectImage(image: ImageRecord, facts: ImageInspectFacts): Record<string, unknown> {
  // overlay2's shape: the top layer is UpperDir, the ones below it LowerDir (top first, as overlayfs lists them).
  const top = facts.layerDirs.at(-1) ?? '';
  const lower = facts.layerDirs.slice(0, -1).reverse();
  return {
    Id: image.id,
    RepoTags: [...image.repoTags],
    RepoDigests: [],
    Parent: image.commit?.parent ?? '',
    Comment: image.commit?.comment ?? image.comment ?? '',
    Created: image.createdAt,
    Container: image.commit?.container ?? '',
    ContainerConfig: image.commit?.containerConfig ?? imageConfigDocument(undefined),
    DockerVersion: '',
    Author: image.commit?.author ?? '',
    Config: image.commit?.config ?? imageConfigDocument(image.config),
    // A rootfs tarball says nothing of its platform: it was made for this machine's.
    Architecture: image.architecture ?? thisPlatform().architecture,
    Os: image.os ?? thisPlatform().os,
    Size: image.sizeBytes,
    VirtualSize: image.sizeBytes,
    GraphDriver: {
      // An image is never mounted by itself: no merged or work directory ("").
      Data: { ...(lower.length > 0 ? { LowerDir: lower.join(':') } : {}), MergedDir: '', UpperDir: top, WorkDir: '' },
      Name: 'overlay',
    },
    RootFS: { Type: 'layers', Layers: [...image.layers] },
    Metadata: { LastTagTime: image.importedAt },
  };
}
