/**
 * `capstan pull`: a manifest from a registry, its platform's image, the layers the store lacks
 * (three at a time, as docker), each checked against its sha256 while it streams, and the same
 * import an archive gets: the blobs are laid out as an OCI image layout in a staging folder and
 * handed to ImageStore.importArchive as they are verified (arriving-layout.ts), so layer 1 is
 * extracted while the others download, the records are an import's, and a failure leaves the
 * store as it was.
 *
 * Verified blobs wait in <store>/downloads/ until the pull that needs them has been imported, so a
 * pull that was interrupted (a stall, a dropped connection, a full disk) fetches only what is left
 * the next time. Only verified blobs get their final name there; partial ones are removed.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseImageConfig, thisPlatform } from '../runtime/images/formats';
import type { ImageStore } from '../runtime/images/store';
import type { ImageRecord, ImportProgress } from '../runtime/images/types';
import { RegistryClient, type RegistryClientOptions } from './client';
import { RegistryError } from './errors';
import { formatPlatform, parseManifest, parsePlatform, selectPlatform, type BlobDescriptor, type Platform } from './manifest';
import { ArrivingLayout, layoutBlobMember } from './arriving-layout';
import { inParallel, shortLayerId } from './layer-transfers';
import { parseRemoteReference } from './reference';

/** One of docker's pull progress messages: `{"status":"Downloading","id":"abc123def456","progressDetail":{...}}`. */
export interface PullEvent {
  status: string;
  /** Short (12 hex) layer ID; absent for lines about the whole image. */
  id?: string;
  /** Units: bytes. */
  current?: number;
  /** Units: bytes. */
  total?: number;
}

export interface PullOptions extends RegistryClientOptions {
  /** OS/ARCH[/VARIANT]; this machine's when absent. */
  platform?: string;
  onEvent?: (event: PullEvent) => void;
}

export interface PullResult {
  image: ImageRecord;
  /** Digest of the manifest (or manifest list) the reference named. */
  digest: string;
  /** Whether anything new came (docker's "Downloaded newer image" vs "Image is up to date"). */
  downloaded: boolean;
  /** The name as docker prints it: the local name, or NAME@DIGEST. */
  name: string;
}

/** Layers downloaded at once: docker's default (max-concurrent-downloads). */
const PARALLEL_DOWNLOADS = 3;



