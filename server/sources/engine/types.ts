/**
 * The contract between the engine client (client.ts: HTTP over the engine's socket) and the engine
 * sources above it (Docker and Podman, through the Docker Engine API they both speak). Plain types:
 * the Engine API's own field names where a value comes straight from it, so a reader can look
 * them up in Docker's API reference.
 */

/** Where the engine listens: `--docker-host` / `DOCKER_HOST`, parsed (host.ts). */
export type EngineAddress =
  | { kind: 'unix'; socketPath: string; /** As the user wrote it, for messages. */ text: string }
  | { kind: 'tcp'; origin: string; text: string };

/** Which engine answered GET /version. */
export type EngineFlavour = 'docker' | 'podman';

export interface EngineVersion {
  flavour: EngineFlavour;
  /** The engine's own version, e.g. "20.10.24+dfsg1", "4.3.1". */
  version: string;
  /**
   * The Engine API version the client uses in its paths: min(the engine's, the client's), raised
   * to the engine's minimum when that is higher (Docker 29 refuses anything below 1.44).
   */
  apiVersion: string;
  /** The newest Engine API version the engine speaks (its ApiVersion); EngineClient always sets it. */
  engineApiVersion?: string;
  /** The oldest it accepts (its MinAPIVersion), when it says. */
  engineMinApiVersion?: string;
  /** Podman's libpod API version (for /libpod/ paths); absent for Docker. */
  libpodApiVersion?: string;
}

/** One entry of GET /containers/json?all=1 (only the fields capstan reads). */
export interface EngineContainerSummary {
  Id: string;
  /** With a leading "/", as the API gives them. */
  Names: string[];
  Image: string;
  ImageID: string;
  Command?: string;
  /** Units: seconds since the Unix epoch. */
  Created: number;
  State: string;
  Status?: string;
  Labels: Record<string, string> | null;
  Ports?: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>;
  /** With size=1. Units: bytes. */
  SizeRw?: number;
  /** With size=1. Units: bytes. */
  SizeRootFs?: number;
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
  Mounts?: Array<{ Type?: string; Name?: string; Source?: string; Destination?: string; Driver?: string }> | null;
}

/** GET /containers/{id}/json: the engine's own document, kept whole (inspect returns it unchanged). */
export type EngineInspect = Record<string, unknown> & {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  State: Record<string, unknown> & { Status?: string; Pid?: number; StartedAt?: string; FinishedAt?: string; ExitCode?: number; OOMKilled?: boolean };
  Config: Record<string, unknown> & { Image?: string; Labels?: Record<string, string> | null; Env?: string[] | null };
  HostConfig: Record<string, unknown>;
};

/** One message of GET /events (Docker's events.Message; Podman's compat stream has the same shape). */
export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  /** Units: seconds since the Unix epoch. */
  time: number;
  /** Units: nanoseconds since the Unix epoch. */
  timeNano: number;
}

/** One line of GET /containers/{id}/logs, demultiplexed. */
export interface EngineLogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds when asked with timestamps=1. */
  time?: string;
  text: string;
}

/** What went wrong talking to an engine; `message` is the engine's own words for an engine refusal. */
export type EngineErrorCode = 'unreachable' | 'timeout' | 'protocol' | 'engine';

/**
 * What the engine sources need from a client (client.ts implements it over the engine's socket;
 * unit tests use a fake). Every call fails fast with an EngineError when the engine is away.
 */
