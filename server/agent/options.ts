/** The agent's command-line flags: parsed and validated before anything starts. */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_IMPORT_LIMITS, type ImportLimits } from '../runtime/images/budget';
import { DEFAULT_MAX_EXITED_CONTAINERS } from '../metrics/retention';
import { parseKeptFileBudget } from '../collector/kept-files';
import { DEFAULT_IDLE_FULL_READ_EVERY_TICKS, parseIdleFullReadEvery } from '../collector/idle-cgroups';

export interface AgentOptions {
  listenHost: string;
  listenPort: number;
  stateDir: string;
  /** Units: milliseconds. */
  intervalMs: number;
  /** How far back history goes. Units: milliseconds. */
  historyMs: number;
  cgroupRoot?: string;
  procRoot: string;
  metricsToken?: string;
  perCpu: boolean;
  /** Event log bounds: one file's size (Units: bytes), files kept, and age (Units: milliseconds). */
  eventLog: { maxFileBytes: number; maxFiles: number; maxAgeMs: number };
  /** Parent cgroup of capstan's own containers (`/capstan`; tests use their own). */
  cgroupParent: string;
  /** Where Docker's and Podman's Engine APIs listen ("unix:///…", "tcp://…"); undefined = not asked. */
  dockerHost?: string;
  podmanHost?: string;
  /** Export every container label as container_label_* (cAdvisor's --store_container_labels). */
  storeContainerLabels: boolean;
  /** With storeContainerLabels off, the label keys still exported. */
  whitelistedContainerLabels: string[];
  /** Environment variable names exported as container_env_* (cAdvisor's --env_metadata_whitelist). */
  envMetadataWhitelist: string[];
  /** Caps of one image import: unpacked bytes (Units: bytes) and archive entries. */
  imageLimits: ImportLimits;
  /** Pulls: registries plain HTTP may be used for besides loopback ones, and the stall time-out (Units: milliseconds). */
  registry: { insecureRegistries: string[]; stallTimeoutMs: number };
  /** Exited containers whose /metrics series are kept until removed; the first to exit go first. Units: containers. */
  maxExitedContainers: number;
  /** Cgroup files the sweep keeps open; undefined = the collector's default (keptFileBudgetFromLimit). Units: fds. */
  sweepFdBudget?: number;
  /** An idle cgroup's other every-tick counters are read every this many ticks; undefined = the collector's default. Units: ticks. */
  idleFullReadEveryTicks?: number;
}

export const DEFAULT_LISTEN = '127.0.0.1:9180';
export const DEFAULT_STATE_DIR = '/var/lib/capstan';
export const DEFAULT_CGROUP_PARENT = '/capstan';
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';
export const DEFAULT_PODMAN_HOST = 'unix:///run/podman/podman.sock';

