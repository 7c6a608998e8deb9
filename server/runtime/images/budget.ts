/**
 * What one import may write: a cap on the bytes it unpacks and on the archive entries it holds,
 * and no more than the image store's file system has free (less a reserve, so a large import never
 * fills the disk the agent's state lives on). Every byte an import writes into its staging folder
 * is charged here as it is written, so a gzip bomb is stopped at the cap, not after it has filled
 * the disk. The cap is on the image's uncompressed size, measured on each copy an import writes
 * (the upload, the gunzipped archive, the layers' uncompressed content) separately, so a 5 GiB
 * image is not refused for being uploaded and then extracted; the free space bounds their sum.
 */
import * as fs from 'node:fs';
import { ImageError } from './errors';

export interface ImportLimits {
  /** Most bytes one import may unpack and store (upload, decompressed archive, layer contents). Units: bytes. */
  maxUnpackedBytes: number;
  /** Most archive entries one import may hold (all its layers, and the archive's own index). */
  maxEntries: number;
  /** Most a gzip stream may expand (unpacked bytes per compressed byte) past RATIO_FREE_BYTES; 0: no bound. */
  maxCompressionRatio?: number;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Defaults of `capstan agent --image-max-size` and `--image-max-entries` (README, "Images"). */
export const DEFAULT_IMPORT_LIMITS: ImportLimits = { maxUnpackedBytes: 8 * GiB, maxEntries: 1_000_000, maxCompressionRatio: 100 };

/**
 * How much a gzip stream may unpack before its ratio is judged: small streams of zeros (empty
 * files, sparse tables) are common and harmless. Units: bytes.
 */
export const RATIO_FREE_BYTES = 64 * MiB;

/**
 * Throws when a gzip stream has unpacked `unpackedBytes` from `compressedBytes` and that is more
 * than `maxRatio` to one, past RATIO_FREE_BYTES: file systems compress 2-10 to one, a gzip bomb
 * of zeros about 1000 to one. Pure.
 */
export function checkCompressionRatio(unpackedBytes: number, compressedBytes: number, maxRatio: number | undefined, what: string): void {
  if (!maxRatio || unpackedBytes <= RATIO_FREE_BYTES) return;
  if (unpackedBytes > maxRatio * Math.max(compressedBytes, 1)) {
    throw new ImageError(
      413,
      'compression_ratio',
      `${what} expands more than ${maxRatio} to one (${formatBytes(unpackedBytes)} from ${formatBytes(compressedBytes)} so far): ` +
        "refusing it as a decompression bomb (the agent's --image-max-ratio)",
    );
  }
}

/** Free space left untouched by imports: 5 % of the file system, at most this much. Units: bytes. */
const MAX_RESERVE_BYTES = 256 * MiB;

export interface FreeSpace {
  /** Bytes an unprivileged writer may still use. Units: bytes. */
  availableBytes: number;
  /** Size of the file system. Units: bytes. */
  totalBytes: number;
}

/** statfs(2) of the file system holding `directory`. */
export function freeSpace(directory: string): FreeSpace {
  const stats = fs.statfsSync(directory);
  return { availableBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
}

/** The part of `space` an import may use. Units: bytes. Pure. */
export function usableBytes(space: FreeSpace): number {
  const reserve = Math.min(MAX_RESERVE_BYTES, Math.floor(space.totalBytes * 0.05));
  return Math.max(0, space.availableBytes - reserve);
}

function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(1)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

/** The copies of an import's data that are written: each is held to the cap on its own. */
export type ImportMeter = 'upload' | 'archive' | 'layers';

/** What the entry count is counting: the archive's own index, or the layers' entries. */
export type EntryMeter = 'index' | 'layers';

export class ImportBudget {
  /** Units: bytes. */
  private writtenBytes = 0;
  /** Units: bytes. */
  private readonly meters: Record<ImportMeter, number> = { upload: 0, archive: 0, layers: 0 };
  private readonly entries: Record<EntryMeter, number> = { index: 0, layers: 0 };
  /** Units: bytes. */
  private readonly spaceBytes: number;

  /** Throws (507 insufficient_storage) when the store has no usable space at all: nothing is written then. */
  constructor(
    private readonly limits: ImportLimits,
    private readonly storeDirectory: string,
  ) {
    this.spaceBytes = usableBytes(freeSpace(storeDirectory));
    if (this.spaceBytes === 0) throw this.noSpace();
  }

  private noSpace(): ImageError {
    const space = freeSpace(this.storeDirectory);
    return new ImageError(
      507,
      'insufficient_storage',
      `not enough free space in the image store (${this.storeDirectory}): ${formatBytes(space.availableBytes)} free, ` +
        `${formatBytes(space.availableBytes - usableBytes(space))} of it kept in reserve; the import needs more`,
    );
  }

  /** The compression ratio bound of this import (undefined or 0: none). */
  get maxCompressionRatio(): number | undefined {
    return this.limits.maxCompressionRatio;
  }

  /** Counts `bytes` about to be written to `meter`'s copy; throws before the cap or the free space is passed. */
  charge(bytes: number, meter: ImportMeter): void {
    this.writtenBytes += bytes;
    this.meters[meter] += bytes;
    if (this.meters[meter] > this.limits.maxUnpackedBytes) {
      throw new ImageError(
        413,
        'image_too_large',
        `the image unpacks to more than ${formatBytes(this.limits.maxUnpackedBytes)} (the agent's --image-max-size); refusing it`,
      );
    }
    if (this.writtenBytes > this.spaceBytes) throw this.noSpace();
  }

  /** Counts one archive entry; throws past the cap. */
  countEntry(meter: EntryMeter): void {
    this.entries[meter]++;
    if (this.entries[meter] > this.limits.maxEntries) {
      throw new ImageError(413, 'too_many_entries', `the archive holds more than ${this.limits.maxEntries} entries (the agent's --image-max-entries); refusing it`);
    }
  }
}
