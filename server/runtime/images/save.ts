/**
 * `save`: images as a `docker save` archive (the layout docker wrote before 25, which every
 * `docker load` reads):
 *
 *   <layer id>/VERSION      "1.0"
 *   <layer id>/json         the layer's legacy v1 description ({id, parent})
 *   <layer id>/layer.tar    the layer's original tar, rebuilt byte for byte (tar-split.ts)
 *   <config hex>.json       the image config as imported: its sha256 is the image ID
 *   manifest.json           [{Config, RepoTags, Layers}] per image
 *   repositories            {repository: {tag: top layer id}}
 *
 * A layer ID is the layer's chain ID (the diff IDs below it and its own, hashed in turn), so a
 * layer shared by two images at the same depth is written once. Everything that can be refused
 * (an unknown name, an image or layer without its records) is refused before the first byte.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseReference, tryNormalizeReference } from './reference';
import type { ImageStore } from './store';
import type { RebuiltTar } from './tar-split';
import { tarEnd, tarHeader, tarPadding } from './tar';
import type { ImageRecord } from './types';

export interface SavedArchive {
  /** The images written, in the order asked (each once). */
  images: ImageRecord[];
  /** Length of the archive. Units: bytes. */
  sizeBytes: number;
  stream: Readable;
}

interface Member {
  name: string;
  content: Buffer | RebuiltTar;
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** The chain IDs of a layer stack (OCI image spec: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))). */
export function chainIds(diffIds: readonly string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) {
    const below = chain.at(-1);
    chain.push(below === undefined ? diffId : `sha256:${createHash('sha256').update(`${below} ${diffId}`).digest('hex')}`);
  }
  return chain;
}

/** Each reference once, resolved (an unknown one throws noSuchImage), names asked for kept as RepoTags. */
function resolveAll(store: ImageStore, references: readonly string[]): Array<{ image: ImageRecord; tags: string[] }> {
  const byId = new Map<string, { image: ImageRecord; tags: string[] }>();
  for (const reference of references) {
    const image = store.get(reference);
    const entry = byId.get(image.id) ?? { image, tags: [] };
    byId.set(image.id, entry);
    // As docker: a name saves that name; an ID saves every name the image has.
    const name = tryNormalizeReference(reference);
    const asked = name !== undefined && image.repoTags.includes(name) ? name : undefined;
    for (const tag of asked !== undefined ? [asked] : image.repoTags) if (!entry.tags.includes(tag)) entry.tags.push(tag);
  }
  return [...byId.values()];
}

export function saveImages(store: ImageStore, references: readonly string[]): SavedArchive {
  const resolved = resolveAll(store, references);
  const members: Member[] = [];
  const written = new Set<string>();
  const manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, tags } of resolved) {
    const configName = `${hexOf(image.id)}.json`;
    const configJson = store.savedConfigJson(image);
    if (!written.has(configName)) {
      written.add(configName);
      members.push({ name: configName, content: Buffer.from(configJson) });
    }
    const ids = chainIds(image.layers).map(hexOf);
    for (const [index, diffId] of image.layers.entries()) {
      const id = ids[index]!;
      if (written.has(id)) continue;
      written.add(id);
      const parent = index > 0 ? ids[index - 1] : undefined;
      members.push({ name: `${id}/`, content: Buffer.alloc(0) });
      members.push({ name: `${id}/VERSION`, content: Buffer.from('1.0') });
      members.push({ name: `${id}/json`, content: Buffer.from(JSON.stringify({ id, ...(parent !== undefined ? { parent } : {}) })) });
      members.push({ name: `${id}/layer.tar`, content: store.layerTar(diffId) });
    }
    manifest.push({ Config: configName, RepoTags: tags.length > 0 ? tags : null, Layers: ids.map((id) => `${id}/layer.tar`) });
    for (const tag of tags) {
      const parsed = parseReference(tag);
      (repositories[parsed.repository] ??= {})[parsed.tag] = ids.at(-1)!;
    }
  }
  members.push({ name: 'manifest.json', content: Buffer.from(JSON.stringify(manifest)) });
  if (Object.keys(repositories).length > 0) members.push({ name: 'repositories', content: Buffer.from(JSON.stringify(repositories)) });

  const headers = members.map(({ name, content }) =>
    name.endsWith('/')
      ? tarHeader({ name, type: 'directory', mode: 0o755 })
      : tarHeader({ name, type: 'file', mode: 0o644, size: Buffer.isBuffer(content) ? content.length : content.sizeBytes }),
  );
  const sizeOf = (content: Buffer | RebuiltTar): number => (Buffer.isBuffer(content) ? content.length : content.sizeBytes);
  const sizeBytes =
    headers.reduce((sum, header) => sum + header.length, 0) +
    members.reduce((sum, { name, content }) => sum + (name.endsWith('/') ? 0 : sizeOf(content) + tarPadding(sizeOf(content)).length), 0) +
    tarEnd().length;

  async function* generate(): AsyncGenerator<Buffer> {
    for (const [index, { name, content }] of members.entries()) {
      yield headers[index]!;
      if (name.endsWith('/')) continue;
      if (Buffer.isBuffer(content)) yield content;
      else for await (const chunk of content.stream) yield chunk as Buffer;
      yield tarPadding(sizeOf(content));
    }
    yield tarEnd();
  }

  return { images: resolved.map(({ image }) => image), sizeBytes, stream: Readable.from(generate()) };
}