export const AGENT_USAGE = `Usage: capstan agent [OPTIONS]

Runs the collector and serves /metrics, the REST API and the dashboard.

Options:
  --listen HOST:PORT       address to listen on (default ${DEFAULT_LISTEN})
  --state-dir DIR          tokens, agent.json and state (default ${DEFAULT_STATE_DIR}, env CAPSTAN_STATE_DIR)
  --interval DURATION      collection interval, e.g. 1s, 500ms (default 1s)
  --history DURATION       history kept per cgroup, e.g. 15m, 1h (default 15m)
  --metrics-token TOKEN    require "Authorization: Bearer TOKEN" on /metrics (default: open)
  --metrics-token-file F   the same, with the token read from file F (keeps it out of ps)
  --events-max-size SIZE   rotate the event log at this size, e.g. 10m (default 10m)
  --events-max-files N     event log files kept (default 5)
  --events-max-age DURATION  drop events older than this, e.g. 168h (default 168h = 7 days)
  --percpu                 export per-CPU container_cpu_usage_seconds_total series (cgroup v1)
  --sweep-fd-budget N      cgroup files the sweep keeps open between ticks; past it the least
                           recently read are opened per read (default: half the open-file limit,
                           or all files read every tick while 4096 fds stay free; env
                           CAPSTAN_SWEEP_FD_BUDGET; 0 keeps none open). A larger N than the
                           open-file limit holds raises it, or is refused at start
  --idle-full-read-every N a cgroup whose CPU time and memory usage did not move since the
                           last tick reads only those; its other counters (memory.stat, block
                           I/O, throttling, tasks) every N ticks, or at once when it moves
                           (default ${DEFAULT_IDLE_FULL_READ_EVERY_TICKS}; env CAPSTAN_IDLE_FULL_READ_EVERY; 1 reads every file every tick)
  --cgroup-parent PATH     parent cgroup of the containers capstan runs (default ${DEFAULT_CGROUP_PARENT})
  --docker-host URL        Docker's Engine API: unix:///PATH or tcp://HOST:PORT, or "none"
                           (default: env DOCKER_HOST, else ${DEFAULT_DOCKER_HOST})
  --podman-host URL        Podman's Docker-compatible API, or "none" (default ${DEFAULT_PODMAN_HOST})
  --store-container-labels[=false]
                           export container labels as container_label_* (default true, as cAdvisor)
  --whitelisted-container-labels K1,K2
                           with --store-container-labels=false, the label keys still exported
  --env-metadata-whitelist N1,N2
                           environment variables exported as container_env_* (default none)
  --image-max-size SIZE    most one image import may unpack, e.g. 20g (default 8g)
  --image-max-entries N    most files, directories and links one image import may hold
                           (default ${DEFAULT_IMPORT_LIMITS.maxEntries})
  --image-max-ratio N      refuse gzip data that expands more than N to one past 64 MiB
                           (a decompression bomb; default ${DEFAULT_IMPORT_LIMITS.maxCompressionRatio}, 0: no bound)
  --insecure-registry HOST[:PORT]
                           pull from this registry over plain HTTP (repeatable; loopback
                           registries always may, as docker's 127.0.0.0/8 rule)
  --registry-timeout DURATION
                           a pull fails when a registry sends nothing for this long (default 30s)
  --max-exited-containers N
                           exited containers whose /metrics series are kept until removed;
                           beyond N, the ones that exited first are dropped (default ${DEFAULT_MAX_EXITED_CONTAINERS})
  --cgroup-root DIR        read cgroups from DIR instead of the host's mounts (tests, fixtures)
  --proc-root DIR          read /proc from DIR (tests, fixtures)
  -h, --help               show this help`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** "1s", "500ms", "15m", "1h" or a plain number of seconds → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`invalid ${flag} "${text}": use a duration like 500ms, 1s, 15m or 1h`);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unitMs;
}

export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\s]*)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new UsageError(`invalid --listen "${text}": use HOST:PORT, e.g. ${DEFAULT_LISTEN} or [::1]:9180`);
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

