/**
 * `history`: an image's build steps from its config's "history" list, in the shape of the Engine
 * API's GET /images/{name}/history (moby image.HistoryResponseItem), newest first. Pure.
 *
 * As docker does it: each history entry that is not an empty layer takes the next diff ID of
 * rootfs.diff_ids, and its Size is that layer's size; the newest row carries the image's ID and
 * names, older rows `<missing>` (an imported image has no parent images to name them by).
 */
import { ImageError } from './errors';
import type { ImageRecord } from './types';

export interface HistoryEntry {
  /** "sha256:<hex>" for the newest row, "<missing>" for the rest. */
  Id: string;
  /** Units: seconds since the Unix epoch. */
  Created: number;
  CreatedBy: string;
  /** The image's names on the newest row, null elsewhere (docker's JSON). */
  Tags: string[] | null;
  /** The layer's size; 0 for a step that made no layer. Units: bytes. */
  Size: number;
  Comment: string;
}

interface ConfigHistoryEntry {
  created?: unknown;
  created_by?: unknown;
  comment?: unknown;
  empty_layer?: unknown;
}

function secondsOf(rfc3339: unknown): number {
  const ms = typeof rfc3339 === 'string' ? Date.parse(rfc3339) : NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

/**
 * The history of `image`. `configJson` is the config as imported (undefined for an image stored
 * before the store kept configs: then one row per layer, with what the record knows).
 * `layerSizeBytes` gives a layer's size by diff ID. Throws ImageError when the config lists more
 * layer-making steps than the image has layers (docker: "too many non-empty layers").
 */
export function imageHistory(image: ImageRecord, configJson: string | undefined, layerSizeBytes: (diffId: string) => number): HistoryEntry[] {
  let steps: ConfigHistoryEntry[];
  if (configJson === undefined) {
    steps = image.layers.map(() => ({ created: image.createdAt, created_by: '', comment: '' }));
  } else {
    let config: { history?: unknown };
    try {
      config = JSON.parse(configJson) as { history?: unknown };
    } catch (error) {
      throw new ImageError(500, 'bad_image_config', `the stored config of ${image.id} is not valid JSON (${(error as Error).message})`);
    }
    steps = Array.isArray(config.history) ? (config.history.filter((entry) => entry !== null && typeof entry === 'object') as ConfigHistoryEntry[]) : [];
  }
  const rows: HistoryEntry[] = [];
  let layerIndex = 0;
  for (const step of steps) {
    let size = 0;
    if (step.empty_layer !== true) {
      const diffId = image.layers[layerIndex];
      if (diffId === undefined) throw new ImageError(500, 'bad_image_config', `the config of ${image.id} has more layer-making steps in its history than the image has layers`);
      size = layerSizeBytes(diffId);
      layerIndex++;
    }
    rows.unshift({
      Id: '<missing>',
      Created: secondsOf(step.created),
      CreatedBy: typeof step.created_by === 'string' ? step.created_by : '',
      Tags: null,
      Size: size,
      Comment: typeof step.comment === 'string' ? step.comment : '',
    });
  }
  if (rows.length > 0) rows[0] = { ...rows[0]!, Id: image.id, Tags: image.repoTags.length > 0 ? [...image.repoTags] : null };
  return rows;
}
