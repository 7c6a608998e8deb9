/** Plain types of the image store. No I/O. */

/** The runtime defaults an image carries (Docker's image config "config" object, names kept). */
export interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  /** "80/tcp", ... */
  ExposedPorts?: string[];
  Labels?: Record<string, string>;
  /** The Dockerfile's VOLUME paths (the keys of Docker's "Volumes" object). */
  Volumes?: string[];
  /** The Dockerfile's STOPSIGNAL ("SIGTERM", "9"). */
  StopSignal?: string;
}

/** What `commit` records beyond an import: docker image inspect's Author, Comment, Container, ... */
export interface CommitFacts {
  author: string;
  comment: string;
  /** The ID of the container committed. */
  container: string;
  /** The image the container ran ("sha256:..."). */
  parent: string;
  /** docker's ContainerConfig: the container's config when it was committed (docker's container.Config shape). */
  containerConfig: Record<string, unknown>;
  /** docker's Config of the new image (container.Config shape, with the --change instructions applied). */
  config: Record<string, unknown>;
  /** The image config's history, oldest first (docker's image.History entries). */
  history: Array<Record<string, unknown>>;
}

/** One image, as stored in <stateDir>/images/records/<hex>.json. */
export interface ImageRecord {
  version: 1;
  /** "sha256:<64 hex>": the digest of the image config, Docker's image ID. */
  id: string;
  /** Normalized "repository:tag" names pointing at this image; empty for a dangling image. */
  repoTags: string[];
  /** Layer digests ("sha256:<hex>" of the uncompressed layer tar), bottom first. */
  layers: string[];
  config: ImageConfig;
  /** When the image was built (its config says), else when it was imported. Units: RFC 3339. */
  createdAt: string;
  /** When it was imported here. Units: RFC 3339. */
  importedAt: string;
  /** Extracted size of all layers (regular files). Units: bytes. */
  sizeBytes: number;
  architecture?: string;
  os?: string;
  /** Present on an image made by `commit`. */
  commit?: CommitFacts;
  /** `import --message`. */
  comment?: string;
}

/** One extracted layer, <stateDir>/images/layers/<hex>/layer.json. */
export interface LayerRecord {
  digest: string;
  /** Bytes of regular files in the layer. Units: bytes. */
  sizeBytes: number;
  /** overlayfs markers written into it. */
  whiteouts: number;
  opaqueDirectories: number;
}

export interface ImportProgress {
  /** "receive": an upload being stored; "decompress": a gzip archive being unpacked; "extract": layers. */
  phase: 'receive' | 'decompress' | 'extract';
  /** Units: bytes. */
  currentBytes: number;
  /** Units: bytes; undefined when unknown (an upload without Content-Length). */
  totalBytes?: number;
  /** 1-based layer number and count, during "extract". */
  layer?: number;
  layers?: number;
}

export interface RemoveResult {
  /** Names removed from images. */
  untagged: string[];
  /** Image IDs deleted. */
  deleted: string[];
}
