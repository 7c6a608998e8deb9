/**
 * What an archive holds, and the plan to import it: which members are layers (bottom first), the
 * image config, and the names. Three formats:
 *   - a plain root filesystem tarball (`tar -C rootfs -c .`): one layer, an empty config;
 *   - `docker save`: manifest.json (+ <id>.json configs and <id>/layer.tar, or blobs/sha256/...
 *     since Docker 25, whose archives are also OCI layouts; manifest.json wins);
 *   - an OCI image layout: oci-layout + index.json + blobs/<alg>/<hex>, nested indexes followed to
 *     this machine's platform.
 * Only reading and checking JSON here; nothing is extracted.
 */
import { createHash } from 'node:crypto';
import type { ArchiveSource } from './archive';
import { badArchive, ImageError } from './errors';
import { normalizeReference, tryNormalizeReference } from './reference';
import type { CommitFacts, ImageConfig } from './types';

export type ArchiveFormat = 'rootfs' | 'docker-save' | 'oci-layout';

export interface LayerPlan {
  /** Member of the archive holding the layer tar (compressed or not). */
  member: string;
  /** Expected digest of the uncompressed tar ("sha256:<hex>"), when the config states it. */
  diffId?: string;
  /** Size of the member as stored. Units: bytes. */
  storedBytes: number;
}

export interface ImagePlan {
  /** The image config as stored: its sha256 is the image ID (Docker's definition). */
  configJson: string;
  config: ImageConfig;
  /** When the image was built, from its config (RFC 3339), if it says. */
  created?: string;
  architecture?: string;
  os?: string;
  layers: LayerPlan[];
  repoTags: string[];
  /** `commit`'s facts, kept in the image record. */
  commit?: CommitFacts;
  /** `import --message`: the image's comment. */
  comment?: string;
}

