/**
 * A pull's OCI image layout whose layer blobs are still downloading: the image store imports it
 * like any layout (ImageStore.importArchive), and opening a layer that has not arrived yet gives a
 * stream that starts once the blob is verified, or fails with the download's error. The store
 * extracts layers in order, so layer 1 is unpacked while layers 2 and on download, as docker does.
 *
 * The JSON files (oci-layout, index.json, the manifest and the config) and stand-ins for the
 * layers the store already has are in the directory from the start; a pending layer is there
 * (as a hard link to its verified blob) only once it has arrived.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { DirectoryArchive, type ArchiveSource } from '../runtime/images/archive';

interface PendingBlob {
  /** The manifest's size of the blob. Units: bytes. */
  sizeBytes: number;
  /** Resolves once the blob is in the layout. */
  arrived: Promise<void>;
  settle(error?: unknown): void;
  settled: boolean;
}

/** `blobs/sha256/<hex>`: where an OCI layout keeps a blob. */
export function layoutBlobMember(digest: string): string {
  return `blobs/sha256/${digest.slice(digest.indexOf(':') + 1)}`;
}

export class ArrivingLayout implements ArchiveSource {
  private readonly directory: DirectoryArchive;
  private readonly pending = new Map<string, PendingBlob>();

  constructor(private readonly root: string) {
    this.directory = new DirectoryArchive(root);
  }

  get description(): string {
    return this.directory.description;
  }

  /** Declares a layer blob that will arrive later (by `arrived` or `failed`). */
  expect(digest: string, sizeBytes: number): void {
    let settle!: (error?: unknown) => void;
    const arrived = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    // A layer the import never reaches (it failed before) must not be an unhandled rejection.
    arrived.catch(() => undefined);
    const blob: PendingBlob = { sizeBytes, arrived, settled: false, settle: (error) => {
      if (blob.settled) return;
      blob.settled = true;
      settle(error);
    } };
    this.pending.set(layoutBlobMember(digest), blob);
  }

  /** The verified blob at `file` is the layer `digest`: linked into the layout, then opened. */
  arrived(digest: string, file: string): void {
    const blob = this.pending.get(layoutBlobMember(digest));
    if (!blob) return;
    try {
      fs.linkSync(file, path.join(this.root, layoutBlobMember(digest)));
      blob.settle();
    } catch (error) {
      blob.settle(error);
    }
  }

  /** The layer `digest` will not arrive: whoever opens it gets `error`. */
  failed(digest: string, error: unknown): void {
    this.pending.get(layoutBlobMember(digest))?.settle(error);
  }

  /** Every layer still pending fails with `error` (the downloads stopped). */
  failAll(error: unknown): void {
    for (const blob of this.pending.values()) blob.settle(error);
  }

  has(name: string): boolean {
    return this.pending.has(name) || this.directory.has(name);
  }

  names(): string[] {
    return [...new Set([...this.directory.names(), ...this.pending.keys()])];
  }

  size(name: string): number {
    return this.pending.get(name)?.sizeBytes ?? this.directory.size(name);
  }

  readText(name: string, maxBytes?: number): Promise<string> {
    return this.directory.readText(name, maxBytes);
  }

  open(name: string): Readable {
    const blob = this.pending.get(name);
    if (!blob) return this.directory.open(name);
    const stream = new PassThrough({ highWaterMark: 256 * 1024 });
    blob.arrived.then(
      () => pipeline(this.directory.open(name), stream, () => undefined),
      (error: unknown) => stream.destroy(error instanceof Error ? error : new Error(String(error))),
    );
    return stream;
  }

  async close(): Promise<void> {}
}
