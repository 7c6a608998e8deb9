/**
 * Image references (`busybox`, `busybox:1.36`, `registry.example:5000/team/app:v2`), with the
 * grammar of Docker's distribution/reference where it matters here. Pure.
 *
 * Unlike Docker, a bare name is not expanded to `docker.io/library/...` in the store: `busybox`
 * stays `busybox:latest` (the registry client, server/registry/reference.ts, expands it when a
 * name is pulled).
 */
import { ImageError } from './errors';
import { quoteInput } from '../errors';

export interface ImageReference {
  /** Everything before the tag: `registry:5000/team/app`. */
  repository: string;
  tag: string;
}

export const DEFAULT_TAG = 'latest';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
/** Longest repository name Docker accepts. Units: characters. */
const MAX_REPOSITORY_LENGTH = 255;
/** Longest NAME:TAG: the longest repository, a colon and the longest tag. Units: characters. */
const MAX_REFERENCE_LENGTH = MAX_REPOSITORY_LENGTH + 1 + 128;

/** Parses `name[:tag]`, adding `:latest`. Digests (`@sha256:...`) are not references of a stored tag. */
export function parseReference(text: string): ImageReference {
  const invalid = (why: string): ImageError =>
    new ImageError(400, 'invalid_reference', `invalid reference format: ${quoteInput(text)}: ${why}`);
  if (text === '') throw invalid('empty');
  if (text.includes('\0')) throw invalid('the name contains a NUL byte');
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x1f\x7f]/.test(text)) throw invalid('the name contains a control character');
  if (text.length > MAX_REFERENCE_LENGTH) throw invalid(`the reference is longer than ${MAX_REFERENCE_LENGTH} characters`);
  if (text.includes('@')) throw invalid('digests are not supported; use NAME[:TAG] or an image ID');
  const slash = text.lastIndexOf('/');
  const colon = text.lastIndexOf(':');
  let repository = text;
  let tag = DEFAULT_TAG;
  if (colon > slash) {
    repository = text.slice(0, colon);
    tag = text.slice(colon + 1);
    if (!TAG.test(tag)) throw invalid('the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}');
  }
  if (repository.length === 0 || repository.length > MAX_REPOSITORY_LENGTH) throw invalid(`the name must have 1 to ${MAX_REPOSITORY_LENGTH} characters`);
  const parts = repository.split('/');
  // A first part with a dot, a colon or "localhost" is a registry host, as Docker reads it.
  const first = parts[0]!;
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain && !DOMAIN.test(first)) throw invalid('the registry host is not valid');
  for (const component of hasDomain ? parts.slice(1) : parts) {
    if (!COMPONENT.test(component)) {
      if (COMPONENT.test(component.toLowerCase())) throw invalid('repository name must be lowercase');
      throw invalid('the name must be lowercase letters, digits and separators (. _ __ -), in components separated by /');
    }
  }
  return { repository, tag };
}

export function formatReference(reference: ImageReference): string {
  return `${reference.repository}:${reference.tag}`;
}

/** `busybox` → `busybox:latest`; throws ImageError on a malformed reference. */
export function normalizeReference(text: string): string {
  return formatReference(parseReference(text));
}

/** A reference, or undefined when `text` is not one (for names read from archives). */
export function tryNormalizeReference(text: string): string | undefined {
  try {
    return normalizeReference(text);
  } catch {
    return undefined;
  }
}

/** Full (64 hex) or shortened image ID, with or without `sha256:`; undefined when not ID-like. */
export function idPrefix(text: string): string | undefined {
  const hex = text.startsWith('sha256:') ? text.slice('sha256:'.length) : text;
  return /^[0-9a-f]{1,64}$/.test(hex) ? hex : undefined;
}
