/**
 * The image store, under <stateDir>/images:
 *
 *   layers/<hex>/root/        one extracted layer (an overlayfs lower directory), <hex> = its diff ID
 *   layers/<hex>/layer.json   LayerRecord
 *   layers/<hex>/tar-split.gz the layer tar's layout without file content, to rebuild it (tar-split.ts)
 *   records/<hex>.json        ImageRecord, <hex> = the image ID (digest of the image config)
 *   configs/<hex>.json        the image config exactly as imported (its digest is the ID), for
 *                             history, save and (later) push; absent for images stored before
 *   tmp/import-<pid>-<rand>/  staging of one import: uploads, gunzipped archives, new layers
 *
 * Layers are shared between images and kept once. An import extracts everything into its staging
 * folder first and only then, in one short locked step, renames new layers into place and writes
 * the records (atomically: write, fsync, rename). A failed import removes its staging folder and
 * leaves the store as it was.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { writeFileAtomic } from '../../storage/atomic-file';
import { prepareOverlay, type OverlayRootfs } from '../rootfs';
import { DirectoryArchive, TarArchive, type ArchiveSource } from './archive';
import { checkCompressionRatio, DEFAULT_IMPORT_LIMITS, ImportBudget, type ImportLimits } from './budget';
import { badArchive, ImageError, noSuchImage } from './errors';
import { applyChanges } from './commit-changes';
import { extractLayer, sniffCompression } from './extract';
import { detectFormat, planDockerSave, planOciLayout, planRootfs, sha256Hex, type ImagePlan } from './formats';
import { shimMarkerWriter, type MarkerWriter } from './markers';
import { rebuildLayerTar, TAR_SPLIT_FILE, type RebuiltTar } from './tar-split';
import { imageHistory, type HistoryEntry } from './history';
import { idPrefix, normalizeReference, tryNormalizeReference } from './reference';
import type { ImageConfig, ImageRecord, ImportProgress, LayerRecord, RemoveResult } from './types';

export interface ImageStoreOptions {
  stateDir: string;
  /** Whether a container uses the image (by ID); the runtime manager provides it. Default: never. */
  isImageInUse?: (imageId: string) => boolean;
  /** Writes overlayfs whiteouts into a new layer; defaults to `capstan-shim overlay-markers`. */
  markers?: MarkerWriter;
  now?: () => Date;
  /** Caps of one import (unpacked bytes, entries); DEFAULT_IMPORT_LIMITS when absent. */
  limits?: ImportLimits;
}

export interface ImportOptions {
  /** Name (NAME[:TAG]) for the imported image; replaces the names the archive gives. */
  name?: string;
  /** `docker import --change`: Dockerfile instructions for a plain rootfs's config (commit-changes.ts). */
  changes?: readonly string[];
  /** `docker import --message`: the comment of a plain rootfs's history entry. */
  message?: string;
  onProgress?: (progress: ImportProgress) => void;
}

/** ImportOptions with the name normalized and the import's budget, as the steps below pass them on. */
interface ImportRun extends ImportOptions {
  budget: ImportBudget;
}

/** The member name standing for "the whole archive" in a rootfs plan. */
const WHOLE_ARCHIVE = '\0whole-archive';

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How long after a change of the records directory its listing is not trusted to the mtime. Units: nanoseconds. */
const RACY_WINDOW_NS = 1_000_000_000n;

function architecture(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}

interface StagedLayer {
  digest: string;
  /** The staging folder holding root/ and layer.json, renamed into layers/ on commit. */
  directory?: string;
  record: LayerRecord;
}

export class ImageStore {
  readonly root: string;
  private readonly layersDirectory: string;
  private readonly recordsDirectory: string;
  private readonly configsDirectory: string;
  private readonly stagingDirectory: string;
  private isImageInUse: (imageId: string) => boolean;
  private readonly markers: MarkerWriter;
  private readonly now: () => Date;
  private readonly limits: ImportLimits;
  /** Commits and removals, one at a time. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Layers an import in progress relies on: never garbage-collected meanwhile. */
  private readonly pinned = new Map<string, number>();
  /** The last listing and the records directory's mtime it was read at (see list()). */
  private listing: { mtimeNs: bigint; records: ImageRecord[] } | undefined;