export function parseAgentOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      // A Go-style boolean: "--store-container-labels" alone means true, "=false" turns it off.
      args: argv.map((arg) => (arg === '--store-container-labels' ? '--store-container-labels=true' : arg)),
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string' },
        'state-dir': { type: 'string' },
        interval: { type: 'string' },
        history: { type: 'string' },
        'metrics-token': { type: 'string' },
        'metrics-token-file': { type: 'string' },
        percpu: { type: 'boolean' },
        'events-max-size': { type: 'string' },
        'events-max-files': { type: 'string' },
        'events-max-age': { type: 'string' },
        'cgroup-root': { type: 'string' },
        'proc-root': { type: 'string' },
        'cgroup-parent': { type: 'string' },
        'docker-host': { type: 'string' },
        'podman-host': { type: 'string' },
        'store-container-labels': { type: 'string' },
        'whitelisted-container-labels': { type: 'string' },
        'env-metadata-whitelist': { type: 'string' },
        'image-max-size': { type: 'string' },
        'image-max-entries': { type: 'string' },
        'image-max-ratio': { type: 'string' },
        'max-exited-containers': { type: 'string' },
        'insecure-registry': { type: 'string', multiple: true },
        'registry-timeout': { type: 'string' },
        'sweep-fd-budget': { type: 'string' },
        'idle-full-read-every': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const { host, port } = parseListen(values.listen ?? DEFAULT_LISTEN);
  const intervalMs = parseDuration(values.interval ?? '1s', '--interval');
  if (intervalMs < 100 || intervalMs > 3_600_000) throw new UsageError(`--interval must be between 100ms and 1h, got ${values.interval}`);
  const historyMs = parseDuration(values.history ?? '15m', '--history');
  if (historyMs < intervalMs * 2) throw new UsageError('--history must cover at least two intervals');
  if (values['metrics-token'] !== undefined && values['metrics-token-file'] !== undefined) {
    throw new UsageError('give --metrics-token or --metrics-token-file, not both');
  }
  const token = values['metrics-token-file'] !== undefined ? readTokenFile(values['metrics-token-file']) : values['metrics-token'];
  if (token !== undefined && token.length < 16) throw new UsageError('--metrics-token must be at least 16 characters');
  const options: AgentOptions = {
    listenHost: host,
    listenPort: port,
    stateDir: values['state-dir'] ?? env['CAPSTAN_STATE_DIR'] ?? DEFAULT_STATE_DIR,
    intervalMs,
    historyMs,
    procRoot: values['proc-root'] ?? '/proc',
    perCpu: values.percpu ?? false,
    eventLog: {
      maxFileBytes: parseSize(values['events-max-size'] ?? '10m', '--events-max-size'),
      maxFiles: parseCount(values['events-max-files'] ?? '5', '--events-max-files'),
      maxAgeMs: parseDuration(values['events-max-age'] ?? '168h', '--events-max-age'),
    },
    cgroupParent: parseCgroupParent(values['cgroup-parent'] ?? DEFAULT_CGROUP_PARENT),
    storeContainerLabels: parseBoolean(values['store-container-labels'] ?? 'true', '--store-container-labels'),
    whitelistedContainerLabels: parseList(values['whitelisted-container-labels']),
    envMetadataWhitelist: parseList(values['env-metadata-whitelist']),
    imageLimits: {
      maxUnpackedBytes: values['image-max-size'] !== undefined ? parseSize(values['image-max-size'], '--image-max-size') : DEFAULT_IMPORT_LIMITS.maxUnpackedBytes,
      maxEntries: values['image-max-entries'] !== undefined ? parseEntryCount(values['image-max-entries'], '--image-max-entries', 1) : DEFAULT_IMPORT_LIMITS.maxEntries,
      maxCompressionRatio: values['image-max-ratio'] !== undefined ? parseEntryCount(values['image-max-ratio'], '--image-max-ratio', 0) : DEFAULT_IMPORT_LIMITS.maxCompressionRatio!,
    },
    registry: {
      insecureRegistries: (values['insecure-registry'] ?? []).map((registry) => {
        if (!/^[A-Za-z0-9.-]+(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/.test(registry)) throw new UsageError(`--insecure-registry must be HOST[:PORT], got ${registry}`);
        return registry;
      }),
      stallTimeoutMs: parseDuration(values['registry-timeout'] ?? '30s', '--registry-timeout'),
    },
    maxExitedContainers: parseMaxExited(values['max-exited-containers'] ?? String(DEFAULT_MAX_EXITED_CONTAINERS)),
  };
  const dockerHost = engineHost(values['docker-host'] ?? env['DOCKER_HOST'] ?? DEFAULT_DOCKER_HOST);
  if (dockerHost !== undefined) options.dockerHost = dockerHost;
  const podmanHost = engineHost(values['podman-host'] ?? DEFAULT_PODMAN_HOST);
  if (podmanHost !== undefined) options.podmanHost = podmanHost;
  if (values['cgroup-root'] !== undefined) options.cgroupRoot = values['cgroup-root'];
  if (token !== undefined) options.metricsToken = token;
  const budget = flagOrEnv(values['sweep-fd-budget'], '--sweep-fd-budget', env['CAPSTAN_SWEEP_FD_BUDGET'], 'CAPSTAN_SWEEP_FD_BUDGET', parseKeptFileBudget);
  if (budget !== undefined) options.sweepFdBudget = budget;
  const idleEvery = flagOrEnv(values['idle-full-read-every'], '--idle-full-read-every', env['CAPSTAN_IDLE_FULL_READ_EVERY'], 'CAPSTAN_IDLE_FULL_READ_EVERY', parseIdleFullReadEvery);
  if (idleEvery !== undefined) options.idleFullReadEveryTicks = idleEvery;
  return options;
}