export async function pullImage(store: ImageStore, text: string, options: PullOptions = {}): Promise<PullResult> {
  const reference = parseRemoteReference(text);
  const wanted: Platform = options.platform !== undefined ? parsePlatform(options.platform) : thisPlatform();
  const emit = options.onEvent ?? (() => undefined);
  const client = new RegistryClient(reference, options);
  const name = reference.localName ?? `${text}`;
  const budget = store.newBudget();

  emit({ status: reference.digest ? `Pulling from ${reference.repository}` : `${reference.tag}: Pulling from ${reference.repository}` });
  const top = await client.manifest(reference.digest ?? reference.tag!);
  let manifest = parseManifest(top.body, top.contentType);
  let imageManifest = top;
  if (manifest.kind === 'list') {
    const chosen = selectPlatform(manifest.manifests, wanted);
    if (!chosen) {
      const offered = manifest.manifests.filter((m) => m.platform && m.platform.os !== 'unknown').map((m) => formatPlatform(m.platform!));
      throw new RegistryError(404, 'manifest_unknown', `no matching manifest for ${formatPlatform(wanted)} in the manifest list entries (it has ${offered.join(', ') || 'none'})`);
    }
    imageManifest = await client.manifest(chosen.digest);
    manifest = parseManifest(imageManifest.body, imageManifest.contentType);
    if (manifest.kind !== 'image') throw new RegistryError(400, 'bad_manifest', `manifest ${chosen.digest} is a list inside a list`);
  }
  if (manifest.layers.length === 0) throw new RegistryError(400, 'bad_manifest', 'the image manifest lists no layers, so no root filesystem');

  const downloads = path.join(store.root, 'downloads');
  fs.mkdirSync(downloads, { recursive: true, mode: 0o700 });
  const cached = (digest: string): string => path.join(downloads, digest.replace(':', '-'));
  const fetchBlob = async (blob: BlobDescriptor, onBytes: (bytes: number) => void): Promise<void> => {
    if (fs.existsSync(cached(blob.digest))) return; // verified by an earlier attempt
    await client.blob(blob.digest, blob.size, cached(blob.digest), (bytes) => {
      budget.charge(bytes, 'upload');
      onBytes(bytes);
    });
  };

  await fetchBlob(manifest.config, () => undefined);
  const configJson = fs.readFileSync(cached(manifest.config.digest), 'utf8');
  let diffIds: string[];
  try {
    diffIds = parseImageConfig(JSON.parse(configJson)).diffIds;
  } catch (error) {
    throw new RegistryError(400, 'bad_manifest', `the image config ${manifest.config.digest} is not a valid image config (${(error as Error).message})`);
  }
  if (diffIds.length !== manifest.layers.length) {
    throw new RegistryError(400, 'bad_manifest', `the image config lists ${diffIds.length} layers, the manifest ${manifest.layers.length}`);
  }
  const existingImage = store.resolve(manifest.config.digest);
  const upToDate = existingImage !== undefined && (reference.localName === undefined || existingImage.repoTags.includes(reference.localName));

  const needed = manifest.layers.filter((_layer, index) => !store.hasLayer(diffIds[index]!));
  for (const layer of manifest.layers) {
    emit({ id: shortLayerId(layer.digest), status: needed.includes(layer) ? 'Pulling fs layer' : 'Already exists' });
  }
  for (const layer of needed.slice(PARALLEL_DOWNLOADS)) emit({ id: shortLayerId(layer.digest), status: 'Waiting' });

  // The OCI layout the import reads (arriving-layout.ts): the JSON files now; an empty stand-in for
  // a layer the store has, which the import does not open (it finds the layer by its diff ID);
  // each needed layer as it is verified, so the import extracts layer 1 while the next download.
  // Should a layer the store had be removed meanwhile (its last image deleted), the import reads
  // the stand-in, finds the wrong digest and fails cleanly; the next pull fetches the layer.
  const root = path.join(downloads, `layout-${process.pid}-${randomBytes(6).toString('hex')}`);
  let image: ImageRecord;
  try {
    const blobs = path.join(root, 'blobs', 'sha256');
    fs.mkdirSync(blobs, { recursive: true, mode: 0o700 });
    const layout = new ArrivingLayout(root);
    // The config as read above: a pull of the same image at the same time may have removed the file since.
    fs.writeFileSync(path.join(root, layoutBlobMember(manifest.config.digest)), configJson, { mode: 0o600 });
    for (const layer of manifest.layers) {
      if (needed.includes(layer)) layout.expect(layer.digest, layer.size);
      else fs.writeFileSync(path.join(root, layoutBlobMember(layer.digest)), '', { mode: 0o600 });
    }
    fs.writeFileSync(path.join(root, layoutBlobMember(imageManifest.digest)), imageManifest.body, { mode: 0o600 });
    fs.writeFileSync(path.join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    fs.writeFileSync(
      path.join(root, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: manifest.mediaType, digest: imageManifest.digest, size: Buffer.byteLength(imageManifest.body) }] }),
    );

    const downloaded = inParallel(needed, PARALLEL_DOWNLOADS, async (layer) => {
      const id = shortLayerId(layer.digest);
      let current = 0;
      try {
        await fetchBlob(layer, (bytes) => {
          current += bytes;
          emit({ id, status: 'Downloading', current, total: layer.size });
        });
      } catch (error) {
        layout.failed(layer.digest, error);
        throw error;
      }
      emit({ id, status: 'Verifying Checksum' });
      emit({ id, status: 'Download complete' });
      layout.arrived(layer.digest, cached(layer.digest));
    }).catch((error: unknown) => {
      // The layers that were never started will not arrive either.
      layout.failAll(error);
      throw error;
    });

    let lastLayer = 0;
    const onProgress = (progress: ImportProgress): void => {
      if (progress.phase !== 'extract' || progress.layer === undefined) return;
      const layer = needed[progress.layer - 1];
      if (!layer) return;
      if (progress.layer !== lastLayer && lastLayer > 0 && needed[lastLayer - 1]) emit({ id: shortLayerId(needed[lastLayer - 1]!.digest), status: 'Pull complete' });
      lastLayer = progress.layer;
      emit({ id: shortLayerId(layer.digest), status: 'Extracting', current: progress.currentBytes, total: progress.totalBytes });
    };
    const imported = store.importArchive(layout, { ...(reference.localName !== undefined ? { name: reference.localName } : {}), onProgress });
    // Both end before the layout goes: a failed import lets the downloads finish (their verified
    // blobs stay for the next pull), and a failed download fails the import that waits for it.
    const [importOutcome, downloadOutcome] = await Promise.allSettled([imported, downloaded]);
    if (downloadOutcome.status === 'rejected') throw downloadOutcome.reason;
    if (importOutcome.status === 'rejected') throw importOutcome.reason;
    if (lastLayer > 0 && needed[lastLayer - 1]) emit({ id: shortLayerId(needed[lastLayer - 1]!.digest), status: 'Pull complete' });
    image = importOutcome.value[0]!;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  // Imported: the blobs are in the store now, so their verified copies go.
  for (const digest of [manifest.config.digest, ...manifest.layers.map((layer) => layer.digest)]) fs.rmSync(cached(digest), { force: true });

  const printed = reference.localName ?? `${reference.registry}/${reference.repository}@${top.digest}`;
  emit({ status: `Digest: ${top.digest}` });
  emit({ status: upToDate && needed.length === 0 ? `Status: Image is up to date for ${printed}` : `Status: Downloaded newer image for ${printed}` });
  return { image, digest: top.digest, downloaded: !(upToDate && needed.length === 0), name };
}
