/**
 * Manifests a registry serves (OCI distribution spec): Docker image manifest v2 schema 2, OCI
 * image manifest, and the lists that point at one per platform (Docker manifest list, OCI index).
 * Parsing and platform choice only; pure.
 */
import { RegistryError } from './errors';

export const MANIFEST_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

/** The Accept header of a manifest request: every kind read here. */
export const MANIFEST_ACCEPT = Object.values(MANIFEST_TYPES).join(', ');

const LIST_TYPES = new Set<string>([MANIFEST_TYPES.dockerList, MANIFEST_TYPES.ociIndex]);
const IMAGE_TYPES = new Set<string>([MANIFEST_TYPES.dockerManifest, MANIFEST_TYPES.ociManifest]);
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface BlobDescriptor {
  mediaType: string;
  digest: string;
  /** Units: bytes. */
  size: number;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export type Manifest =
  | { kind: 'image'; mediaType: string; config: BlobDescriptor; layers: BlobDescriptor[] }
  | { kind: 'list'; mediaType: string; manifests: Array<BlobDescriptor & { platform?: Platform }> };

function bad(message: string): RegistryError {
  return new RegistryError(400, 'bad_manifest', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function descriptor(value: unknown, where: string): BlobDescriptor {
  if (!isObject(value)) throw bad(`${where} is not a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof digest !== 'string' || !DIGEST.test(digest)) throw bad(`${where}: digest must be sha256:<64 hex>, not ${JSON.stringify(digest)}`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(`${where}: size must be a non-negative integer`);
  return { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, size };
}

/** Reads a manifest body; `contentType` is the response's Content-Type (the body's mediaType wins when both are given). */
export function parseManifest(body: string, contentType = ''): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw bad(`the manifest is not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(json)) throw bad('the manifest is not a JSON object');
  const mediaType = typeof json['mediaType'] === 'string' ? json['mediaType'] : contentType.split(';')[0]!.trim();
  if (json['schemaVersion'] === 1 || mediaType.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw bad('the registry serves a schema 1 manifest, which is not supported (push the image again with a current docker)');
  }
  if (LIST_TYPES.has(mediaType) || (!IMAGE_TYPES.has(mediaType) && Array.isArray(json['manifests']))) {
    if (!Array.isArray(json['manifests'])) throw bad('the manifest list has no "manifests" array');
    return {
      kind: 'list',
      mediaType,
      manifests: json['manifests'].map((item, index) => {
        const entry = descriptor(item, `manifests[${index}]`);
        const platform = isObject(item) && isObject(item['platform']) ? item['platform'] : undefined;
        if (platform && typeof platform['os'] === 'string' && typeof platform['architecture'] === 'string') {
          const variant = typeof platform['variant'] === 'string' ? platform['variant'] : undefined;
          return { ...entry, platform: { os: platform['os'], architecture: platform['architecture'], ...(variant ? { variant } : {}) } };
        }
        return entry;
      }),
    };
  }
  if (!IMAGE_TYPES.has(mediaType) && !isObject(json['config'])) throw bad(`unsupported manifest media type ${JSON.stringify(mediaType)}`);
  if (!Array.isArray(json['layers'])) throw bad('the image manifest has no "layers" array');
  const layers = json['layers'].map((layer, index) => descriptor(layer, `layers[${index}]`));
  for (const layer of layers) {
    if (layer.mediaType.endsWith('+zstd') || layer.mediaType.endsWith('.zstd')) throw bad(`layer ${layer.digest} is zstd-compressed, which is not supported`);
    if (layer.mediaType.includes('foreign') || layer.mediaType.includes('nondistributable')) {
      throw bad(`layer ${layer.digest} is a foreign (non-distributable) layer, which is not supported`);
    }
  }
  return { kind: 'image', mediaType: mediaType || MANIFEST_TYPES.ociManifest, config: descriptor(json['config'], 'config'), layers };
}

/** `linux/amd64`, `linux/arm64/v8`, `amd64` (os linux): docker's --platform values. */
export function parsePlatform(text: string): Platform {
  const parts = text.toLowerCase().split('/');
  const valid = /^[a-z0-9][a-z0-9_.-]*$/;
  if (parts.length > 3 || parts.some((part) => !valid.test(part))) {
    throw new RegistryError(400, 'invalid_platform', `invalid platform ${JSON.stringify(text)}: use OS/ARCH[/VARIANT], e.g. linux/amd64`);
  }
  if (parts.length === 1) return { os: 'linux', architecture: parts[0]! };
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/**
 * The list entry for `wanted`: os and architecture must match; a variant, when asked, must match
 * too; attestation entries (os "unknown") are never chosen. Undefined when none fits. Pure.
 */
export function selectPlatform(manifests: ReadonlyArray<BlobDescriptor & { platform?: Platform }>, wanted: Platform): (BlobDescriptor & { platform?: Platform }) | undefined {
  const candidates = manifests.filter((m) => m.platform && m.platform.os === wanted.os && m.platform.architecture === wanted.architecture);
  if (wanted.variant !== undefined) return candidates.find((m) => m.platform!.variant === wanted.variant);
  return candidates.find((m) => m.platform!.variant === undefined) ?? candidates[0];
}

export interface AuthChallenge {
  scheme: 'basic' | 'bearer';
  /** Parameters, lower-cased names: realm, service, scope. */
  params: Record<string, string>;
}

/**
 * A WWW-Authenticate header (RFC 7235): `Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"`
 * or `Basic realm="Registry Realm"`. Undefined for a scheme other than these two. Pure.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge | undefined {
  const match = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const param = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/gy;
  const rest = match[2]!;
  let found: RegExpExecArray | null;
  while ((found = param.exec(rest)) !== null) {
    if (found[0] === '') break;
    params[found[1]!.toLowerCase()] = found[2] !== undefined ? found[2].replace(/\\(.)/g, '$1') : found[3]!;
  }
  return { scheme, params };
}
