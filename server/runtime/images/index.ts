/** The image store: import (rootfs tarball, docker save, OCI layout), list, resolve, remove. */
export { ImageStore, type ImageStoreOptions, type ImportOptions } from './store';
export { ImageError } from './errors';
export { normalizeReference, parseReference, type ImageReference } from './reference';
export type { ImageConfig, ImageRecord, ImportProgress, LayerRecord, RemoveResult } from './types';
export { shimMarkerWriter, type MarkerWriter } from './markers';