/**
 * A setting given by flag or by environment variable (the flag wins), parsed by `parse`, whose
 * error becomes a UsageError naming whichever of the two was given; undefined when neither was.
 */
function flagOrEnv<T>(flagText: string | undefined, flag: string, envText: string | undefined, envName: string, parse: (text: string, what: string) => T): T | undefined {
  const text = flagText ?? envText;
  if (text === undefined) return undefined;
  try {
    return parse(text, flagText !== undefined ? flag : envName);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** "none" (or empty) turns an engine source off. The address itself is checked by the engine client. */
function engineHost(text: string): string | undefined {
  const trimmed = text.trim();
  return trimmed === '' || trimmed === 'none' ? undefined : trimmed;
}

function parseBoolean(text: string, flag: string): boolean {
  const value = text.trim().toLowerCase();
  if (['true', '1', 'yes', ''].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new UsageError(`invalid ${flag} "${text}": use true or false`);
}

/** "a,b, c" → ["a", "b", "c"]. */
function parseList(text: string | undefined): string[] {
  return (text ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** A size like Docker's: "512k", "10m", "1g" or plain bytes → bytes; at least 4 KiB. */
export function parseSize(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?$/i.exec(text.trim());
  if (!match) throw new UsageError(`invalid ${flag} "${text}": use a size like 512k, 10m or 1g`);
  const unit = (match[2] ?? 'b').toLowerCase()[0] as 'b' | 'k' | 'm' | 'g';
  const bytes = Math.floor(Number(match[1]) * { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit]);
  if (bytes < 4096) throw new UsageError(`${flag} must be at least 4k, got ${text}`);
  return bytes;
}

function parseEntryCount(text: string, flag: string, minimum: number): number {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || value < minimum || !Number.isSafeInteger(value)) {
    throw new UsageError(`invalid ${flag} "${text}": use a whole number of at least ${minimum}`);
  }
  return value;
}

/** 0 keeps none (series go with the cgroup, as cAdvisor does); the cap keeps a scrape's size bounded. */
function parseMaxExited(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) > 100_000) {
    throw new UsageError(`invalid --max-exited-containers "${text}": use a whole number from 0 to 100000`);
  }
  return Number(text);
}

function parseCount(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || Number(text) > 1000) throw new UsageError(`invalid ${flag} "${text}": use a whole number from 1 to 1000`);
  return Number(text);
}

/**
 * The token's file: a flag would show the token in every process listing (and a DaemonSet with
 * hostPID shares that listing with the node), so deployments should prefer a file (a Secret).
 */
function readTokenFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new UsageError(`cannot read --metrics-token-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** `--cgroup-parent`: an absolute cgroup path of plain names ("/capstan", "/capstan-test-1a2b"). */
export function parseCgroupParent(text: string): string {
  const trimmed = text.trim().replace(/\/+$/, '');
  if (!/^(\/[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127})+$/.test(trimmed) || trimmed.split('/').length > 9) {
    throw new UsageError(`invalid --cgroup-parent "${text}": use an absolute cgroup path of plain names, e.g. ${DEFAULT_CGROUP_PARENT}`);
  }
  return trimmed;
}
