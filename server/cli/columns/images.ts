/**
 * `capstan images`: docker's image listing (docker/cli cli/command/formatter/image.go): one row
 * per name (a dangling image as <none> <none>), newest first, docker's fields and headers, and
 * docker's filters (dangling, reference, before, since, label) applied to the store's records.
 * Pure.
 */
import type { ImageRecord } from '../../runtime/images/types';
import { humanDuration, humanSize, humanSizeWithPrecision } from '../format/units';
import { columnRegistry, goTimeString, truncateId, type Column, type ColumnRegistry } from './column';

export interface ImageRow {
  image: ImageRecord;
  repository: string;
  tag: string;
}

export const DEFAULT_IMAGES_TABLE_FORMAT = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
export const DIGESTS_IMAGES_TABLE_FORMAT = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';

/** "registry:5000/team/app:v2" → ["registry:5000/team/app", "v2"]; no tag → "<none>". */
export function splitTag(reference: string): [string, string] {
  const colon = reference.lastIndexOf(':');
  return colon > reference.lastIndexOf('/') ? [reference.slice(0, colon), reference.slice(colon + 1)] : [reference, '<none>'];
}

const createdMs = (image: ImageRecord): number => Date.parse(image.createdAt);

export const IMAGE_COLUMNS: readonly Column<ImageRow>[] = [
  // docker's -q and the table show 12 characters without "sha256:"; --no-trunc the whole id.
  { field: 'ID', header: 'IMAGE ID', description: 'Image ID (12 characters unless --no-trunc)', format: (row, o) => (o.trunc ? truncateId(row.image.id) : row.image.id) },
  { field: 'Repository', header: 'REPOSITORY', description: 'Image repository', format: (row) => row.repository },
  { field: 'Tag', header: 'TAG', description: 'Image tag', format: (row) => row.tag },
  // Imported images have no registry digest.
  { field: 'Digest', header: 'DIGEST', description: 'Registry digest (none for imported images)', format: () => '<none>' },
  { field: 'CreatedSince', header: 'CREATED', description: 'Time since the image was created', format: (row, o) => `${humanDuration(Math.max(0, o.nowMs - createdMs(row.image)))} ago` },
  { field: 'CreatedAt', header: 'CREATED AT', description: 'When the image was created', format: (row) => goTimeString(createdMs(row.image)) },
  { field: 'Size', header: 'SIZE', description: 'Size of the image\'s layers', format: (row) => humanSizeWithPrecision(row.image.sizeBytes, 3) },
  // docker's listing leaves these unknown unless the daemon is asked for them (as `system df` does).
  { field: 'Containers', header: 'CONTAINERS', description: 'Containers using the image (N/A, as docker images shows it)', format: () => 'N/A' },
  { field: 'SharedSize', header: 'SHARED SIZE', description: 'Size shared with other images (N/A)', format: () => 'N/A' },
  { field: 'UniqueSize', header: 'UNIQUE SIZE', description: 'Size no other image shares (N/A)', format: () => 'N/A' },
  { field: 'VirtualSize', header: 'VIRTUAL SIZE', description: 'Size with the layers below', format: (row) => humanSize(row.image.sizeBytes) },
];

export const IMAGE_COLUMN_REGISTRY: ColumnRegistry<ImageRow> = columnRegistry(IMAGE_COLUMNS);

/** A filter docker's daemon refuses, in its words ("Invalid filter 'x'"). */
export class ImageFilterError extends Error {
  override name = 'ImageFilterError';
}

/** Go's path.Match for one pattern, as docker's reference filter uses it: `*` and `?` stop at "/". */
export function pathMatch(pattern: string, text: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') source += '[^/]*';
    else if (ch === '?') source += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) source += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) return false; // Go: ErrBadPattern, which matches nothing.
      const body = pattern.slice(i + 1, end);
      source += `[${body.startsWith('^') ? '^/' + body.slice(1) : body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`).test(text);
}

/** reference.FamiliarMatch: the pattern against "name:tag", and against the name alone. */
function referenceMatches(pattern: string, repoTag: string): boolean {
  return pathMatch(pattern, repoTag) || pathMatch(pattern, splitTag(repoTag)[0]);
}

/** `-f KEY=VALUE` flags as docker's filter arguments: key → values. Throws ImageFilterError. */
export function parseImageFilters(values: readonly string[]): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  for (const value of values) {
    const equals = value.indexOf('=');
    if (equals < 0) throw new ImageFilterError(`bad format of filter (expected name=value)`);
    const key = value.slice(0, equals).trim().toLowerCase();
    filters.set(key, [...(filters.get(key) ?? []), value.slice(equals + 1).trim()]);
  }
  for (const [key, list] of filters) {
    if (!['dangling', 'reference', 'before', 'since', 'label'].includes(key)) throw new ImageFilterError(`Invalid filter '${key}'`);
    if (key === 'dangling' && list.some((v) => !['true', 'false', '1', '0'].includes(v.toLowerCase()))) throw new ImageFilterError(`Invalid filter 'dangling=[${list.join(' ')}]'`);
  }
  return filters;
}

/**
 * The rows `docker images [REPOSITORY[:TAG]] -f ...` shows. `resolve` finds before/since's image
 * (undefined: docker's "No such image: x:latest", thrown as ImageFilterError).
 */
export function imageRows(images: readonly ImageRecord[], filters: ReadonlyMap<string, string[]>, repository: string | undefined, resolve: (reference: string) => ImageRecord | undefined): ImageRow[] {
  const reference = [...(filters.get('reference') ?? []), ...(repository !== undefined ? [repository] : [])];
  const bound = (key: 'before' | 'since'): number | undefined => {
    const values = filters.get(key);
    if (!values || values.length === 0) return undefined;
    const times = values.map((value) => {
      const found = resolve(value);
      if (!found) throw new ImageFilterError(`No such image: ${value.includes(':') ? value : `${value}:latest`}`);
      return createdMs(found);
    });
    return key === 'before' ? Math.min(...times) : Math.max(...times);
  };
  const before = bound('before');
  const since = bound('since');
  const dangling = filters.get('dangling')?.map((v) => v === 'true' || v === '1');
  const labels = filters.get('label') ?? [];
  const rows: ImageRow[] = [];
  const sorted = [...images].sort((a, b) => createdMs(b) - createdMs(a));
  for (const image of sorted) {
    const created = createdMs(image);
    if (before !== undefined && !(created < before)) continue;
    if (since !== undefined && !(created > since)) continue;
    if (dangling !== undefined && !dangling.includes(image.repoTags.length === 0)) continue;
    const imageLabels = image.config.Labels ?? {};
    const labelOk = labels.every((label) => {
      const equals = label.indexOf('=');
      return equals < 0 ? label in imageLabels : imageLabels[label.slice(0, equals)] === label.slice(equals + 1);
    });
    if (!labelOk) continue;
    // With a reference filter docker shows only the names that match, and no dangling image.
    const tags = reference.length > 0 ? image.repoTags.filter((tag) => reference.some((pattern) => referenceMatches(pattern, tag))) : image.repoTags;
    if (reference.length > 0 && tags.length === 0) continue;
    if (tags.length === 0) rows.push({ image, repository: '<none>', tag: '<none>' });
    // The daemon lists an image's names in lexical order (its reference store sorts them).
    for (const tag of [...tags].sort()) {
      const [repo, name] = splitTag(tag);
      rows.push({ image, repository: repo, tag: name });
    }
  }
  return rows;
}