  constructor(options: ImageStoreOptions) {
    this.root = path.join(options.stateDir, 'images');
    this.layersDirectory = path.join(this.root, 'layers');
    this.recordsDirectory = path.join(this.root, 'records');
    this.configsDirectory = path.join(this.root, 'configs');
    this.stagingDirectory = path.join(this.root, 'tmp');
    this.isImageInUse = options.isImageInUse ?? (() => false);
    this.markers = options.markers ?? shimMarkerWriter();
    this.now = options.now ?? (() => new Date());
    this.limits = options.limits ?? DEFAULT_IMPORT_LIMITS;
    for (const directory of [this.root, this.layersDirectory, this.recordsDirectory, this.configsDirectory, this.stagingDirectory]) {
      fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    }
    this.removeAbandonedStaging();
  }

  /** The manager is created after the store; it hands its predicate over here. */
  setInUsePredicate(isImageInUse: (imageId: string) => boolean): void {
    this.isImageInUse = isImageInUse;
  }

  /** Staging folders of imports whose process died (a crash or SIGKILL mid-import). */
  private removeAbandonedStaging(): void {
    for (const name of fs.readdirSync(this.stagingDirectory)) {
      const pid = Number(/^import-(\d+)-/.exec(name)?.[1]);
      if (pid > 0 && pid !== process.pid && isAlive(pid)) continue;
      if (pid === process.pid) continue;
      fs.rmSync(path.join(this.stagingDirectory, name), { recursive: true, force: true });
    }
  }

  private serialize<T>(work: () => T | Promise<T>): Promise<T> {
    const result = this.lock.then(work, work);
    this.lock = result.catch(() => undefined);
    return result;
  }

  /* ---- reading ---- */

  /**
   * Every image, newest first. Every container start resolves its image, so the listing is kept:
   * records are only ever created, renamed over or removed, and each of those changes the records
   * directory's mtime, so one stat says whether the kept listing still holds. The kernel stamps
   * mtimes from a coarse clock, so two changes a few milliseconds apart can share one; a listing
   * read within a second of the last change is therefore not kept (git's "racy" rule).
   */
  list(): ImageRecord[] {
    const mtimeNs = fs.statSync(this.recordsDirectory, { bigint: true }).mtimeNs;
    if (this.listing?.mtimeNs === mtimeNs) return [...this.listing.records];
    const records: ImageRecord[] = [];
    for (const name of fs.readdirSync(this.recordsDirectory)) {
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      const record = this.readRecord(path.join(this.recordsDirectory, name));
      if (record) records.push(record);
    }
    records.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
    const settled = BigInt(Date.now()) * 1_000_000n - mtimeNs > RACY_WINDOW_NS;
    this.listing = settled ? { mtimeNs, records } : undefined;
    return [...records];
  }

