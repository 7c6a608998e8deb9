/**
 * Where a pull goes: a reference (`127.0.0.1:5000/team/app:v2`, `busybox`, `host/app@sha256:...`)
 * read with docker's defaults: no registry host means docker.io, and a one-part docker.io name is
 * under `library/`; no tag and no digest means `latest`. Pure.
 */
import { RegistryError } from './errors';

export interface RemoteReference {
  /** Registry host as dialled, with its port when one is given: `127.0.0.1:5000`, `registry-1.docker.io`. */
  registry: string;
  /** Repository path on that registry: `library/busybox`, `team/app`. */
  repository: string;
  /** The tag asked for; undefined when a digest is. */
  tag?: string;
  /** `sha256:<64 hex>` when asked by digest. */
  digest?: string;
  /** The name the image gets in the store (`127.0.0.1:5000/app:v2`); undefined for a pull by digest. */
  localName?: string;
}

const DOCKER_HUB_NAME = 'docker.io';
/** The host docker dials for docker.io. */
const DOCKER_HUB_HOST = 'registry-1.docker.io';
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

function invalid(text: string, why: string): RegistryError {
  return new RegistryError(400, 'invalid_reference', `invalid reference format: ${JSON.stringify(text)}: ${why}`);
}

export function parseRemoteReference(text: string): RemoteReference {
  // eslint-disable-next-line no-control-regex
  if (text === '' || /[\x00-\x1f\x7f\s]/.test(text)) throw invalid(text, 'empty, or holds a space or control character');
  if (text.length > 512) throw invalid(text, 'longer than 512 characters');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(text, 'the digest must be sha256: and 64 lowercase hex digits');
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(text, 'the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}');
  }
  const parts = rest.split('/');
  const first = parts[0]!;
  // docker's rule: the first part names a registry when it has a dot or a colon, or is "localhost".
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  if (hasDomain && !DOMAIN.test(first)) throw invalid(text, 'the registry host is not valid');
  const domain = hasDomain ? first : DOCKER_HUB_NAME;
  let path = hasDomain ? parts.slice(1) : parts;
  if (domain === DOCKER_HUB_NAME && path.length === 1) path = ['library', ...path];
  for (const component of path) {
    if (!COMPONENT.test(component)) {
      throw invalid(text, COMPONENT.test(component.toLowerCase()) ? 'repository name must be lowercase' : 'a name component must be lowercase letters, digits and separators (. _ __ -)');
    }
  }
  const repository = path.join('/');
  if (repository.length > 255) throw invalid(text, 'the repository name is longer than 255 characters');
  if (digest === undefined) tag ??= 'latest';
  const registry = domain === DOCKER_HUB_NAME ? DOCKER_HUB_HOST : domain;
  // The store's names keep what the user typed (no docker.io/library/ prefix), as its imports do.
  const localName = tag !== undefined && digest === undefined ? `${hasDomain ? `${first}/` : ''}${(hasDomain ? parts.slice(1) : parts).join('/')}:${tag}` : undefined;
  return { registry, repository, ...(tag !== undefined && digest === undefined ? { tag } : {}), ...(digest ? { digest } : {}), ...(localName ? { localName } : {}) };
}

/** The host without its port (and without IPv6 brackets). Pure. */
export function hostOf(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon === -1 ? registry : registry.slice(0, colon);
}

/**
 * Whether plain HTTP may be used: loopback registries (127.0.0.0/8, ::1, localhost), as docker
 * treats them, or ones the agent was told are insecure (`--insecure-registry HOST[:PORT]`). Pure.
 */
export function allowsPlainHttp(registry: string, insecureRegistries: readonly string[] = []): boolean {
  const host = hostOf(registry);
  if (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  return insecureRegistries.includes(registry) || insecureRegistries.includes(host);
}