export function detectFormat(source: ArchiveSource): ArchiveFormat {
  if (source.has('manifest.json')) return 'docker-save';
  if (source.has('oci-layout') && source.has('index.json')) return 'oci-layout';
  return 'rootfs';
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readJson(source: ArchiveSource, member: string): Promise<unknown> {
  const text = await source.readText(member);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badArchive(`${source.description}: ${member} is not valid JSON (${(error as Error).message})`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? (value as string[]) : undefined;
}

/**
 * A manifest entry's RepoTags, each normalized. As `docker load` does, an archive with a tag that is
 * not a valid reference is refused as a whole (with the reference's own message), not imported
 * without it.
 */
function manifestRepoTags(source: ArchiveSource, value: unknown, index: number): string[] {
  if (value === undefined || value === null) return [];
  const tags = stringArray(value);
  if (!tags) throw badArchive(`${source.description}: manifest.json entry ${index}: RepoTags must be a list of strings`);
  return tags.map((tag) => {
    try {
      return normalizeReference(tag);
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      throw new ImageError(error.status, error.code, `${source.description}: manifest.json entry ${index}: ${error.message}`);
    }
  });
}

/** The runtime part of an image config ("config" in Docker's and OCI's image JSON). */
export function parseImageConfig(json: unknown): Omit<ImagePlan, 'configJson' | 'layers' | 'repoTags'> & { diffIds: string[] } {
  if (!isObject(json)) throw badArchive('the image config is not a JSON object');
  const runtime = isObject(json['config']) ? json['config'] : {};
  const config: ImageConfig = {};
  const env = stringArray(runtime['Env']);
  if (env) config.Env = env;
  const cmd = stringArray(runtime['Cmd']);
  if (cmd) config.Cmd = cmd;
  const entrypoint = stringArray(runtime['Entrypoint']);
  if (entrypoint) config.Entrypoint = entrypoint;
  if (typeof runtime['WorkingDir'] === 'string' && runtime['WorkingDir'] !== '') config.WorkingDir = runtime['WorkingDir'];
  if (typeof runtime['User'] === 'string' && runtime['User'] !== '') config.User = runtime['User'];
  if (isObject(runtime['ExposedPorts'])) config.ExposedPorts = Object.keys(runtime['ExposedPorts']);
  if (isObject(runtime['Volumes'])) {
    const volumes = Object.keys(runtime['Volumes']).filter((volume) => volume.startsWith('/') && !volume.includes('\0'));
    if (volumes.length > 0) config.Volumes = volumes;
  }
  if (isObject(runtime['Labels'])) {
    config.Labels = Object.fromEntries(Object.entries(runtime['Labels']).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  }
  const rootfs = isObject(json['rootfs']) ? json['rootfs'] : {};
  const diffIds = stringArray(rootfs['diff_ids']) ?? [];
  for (const diffId of diffIds) {
    if (!/^sha256:[0-9a-f]{64}$/.test(diffId)) throw badArchive(`the image config lists a malformed layer digest: ${JSON.stringify(diffId)}`);
  }
  return {
    config,
    diffIds,
    ...(typeof json['created'] === 'string' ? { created: json['created'] } : {}),
    ...(typeof json['architecture'] === 'string' ? { architecture: json['architecture'] } : {}),
    ...(typeof json['os'] === 'string' ? { os: json['os'] } : {}),
  };
}

/** `docker save`: one plan per manifest.json entry. */
export async function planDockerSave(source: ArchiveSource): Promise<ImagePlan[]> {
  const manifest = await readJson(source, 'manifest.json');
  if (!Array.isArray(manifest) || manifest.length === 0) throw badArchive(`${source.description}: manifest.json lists no images`);
  const plans: ImagePlan[] = [];
  for (const [index, item] of manifest.entries()) {
    if (!isObject(item) || typeof item['Config'] !== 'string') throw badArchive(`${source.description}: manifest.json entry ${index} has no Config`);
    const layers = stringArray(item['Layers']);
    if (!layers) throw badArchive(`${source.description}: manifest.json entry ${index} has no Layers list`);
    const configJson = await source.readText(item['Config']);
    let parsedJson: unknown;
    try {
      parsedJson = JSON.parse(configJson);
    } catch (error) {
      throw badArchive(`${source.description}: ${item['Config']} is not valid JSON (${(error as Error).message})`);
    }
    const parsed = parseImageConfig(parsedJson);
    if (parsed.diffIds.length !== 0 && parsed.diffIds.length !== layers.length) {
      throw badArchive(`${source.description}: the config lists ${parsed.diffIds.length} layers, the manifest ${layers.length}`);
    }
    const repoTags = manifestRepoTags(source, item['RepoTags'], index);
    const { diffIds, ...rest } = parsed;
    plans.push({
      ...rest,
      configJson,
      repoTags,
      layers: layers.map((member, i) => ({ member, storedBytes: source.size(member), ...(diffIds[i] ? { diffId: diffIds[i] } : {}) })),
    });
  }
  return plans;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  annotations: Record<string, string>;
  platform?: { architecture?: string; os?: string };
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value) || typeof value['digest'] !== 'string') throw badArchive(`${where}: a descriptor without a digest`);
  if (!/^[a-z0-9]+:[a-f0-9]{32,128}$/.test(value['digest'])) throw badArchive(`${where}: malformed digest ${JSON.stringify(value['digest'])}`);
  const annotations = isObject(value['annotations'])
    ? Object.fromEntries(Object.entries(value['annotations']).filter((entry): entry is [string, string] => typeof entry[1] === 'string'))
    : {};
  const platform = isObject(value['platform']) ? (value['platform'] as Descriptor['platform']) : undefined;
  return { mediaType: typeof value['mediaType'] === 'string' ? value['mediaType'] : '', digest: value['digest'], annotations, ...(platform ? { platform } : {}) };
}

export function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `blobs/${algorithm}/${hex}`;
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

/** The platform names Go uses, for this machine. */
export function thisPlatform(): { architecture: string; os: string } {
  const architecture = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
  return { architecture, os: 'linux' };
}

/** The name an OCI descriptor gives its image, when it gives a full reference. */
function descriptorName(descriptor: Descriptor): string | undefined {
  const containerd = descriptor.annotations['io.containerd.image.name'];
  if (containerd) return tryNormalizeReference(containerd);
  const refName = descriptor.annotations['org.opencontainers.image.ref.name'];
  // A ref.name may be just a tag ("latest"), which names nothing without a repository.
  if (refName && (refName.includes(':') || refName.includes('/'))) return tryNormalizeReference(refName);
  return undefined;
}

/** OCI image layout: one plan per image manifest reachable from index.json. */
export async function planOciLayout(source: ArchiveSource): Promise<ImagePlan[]> {
  const layout = await readJson(source, 'oci-layout');
  if (!isObject(layout) || typeof layout['imageLayoutVersion'] !== 'string') throw badArchive(`${source.description}: oci-layout has no imageLayoutVersion`);
  const plans: ImagePlan[] = [];
  const visit = async (descriptor: Descriptor, depth: number, inheritedName: string | undefined): Promise<void> => {
    if (depth > 4) throw badArchive(`${source.description}: image indexes nested too deeply`);
    const member = blobPath(descriptor.digest);
    if (!source.has(member)) throw badArchive(`${source.description}: missing blob ${member}`);
    const json = await readJson(source, member);
    if (!isObject(json)) throw badArchive(`${source.description}: ${member} is not a JSON object`);
    const mediaType = descriptor.mediaType || (typeof json['mediaType'] === 'string' ? json['mediaType'] : '');
    const name = descriptorName(descriptor) ?? inheritedName;
    if (INDEX_TYPES.has(mediaType) || Array.isArray(json['manifests'])) {
      const children = (Array.isArray(json['manifests']) ? json['manifests'] : []).map((m) => parseDescriptor(m, member));
      const chosen = pickPlatform(children);
      if (!chosen) throw badArchive(`${source.description}: ${member} lists no image for ${thisPlatform().os}/${thisPlatform().architecture}`);
      await visit(chosen, depth + 1, name);
      return;
    }
    const config = parseDescriptor(json['config'], member);
    const layers = (Array.isArray(json['layers']) ? json['layers'] : []).map((layer) => parseDescriptor(layer, member));
    for (const layer of layers) {
      if (layer.mediaType.endsWith('+zstd')) {
        throw new ImageError(400, 'unsupported_archive', `${source.description}: zstd-compressed layers are not supported (${layer.digest})`);
      }
      if (!source.has(blobPath(layer.digest))) throw badArchive(`${source.description}: missing layer blob ${blobPath(layer.digest)}`);
    }
    const configJson = await source.readText(blobPath(config.digest));
    let parsedJson: unknown;
    try {
      parsedJson = JSON.parse(configJson);
    } catch (error) {
      throw badArchive(`${source.description}: the image config ${config.digest} is not valid JSON (${(error as Error).message})`);
    }
    const { diffIds, ...rest } = parseImageConfig(parsedJson);
    if (diffIds.length !== layers.length) {
      throw badArchive(`${source.description}: the config lists ${diffIds.length} layers, the manifest ${layers.length}`);
    }
    plans.push({
      ...rest,
      configJson,
      repoTags: name ? [name] : [],
      layers: layers.map((layer, i) => ({ member: blobPath(layer.digest), storedBytes: source.size(blobPath(layer.digest)), diffId: diffIds[i]! })),
    });
  };
  const index = await readJson(source, 'index.json');
  if (!isObject(index) || !Array.isArray(index['manifests']) || index['manifests'].length === 0) {
    throw badArchive(`${source.description}: index.json lists no manifests`);
  }
  for (const item of index['manifests']) {
    const descriptor = parseDescriptor(item, 'index.json');
    // Attestation manifests (buildkit) are not images.
    if (descriptor.annotations['vnd.docker.reference.type'] === 'attestation-manifest') continue;
    await visit(descriptor, 0, undefined);
  }
  return plans;
}

function pickPlatform(children: Descriptor[]): Descriptor | undefined {
  const wanted = thisPlatform();
  const images = children.filter((child) => child.annotations['vnd.docker.reference.type'] !== 'attestation-manifest');
  return (
    images.find((child) => child.platform?.architecture === wanted.architecture && (child.platform?.os ?? 'linux') === wanted.os) ??
    images.find((child) => !child.platform) ??
    (images.length === 1 ? images[0] : undefined)
  );
}

/** A plain rootfs tarball: the whole archive is the one layer; the config is Docker's empty one. */
export function planRootfs(member: string, storedBytes: number, nowIso: string): ImagePlan {
  return { configJson: '', config: {}, created: nowIso, layers: [{ member, storedBytes }], repoTags: [] };
}