  private readRecord(file: string): ImageRecord | undefined {
    try {
      const record = JSON.parse(fs.readFileSync(file, 'utf8')) as ImageRecord;
      return record.version === 1 && typeof record.id === 'string' ? record : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * An image by name (`busybox`, `busybox:1.36`) or ID (full, `sha256:`-prefixed, or a unique
   * prefix). undefined when nothing (or more than one image, for a short ID) matches.
   */
  resolve(reference: string): ImageRecord | undefined {
    const images = this.list();
    const name = tryNormalizeReference(reference);
    if (name !== undefined) {
      const byName = images.find((image) => image.repoTags.includes(name));
      if (byName) return byName;
    }
    const prefix = idPrefix(reference);
    if (prefix === undefined) return undefined;
    const matches = images.filter((image) => hexOf(image.id).startsWith(prefix));
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** Whether the layer with this diff ID (`sha256:<hex>`) is in the store: a pull does not fetch it again. */
  hasLayer(diffId: string): boolean {
    return /^sha256:[0-9a-f]{64}$/.test(diffId) && this.readLayerRecord(diffId) !== undefined;
  }

  /**
   * A budget held to this store's import caps and free space, for bytes written before an import
   * begins (a pull's downloads). Throws 507 when the store has no usable space.
   */
  newBudget(): ImportBudget {
    return new ImportBudget(this.limits, this.root);
  }

  /** Like resolve, but throws ImageError 404 (no_such_image). */
  get(reference: string): ImageRecord {
    const image = this.resolve(reference);
    if (!image) throw noSuchImage(reference);
    return image;
  }

  /** The image's layer directories, bottom first: overlayfs lowerdirs, as ShimConfig lists them. */
  layerDirs(image: ImageRecord): string[] {
    return image.layers.map((digest) => this.layerRoot(digest));
  }

  private layerRoot(digest: string): string {
    return path.join(this.layersDirectory, hexOf(digest), 'root');
  }

  config(image: ImageRecord): ImageConfig {
    return image.config;
  }

  /**
   * The image config exactly as imported, checked against the image ID, for save. Images imported
   * before configs were kept have none: refused, since a rewritten config would give another ID.
   */
  savedConfigJson(image: ImageRecord): string {
    const json = this.configJson(image);
    if (json === undefined) {
      throw new ImageError(
        409,
        'image_config_unavailable',
        `image ${hexOf(image.id).slice(0, 12)} was imported before Capstan kept image configs, so it cannot be saved with its ID; import or load it again to keep its config`,
      );
    }
    if (`sha256:${sha256Hex(json)}` !== image.id) throw new ImageError(500, 'image_config_changed', `${this.configFile(image.id)} no longer hashes to the image ID ${image.id}`);
    return json;
  }

  /** The layer's original tar, rebuilt from its record and checked against its diff ID (tar-split.ts). */
  layerTar(digest: string): RebuiltTar {
    return rebuildLayerTar(path.join(this.layersDirectory, hexOf(digest)), digest);
  }

  /** The ShimConfig rootfs for a container of `image`: its layers under the container's own upper/work. */
  prepareOverlay(containerDirectory: string, image: ImageRecord): OverlayRootfs {
    return prepareOverlay(containerDirectory, this.layerDirs(image));
  }

  /* ---- import ---- */

  /**
   * Imports a plain rootfs tarball (gzip or not), a `docker save` archive, or an OCI image layout
   * (tar or directory). Returns the images it holds (one for most archives).
   */
  async importImage(file: string, options: ImportOptions = {}): Promise<ImageRecord[]> {
    const run = this.newRun(options);
    const staging = this.newStaging();
    try {
      return await this.importFrom(file, staging, run);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * Imports from an archive source that is already open: a pull's OCI layout, whose layer blobs
   * may still be arriving (its open() then waits for them). The layers are extracted in order, so
   * the first one is unpacked while the next are downloaded.
   */
  async importArchive(source: ArchiveSource, options: ImportOptions = {}): Promise<ImageRecord[]> {
    const run = this.newRun(options);
    const staging = this.newStaging();
    try {
      return await this.importOpened(source, undefined, staging, run);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * Imports an archive arriving as a stream (an HTTP upload): stored in the staging folder first,
   * because the formats need random access. Units: totalBytes in bytes, when known.
   */
  async importStream(input: Readable, options: ImportOptions & { totalBytes?: number } = {}): Promise<ImageRecord[]> {
    const run = this.newRun(options);
    const staging = this.newStaging();
    try {
      const upload = path.join(staging, 'upload');
      let received = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          try {
            run.budget.charge(chunk.length, 'upload');
          } catch (error) {
            callback(error as Error);
            return;
          }
          options.onProgress?.({ phase: 'receive', currentBytes: received, ...(options.totalBytes !== undefined ? { totalBytes: options.totalBytes } : {}) });
          callback(null, chunk);
        },
      });
      await new Promise<void>((resolve, reject) => {
        pipeline(input, counter, fs.createWriteStream(upload, { mode: 0o600 }), (error) => (error ? reject(error) : resolve()));
      });
      if (options.totalBytes !== undefined && received !== options.totalBytes) {
        throw badArchive(`the upload ended after ${received} of ${options.totalBytes} bytes`);
      }
      return await this.importFrom(upload, staging, run);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * `commit`: a new image of `parent`'s layers plus the layer tar `writeLayer` writes (into this
   * store's staging folder), through the same extract and commit steps as an import, so the new
   * layer is checked, recorded and kept like an imported one. An empty tar (nothing changed) adds
   * no layer, as docker does. `makeImage` builds the image config once the new layer's diff ID is
   * known. A failure anywhere leaves the store as it was.
   */
  async commitImage(options: {
    parent: ImageRecord;
    name?: string;
    writeLayer: (file: string) => Promise<{ entries: number }>;
    makeImage: (diffIds: string[], emptyLayer: boolean) => Pick<ImagePlan, 'configJson' | 'config' | 'created' | 'architecture' | 'os' | 'commit'>;
  }): Promise<ImageRecord> {
    const run = this.newRun(options.name !== undefined ? { name: options.name } : {});
    const staging = this.newStaging();
    const pins: string[] = [];
    try {
      const tarFile = path.join(staging, 'layer.tar');
      const { entries } = await options.writeLayer(tarFile);
      run.budget.charge(fs.statSync(tarFile).size, 'layers');
      const parentLayers = options.parent.layers.map((diffId, index) => ({ member: `parent-layer-${index}`, diffId, storedBytes: 0 }));
      const layers = [...parentLayers, ...(entries > 0 ? [{ member: WHOLE_ARCHIVE, storedBytes: fs.statSync(tarFile).size }] : [])];
      const draft: ImagePlan = { configJson: '', config: {}, layers, repoTags: [] };
      const source = await TarArchive.open(tarFile, () => run.budget.countEntry('index'));
      let staged: Map<string, StagedLayer>;
      try {
        staged = await this.extractLayers([draft], source, tarFile, staging, pins, run);
      } finally {
        await source.close();
      }
      const diffIds = layers.map((layer) => staged.get(layer.member)!.digest);
      const plan: ImagePlan = { ...draft, ...options.makeImage(diffIds, entries === 0) };
      const [record] = await this.serialize(() => this.commit([plan], staged, run.name));
      return record!;
    } finally {
      for (const digest of pins) this.unpin(digest);
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }

  /** Checks the name and the free space before anything is written. */
  private newRun(options: ImportOptions): ImportRun {
    const name = options.name !== undefined ? normalizeReference(options.name) : undefined;
    // A bad --change is refused before anything is received or written.
    if (options.changes && options.changes.length > 0) applyChanges({}, options.changes);
    const budget = new ImportBudget(this.limits, this.root);
    return { ...options, ...(name !== undefined ? { name } : {}), budget };
  }

  /** A private folder under the store's staging area (a push's compressed layers); the caller removes it. */
  newScratchDirectory(): string {
    return this.newStaging();
  }

  private newStaging(): string {
    const staging = path.join(this.stagingDirectory, `import-${process.pid}-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(staging, { mode: 0o700 });
    return staging;
  }

  private async importFrom(file: string, staging: string, options: ImportRun): Promise<ImageRecord[]> {
    const { source, tarFile } = await this.openArchive(file, staging, options);
    return this.importOpened(source, tarFile, staging, options);
  }

  /** Plans, extracts and commits the images of an open archive; closes it. */
  private async importOpened(source: ArchiveSource, tarFile: string | undefined, staging: string, options: ImportRun): Promise<ImageRecord[]> {
    try {
      const format = detectFormat(source);
      if (format === 'rootfs' && tarFile === undefined) throw badArchive(`${source.description} is neither a docker save archive nor an OCI image layout`);
      const plans =
        format === 'docker-save'
          ? await planDockerSave(source)
          : format === 'oci-layout'
            ? await planOciLayout(source)
            : [planRootfs(WHOLE_ARCHIVE, fs.statSync(tarFile!).size, this.now().toISOString())];
      if (plans.length === 0) throw badArchive(`${source.description} holds no image`);
      const layerless = plans.find((plan) => plan.layers.length === 0);
      if (layerless) throw new ImageError(400, 'no_root_filesystem', `${source.description}: an image in it has no layers, so no root filesystem`);
      if (options.name !== undefined && plans.length > 1) {
        throw new ImageError(400, 'ambiguous_name', `the archive holds ${plans.length} images; import it without a name to keep their own`);
      }
      const pins: string[] = [];
      try {
        const layers = await this.extractLayers(plans, source, tarFile, staging, pins, options);
        if (format === 'rootfs' && ((options.changes?.length ?? 0) > 0 || options.message !== undefined)) {
          plans[0] = { ...plans[0]!, config: applyChanges({}, options.changes ?? []), ...(options.message !== undefined ? { comment: options.message } : {}) };
        }
        return await this.serialize(() => this.commit(plans, layers, options.name));
      } finally {
        for (const digest of pins) this.unpin(digest);
      }
    } finally {
      await source.close();
    }
  }

  /** The archive as random-access members; gzip is unpacked into the staging folder first. */
  private async openArchive(file: string, staging: string, options: ImportRun): Promise<{ source: ArchiveSource; tarFile?: string }> {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch (error) {
      throw new ImageError(400, 'no_such_file', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (stat.isDirectory()) {
      const directory = new DirectoryArchive(file);
      if (!directory.has('oci-layout') || !directory.has('index.json')) {
        throw new ImageError(400, 'unsupported_archive', `${file} is a directory but not an OCI image layout (no oci-layout and index.json)`);
      }
      return { source: directory };
    }
    const head = Buffer.alloc(8);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, head, 0, 8, 0);
    } finally {
      fs.closeSync(fd);
    }
    let tarFile = file;
    const compression = sniffCompression(head);
    if (compression === 'gzip') {
      tarFile = path.join(staging, 'archive.tar');
      await this.gunzipTo(file, tarFile, stat.size, options);
    } else if (compression !== 'none') {
      throw new ImageError(400, 'unsupported_archive', `${path.basename(file)} is ${compression}-compressed; only plain and gzip-compressed tar archives are supported`);
    }
    return { source: await TarArchive.open(tarFile, () => options.budget.countEntry('index')), tarFile };
  }

  private gunzipTo(file: string, target: string, totalBytes: number, options: ImportRun): Promise<void> {
    let read = 0;
    let unpacked = 0;
    const charged = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        try {
          unpacked += chunk.length;
          checkCompressionRatio(unpacked, read, options.budget.maxCompressionRatio, path.basename(file));
          options.budget.charge(chunk.length, 'archive');
          callback(null, chunk);
        } catch (error) {
          callback(error as Error);
        }
      },
    });
    const input = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
    input.on('data', (chunk) => {
      read += chunk.length;
      options.onProgress?.({ phase: 'decompress', currentBytes: read, totalBytes });
    });
    return new Promise((resolve, reject) => {
      pipeline(input, createGunzip(), charged, fs.createWriteStream(target, { mode: 0o600 }), (error) => {
        if (!error) resolve();
        else if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) reject(badArchive(`${path.basename(file)} is not valid gzip data: ${error.message}`));
        else reject(error);
      });
    });
  }

  private pin(digest: string): void {
    this.pinned.set(digest, (this.pinned.get(digest) ?? 0) + 1);
  }

  private unpin(digest: string): void {
    const count = (this.pinned.get(digest) ?? 1) - 1;
    if (count <= 0) this.pinned.delete(digest);
    else this.pinned.set(digest, count);
  }

  private readLayerRecord(digest: string): LayerRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.layersDirectory, hexOf(digest), 'layer.json'), 'utf8')) as LayerRecord;
    } catch {
      return undefined;
    }
  }

  private hasTarSplit(digest: string): boolean {
    return fs.existsSync(path.join(this.layersDirectory, hexOf(digest), TAR_SPLIT_FILE));
  }

  /** Extracts every layer the store lacks into staging; returns the layers of each plan, by member. */
  private async extractLayers(
    plans: ImagePlan[],
    source: ArchiveSource,
    tarFile: string | undefined,
    staging: string,
    pins: string[],
    options: ImportRun,
  ): Promise<Map<string, StagedLayer>> {
    const byMember = new Map<string, StagedLayer>();
    const todo: Array<{ member: string; diffId?: string; storedBytes: number }> = [];
    for (const plan of plans) {
      for (const layer of plan.layers) {
        if (byMember.has(layer.member) || todo.some((t) => t.member === layer.member)) continue;
        const existing = layer.diffId !== undefined ? this.readLayerRecord(layer.diffId) : undefined;
        // A layer stored before tar records were kept is extracted again, for its record (see commit).
        if (existing && layer.diffId !== undefined && this.hasTarSplit(layer.diffId)) {
          this.pin(layer.diffId);
          pins.push(layer.diffId);
          byMember.set(layer.member, { digest: layer.diffId, record: existing });
        } else {
          todo.push(layer);
        }
      }
    }
    const totalBytes = todo.reduce((sum, layer) => sum + layer.storedBytes, 0);
    let doneBytes = 0;
    for (const [index, layer] of todo.entries()) {
      const directory = path.join(staging, `layer-${index}`);
      const root = path.join(directory, 'root');
      fs.mkdirSync(root, { recursive: true, mode: 0o755 });
      fs.chmodSync(root, 0o755);
      const input = layer.member === WHOLE_ARCHIVE ? fs.createReadStream(tarFile!, { highWaterMark: 256 * 1024 }) : source.open(layer.member);
      const result = await extractLayer(input, root, {
        budget: { charge: (bytes) => options.budget.charge(bytes, 'layers'), countEntry: () => options.budget.countEntry('layers') },
        ...(options.budget.maxCompressionRatio ? { maxCompressionRatio: options.budget.maxCompressionRatio } : {}),
        onStoredBytes: (bytes) =>
          options.onProgress?.({ phase: 'extract', currentBytes: doneBytes + bytes, totalBytes, layer: index + 1, layers: todo.length }),
      });
      doneBytes += layer.storedBytes;
      if (layer.member === WHOLE_ARCHIVE && result.entries === 0) {
        throw new ImageError(400, 'no_root_filesystem', `${source.description} holds no files: it is not a root filesystem (an empty tar?)`);
      }
      if (layer.diffId !== undefined && result.digest !== layer.diffId) {
        throw new ImageError(400, 'digest_mismatch', `layer ${layer.member}: its content has digest ${result.digest}, the image config says ${layer.diffId}`);
      }
      await this.markers(root, result.markers);
      const record: LayerRecord = {
        digest: result.digest,
        sizeBytes: result.sizeBytes,
        whiteouts: result.markers.whiteouts.length,
        opaqueDirectories: result.markers.opaqueDirectories.length,
      };
      fs.writeFileSync(path.join(directory, TAR_SPLIT_FILE), result.tarSplit, { mode: 0o600 });
      fs.writeFileSync(path.join(directory, 'layer.json'), JSON.stringify(record) + '\n', { mode: 0o644 });
      this.pin(result.digest);
      pins.push(result.digest);
      byMember.set(layer.member, { digest: result.digest, directory, record });
    }
    return byMember;
  }

  /** The locked step: layers into place, records written, names moved. */
  private commit(plans: ImagePlan[], layers: Map<string, StagedLayer>, name: string | undefined): ImageRecord[] {
    for (const layer of new Set(layers.values())) {
      if (!layer.directory) {
        if (!this.readLayerRecord(layer.digest)) throw new ImageError(500, 'layer_missing', `layer ${layer.digest} vanished during the import`);
        continue;
      }
      const target = path.join(this.layersDirectory, hexOf(layer.digest));
      if (fs.existsSync(target)) {
        // Another import brought the same layer meanwhile, or it is an older one without its tar record.
        if (!this.hasTarSplit(layer.digest)) fs.renameSync(path.join(layer.directory, TAR_SPLIT_FILE), path.join(target, TAR_SPLIT_FILE));
        continue;
      }
      fs.renameSync(layer.directory, target);
    }
    const nowIso = this.now().toISOString();
    const results: ImageRecord[] = [];
    for (const plan of plans) {
      const digests = plan.layers.map((layer) => layers.get(layer.member)!.digest);
      let configJson = plan.configJson;
      if (configJson === '') {
        // A plain rootfs has no config: make Docker's minimal one, so the ID is a config digest too,
        // with the one history step `docker import` records (the upload has no file name), and what
        // `import --change`/`--message` give.
        const created = plan.created ?? nowIso;
        configJson = JSON.stringify({
          ...(plan.comment !== undefined ? { comment: plan.comment } : {}),
          architecture: architecture(),
          os: 'linux',
          created,
          config: plan.config,
          history: [{ created, comment: plan.comment ?? 'Imported from -' }],
          rootfs: { type: 'layers', diff_ids: digests },
        });
      }
      const hex = sha256Hex(configJson);
      const id = `sha256:${hex}`;
      const tags = name !== undefined ? [name] : plan.repoTags;
      const existing = this.readRecord(path.join(this.recordsDirectory, `${hex}.json`));
      const record: ImageRecord = {
        version: 1,
        id,
        repoTags: [...new Set([...(existing?.repoTags ?? []), ...tags])],
        layers: digests,
        config: plan.config,
        createdAt: plan.created ?? existing?.createdAt ?? nowIso,
        importedAt: nowIso,
        sizeBytes: plan.layers.reduce((sum, layer) => sum + layers.get(layer.member)!.record.sizeBytes, 0),
        ...(plan.architecture ? { architecture: plan.architecture } : {}),
        ...(plan.os ? { os: plan.os } : {}),
        ...(plan.commit ? { commit: plan.commit } : {}),
        ...(plan.comment !== undefined ? { comment: plan.comment } : {}),
      };
      // The config first: a record is only ever written once its config is in place.
      writeFileAtomic(this.configFile(id), configJson, 0o644);
      this.moveNames(tags, id);
      this.writeRecord(record);
      results.push(record);
    }
    return results;
  }

  /** A name points at one image: the previous holder keeps its other names (or becomes dangling). */
  private moveNames(names: readonly string[], toId: string): void {
    for (const other of this.list()) {
      if (other.id === toId) continue;
      const kept = other.repoTags.filter((tag) => !names.includes(tag));
      if (kept.length !== other.repoTags.length) this.writeRecord({ ...other, repoTags: kept });
    }
  }

  private configFile(id: string): string {
    return path.join(this.configsDirectory, `${hexOf(id)}.json`);
  }

  /** The image config as imported; undefined for an image stored before configs were kept. */
  configJson(image: ImageRecord): string | undefined {
    try {
      return fs.readFileSync(this.configFile(image.id), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Like get, but an unknown name is reported normalized (`x:latest`), as docker's tag and history say it. */
  private getForName(reference: string): ImageRecord {
    const image = this.resolve(reference);
    if (!image) throw noSuchImage(tryNormalizeReference(reference) ?? reference);
    return image;
  }

  /** `docker history`: the image's build steps, newest first. */
  history(reference: string): HistoryEntry[] {
    const image = this.getForName(reference);
    return imageHistory(image, this.configJson(image), (diffId) => this.readLayerRecord(diffId)?.sizeBytes ?? 0);
  }

  /**
   * `docker tag SOURCE TARGET`: TARGET (normalized, `:latest` by default) names SOURCE's image from
   * now on, and no other. Throws ImageError 404 for an unknown source, 400 for a malformed target.
   */
  tag(source: string, target: string): Promise<ImageRecord> {
    return this.serialize(() => {
      const name = normalizeReference(target);
      const image = this.getForName(source);
      if (image.repoTags.includes(name)) return image;
      this.moveNames([name], image.id);
      const tagged: ImageRecord = { ...image, repoTags: [...image.repoTags, name] };
      this.writeRecord(tagged);
      return tagged;
    });
  }

  private writeRecord(record: ImageRecord): void {
    writeFileAtomic(path.join(this.recordsDirectory, `${hexOf(record.id)}.json`), JSON.stringify(record, null, 2) + '\n', 0o644);
  }

  /** A layer's extracted size (LayerRecord.sizeBytes), 0 when its record is unreadable. Units: bytes. */
  layerSizeBytes(digest: string): number {
    return this.readLayerRecord(digest)?.sizeBytes ?? 0;
  }

  /* ---- removal ---- */

  /**
   * `image rm`: a name that is one of several only loses that name; otherwise the image is deleted
   * (refused while a container uses it) and layers no other image needs are removed.
   */
  remove(reference: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
    return this.serialize(() => {
      const image = this.get(reference);
      const name = tryNormalizeReference(reference);
      const byName = name !== undefined && image.repoTags.includes(name);
      if (byName && image.repoTags.length > 1) {
        this.writeRecord({ ...image, repoTags: image.repoTags.filter((tag) => tag !== name) });
        return { untagged: [name], deleted: [] };
      }
      if (!byName && image.repoTags.length > 1 && !options.force) {
        throw new ImageError(
          409,
          'image_referenced',
          `conflict: unable to delete ${hexOf(image.id).slice(0, 12)} (must be forced) - image is referenced in multiple repositories`,
        );
      }
      if (this.isImageInUse(image.id)) {
        const what = byName ? `repository reference "${name}"` : `image ${hexOf(image.id).slice(0, 12)}`;
        throw new ImageError(409, 'image_in_use', `conflict: unable to remove ${what} - a container is using the image`);
      }
      fs.rmSync(path.join(this.recordsDirectory, `${hexOf(image.id)}.json`), { force: true });
      fs.rmSync(this.configFile(image.id), { force: true });
      this.collectLayers();
      return { untagged: [...image.repoTags], deleted: [image.id] };
    });
  }

  /**
   * `image prune`: removes dangling images (no name), or with `all` every image no container uses,
   * then the layers no image needs any more. Units: spaceReclaimedBytes in bytes (of the layers removed).
   */
  prune(options: { all?: boolean } = {}): Promise<{ removed: Array<Pick<ImageRecord, 'id' | 'repoTags'>>; spaceReclaimedBytes: number }> {
    return this.serialize(() => {
      const removed: Array<Pick<ImageRecord, 'id' | 'repoTags'>> = [];
      for (const image of this.list()) {
        if (!options.all && image.repoTags.length > 0) continue;
        if (this.isImageInUse(image.id)) continue;
        fs.rmSync(path.join(this.recordsDirectory, `${hexOf(image.id)}.json`), { force: true });
        fs.rmSync(this.configFile(image.id), { force: true });
        removed.push({ id: image.id, repoTags: image.repoTags });
      }
      const spaceReclaimedBytes = removed.length > 0 ? this.collectLayers() : 0;
      return { removed, spaceReclaimedBytes };
    });
  }

  /**
   * Removes layers that no image references and no import in progress relies on. Returns the
   * size of what it removed. Units: bytes.
   */
  private collectLayers(): number {
    const needed = new Set<string>([...this.pinned.keys()].map(hexOf));
    for (const image of this.list()) for (const digest of image.layers) needed.add(hexOf(digest));
    let removedBytes = 0;
    for (const hex of fs.readdirSync(this.layersDirectory)) {
      if (needed.has(hex)) continue;
      removedBytes += this.layerSizeBytes(`sha256:${hex}`);
      fs.rmSync(path.join(this.layersDirectory, hex), { recursive: true, force: true });
    }
    return removedBytes;
  }
}