export interface EngineApi {
  readonly address: EngineAddress;
  version(): Promise<EngineVersion>;
  /** GET /containers/json: every container unless all is false; filters as the API takes them (an object, or its JSON text). */
  /** `headersTimeoutMs`: how long the engine may take to answer; the client's default when absent. Units: milliseconds. */
  listContainers(options?: { filters?: Record<string, string[]> | string; all?: boolean; size?: boolean; headersTimeoutMs?: number }): Promise<EngineContainerSummary[]>;
  inspectContainer(id: string): Promise<EngineInspect>;
  /** Docker's POST /containers/{id}/update (Docker's field names); answers the engine's warnings. */
  updateContainer(id: string, body: Record<string, unknown>): Promise<{ Warnings?: string[] | null }>;
  /** Podman's POST /libpod/containers/{id}/update with an OCI LinuxResources body (its compat API has none). */
  libpodUpdate(id: string, resources: Record<string, unknown>): Promise<void>;
  top(id: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  /** POST /containers/{id}/{action} with its query (stop and restart take t, kill takes signal). */
  containerAction(id: string, action: EngineContainerAction, query?: Record<string, string>): Promise<void>;
  /** DELETE /containers/{id}?force=… */
  removeContainer(id: string, force: boolean): Promise<void>;
  /** POST /containers/{id}/wait?condition=…: resolves when the condition holds. */
  waitContainer(id: string, condition: string, signal?: AbortSignal): Promise<{ StatusCode: number }>;
  logs(
    id: string,
    options: { follow?: boolean; sinceMs?: number; untilMs?: number; tail?: number; timestamps?: boolean },
    onLine: (line: EngineLogLine) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  /** The events stream, from `sinceMs` when given; ends (or throws) when the engine goes away. */
  events(options: { sinceMs?: number; untilMs?: number; filters?: Record<string, string[]> }, signal?: AbortSignal): AsyncIterable<EngineEvent>;
  close(): Promise<void>;
}

/** GET /_ping: the engine is there; its headers say which API versions it speaks. */
export interface EnginePing {
  /** The Api-Version header, when sent. */
  apiVersion?: string;
  /** Podman's Libpod-Api-Version header; its presence means Podman. */
  libpodApiVersion?: string;
}

/**
 * POST /containers/{id}/update, with Docker's field names (Docker only: Podman 4.3's compat API has
 * no update route; use libpodUpdate there). Absent fields are left as they are; 0 means "unset"
 * for most of them, as Docker reads it.
 */
export interface EngineUpdateBody {
  /** Units: bytes. */
  Memory?: number;
  /** Units: bytes. */
  MemoryReservation?: number;
  /** Memory + swap; -1 is unlimited swap. Units: bytes. */
  MemorySwap?: number;
  /** Units: 1e-9 CPUs (billionths of a CPU). */
  NanoCpus?: number;
  /** Units: microseconds per CpuPeriod. */
  CpuQuota?: number;
  /** Units: microseconds. */
  CpuPeriod?: number;
  /** Relative weight. Units: shares. */
  CpuShares?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  /** 0 or -1 is unlimited. Units: processes. */
  PidsLimit?: number;
  /** 10 to 1000, 0 is unset. Units: weight. */
  BlkioWeight?: number;
  BlkioDeviceReadBps?: Array<{ Path: string; Rate: number }>;
  BlkioDeviceWriteBps?: Array<{ Path: string; Rate: number }>;
  BlkioDeviceReadIOps?: Array<{ Path: string; Rate: number }>;
  BlkioDeviceWriteIOps?: Array<{ Path: string; Rate: number }>;
  RestartPolicy?: { Name: string; MaximumRetryCount?: number };
}

/** The answer to POST /containers/{id}/update. */
export interface EngineUpdateResult {
  /** Docker's warnings (e.g. a kernel without swap accounting), never null here. */
  Warnings: string[];
}

/**
 * An OCI runtime-spec LinuxResources document, the body of Podman's
 * POST /v{libpod}/libpod/containers/{id}/update (only the fields capstan sets).
 */
export interface LinuxResources {
  memory?: {
    /** Units: bytes. */
    limit?: number;
    /** Units: bytes. */
    reservation?: number;
    /** Memory + swap. Units: bytes. */
    swap?: number;
  };
  cpu?: {
    /** Units: shares. */
    shares?: number;
    /** Units: microseconds per period; -1 is unlimited. */
    quota?: number;
    /** Units: microseconds. */
    period?: number;
    cpus?: string;
    mems?: string;
  };
  pids?: {
    /** Units: processes; -1 or 0 is unlimited. */
    limit: number;
  };
  blockIO?: {
    /** Units: weight (10 to 1000). */
    weight?: number;
    throttleReadBpsDevice?: Array<{ major: number; minor: number; rate: number }>;
    throttleWriteBpsDevice?: Array<{ major: number; minor: number; rate: number }>;
    throttleReadIOPSDevice?: Array<{ major: number; minor: number; rate: number }>;
    throttleWriteIOPSDevice?: Array<{ major: number; minor: number; rate: number }>;
  };
}

/** GET /containers/{id}/top: ps's header and rows, as the engine ran it. */
export interface EngineTop {
  Titles: string[];
  Processes: string[][];
}

export interface EngineLogsOptions {
  /** Keep streaming until the container stops (or the signal aborts). */
  follow?: boolean;
  /** Units: milliseconds since the Unix epoch. */
  sinceMs?: number;
  /** Units: milliseconds since the Unix epoch. */
  untilMs?: number;
  /** The last N lines only; all when absent. */
  tail?: number;
  /** Prefix each line with the engine's RFC 3339 timestamp (split off into EngineLogLine.time). */
  timestamps?: boolean;
  /** Whether the container has a tty (raw stream) or not (multiplexed); asked of the engine when absent. */
  tty?: boolean;
}

export interface EngineEventsOptions {
  /** Units: milliseconds since the Unix epoch. */
  sinceMs?: number;
  /** Units: milliseconds since the Unix epoch. */
  untilMs?: number;
  /** The API's filters, e.g. { type: ['container'], event: ['start', 'die', 'oom'] }. */
  filters?: Record<string, string[]>;
}

/** The lifecycle actions of POST /containers/{id}/{action}. */
export type EngineContainerAction = 'start' | 'stop' | 'restart' | 'kill' | 'pause' | 'unpause';
