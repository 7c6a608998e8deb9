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
  /** The Engine API version the client uses in its paths: min(the engine's, the client's). */
  apiVersion: string;
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
  listContainers(): Promise<EngineContainerSummary[]>;
  inspectContainer(id: string): Promise<EngineInspect>;
  /** Docker's POST /containers/{id}/update (Docker's field names); answers the engine's warnings. */
  updateContainer(id: string, body: Record<string, unknown>): Promise<{ Warnings?: string[] | null }>;
  /** Podman's POST /libpod/containers/{id}/update with an OCI LinuxResources body (its compat API has none). */
  libpodUpdate(id: string, resources: Record<string, unknown>): Promise<void>;
  top(id: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  /** POST /containers/{id}/{action} with its query (stop and restart take t, kill takes signal). */
  containerAction(id: string, action: 'start' | 'stop' | 'restart' | 'kill' | 'pause' | 'unpause', query?: Record<string, string>): Promise<void>;
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
