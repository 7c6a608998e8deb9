/**
 * `--restart` of `docker run` and `docker update`: no | always | unless-stopped | on-failure[:N].
 * Pure. Two steps, as in Docker, each with its words: the CLI splits the text at the first colon
 * (docker/cli opts.ParseRestartPolicy: "invalid restart policy format: …"), then the daemon checks
 * the name and the count (moby container.ValidateRestartPolicy: "invalid restart policy: …").
 * Docker Engine 20.10's daemon words these differently; capstan speaks as current Docker does.
 */
import { invalidLimit, LimitError } from './errors';
import { parseGoInt } from './units';

export type RestartPolicyName = 'no' | 'on-failure' | 'always' | 'unless-stopped';

export const RESTART_POLICY_NAMES: readonly RestartPolicyName[] = ['no', 'always', 'on-failure', 'unless-stopped'];

export interface RestartPolicySetting {
  name: RestartPolicyName;
  /** on-failure only; 0 = retry for ever. Units: restarts (count). */
  maximumRetryCount: number;
}

const FLAG = '--restart';

function invalidPolicy(message: string): LimitError {
  return new LimitError(400, 'invalid_restart_policy', message, { flag: FLAG });
}

/** The daemon's rules for a policy name and count (an empty name is not a policy here: "" leaves it unchanged). */
export function validateRestartPolicy(name: string, maximumRetryCount: number): RestartPolicySetting {
  if (!(RESTART_POLICY_NAMES as readonly string[]).includes(name)) {
    throw invalidPolicy(`invalid restart policy: unknown policy '${name.slice(0, 40)}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (name !== 'on-failure' && maximumRetryCount !== 0) {
    throw invalidPolicy(`invalid restart policy: maximum retry count can only be used with 'on-failure'${maximumRetryCount < 0 ? ' and cannot be negative' : ''}`);
  }
  if (maximumRetryCount < 0) throw invalidPolicy('invalid restart policy: maximum retry count cannot be negative');
  return { name: name as RestartPolicyName, maximumRetryCount };
}

/** `--restart TEXT`, CLI split then daemon rules. */
export function parseRestartPolicyText(text: string): RestartPolicySetting {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const countText = colon < 0 ? '' : text.slice(colon + 1);
  if (colon === 0) throw invalidPolicy('invalid restart policy format: no policy provided before colon');
  let count = 0;
  if (countText !== '') {
    try {
      count = parseGoInt(countText);
    } catch {
      throw invalidPolicy('invalid restart policy format: maximum retry count must be an integer');
    }
  }
  return validateRestartPolicy(name, count);
}

/**
 * The `restart` field of an update body: the flag's text, or Docker's RestartPolicy object
 * {"Name": "on-failure", "MaximumRetryCount": 3}. undefined for "" (and a Name of ""): unchanged.
 */
export function parseRestartPolicyValue(value: unknown): RestartPolicySetting | undefined {
  if (typeof value === 'string') return value === '' ? undefined : parseRestartPolicyText(value);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { Name: name, MaximumRetryCount: count = 0 } = value as { Name?: unknown; MaximumRetryCount?: unknown };
    if (typeof name !== 'string' || typeof count !== 'number' || !Number.isSafeInteger(count)) {
      throw invalidLimit(`invalid restart policy ${JSON.stringify(value).slice(0, 80)}: expected {"Name": string, "MaximumRetryCount": integer}`, FLAG);
    }
    return name === '' ? undefined : validateRestartPolicy(name, count);
  }
  throw invalidLimit(`invalid restart policy ${JSON.stringify(value) ?? String(value)}: expected "no", "always", "unless-stopped", "on-failure[:N]" or Docker's RestartPolicy object`, FLAG);
}

/** As the flag is typed: "always", "on-failure:3" ("on-failure" when retrying for ever). */
export function formatRestartPolicy(policy: RestartPolicySetting): string {
  return policy.name === 'on-failure' && policy.maximumRetryCount > 0 ? `on-failure:${policy.maximumRetryCount}` : policy.name;
}
