/**
 * An image's history, as the Engine API's GET /images/{name}/history answers it: one row per
 * entry of the config's `history`, newest first; a row that made a layer carries that layer's
 * size; the top row is the image itself (its ID and names), the rows below are `<missing>`, as
 * docker shows layers that are not images of their own here. A config without history (a plain
 * rootfs import) gets one row per layer. Pure.
 */
import { badArchive } from './errors';
import type { ImageRecord } from './types';

export interface HistoryEntry {
  /** The image ID for the top row, "<missing>" below. */
  Id: string;
  /** Units: seconds since the Unix epoch. */
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  /** Bytes of the layer this step made; 0 for an empty-layer step. Units: bytes. */
  Size: number;
  Comment: string;
}

interface ConfigHistory {
  created?: unknown;
  created_by?: unknown;
  comment?: unknown;
  empty_layer?: unknown;
}

function seconds(value: unknown, fallback: number): number {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : fallback;
}

/** Units: layerSizeBytes returns bytes. */
export function imageHistory(image: ImageRecord, configJson: string, layerSizeBytes: (digest: string) => number): HistoryEntry[] {
  let config: { history?: unknown; created?: unknown };
  try {
    config = JSON.parse(configJson) as typeof config;
  } catch (error) {
    throw badArchive(`the stored config of ${image.id} is not JSON (${(error as Error).message})`);
  }
  const imageCreated = seconds(config.created, seconds(image.createdAt, 0));
  const steps: ConfigHistory[] = Array.isArray(config.history)
    ? (config.history as unknown[]).filter((step): step is ConfigHistory => typeof step === 'object' && step !== null)
    : image.layers.map(() => ({ created: config.created }));
  const rows: HistoryEntry[] = [];
  let layer = 0;
  for (const step of steps) {
    let size = 0;
    if (step.empty_layer !== true) {
      const digest = image.layers[layer++];
      if (digest !== undefined) size = layerSizeBytes(digest);
    }
    rows.push({
      Id: '<missing>',
      Created: seconds(step.created, imageCreated),
      CreatedBy: typeof step.created_by === 'string' ? step.created_by : '',
      Tags: null,
      Size: size,
      Comment: typeof step.comment === 'string' ? step.comment : '',
    });
  }
  rows.reverse();
  if (rows.length > 0) rows[0] = { ...rows[0]!, Id: image.id, Tags: image.repoTags.length > 0 ? [...image.repoTags] : null };
  return rows;
}
