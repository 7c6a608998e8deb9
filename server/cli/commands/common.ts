/** Flags and help text shared by several commands. */
import { flagString, type FlagSpec, type ParsedArgs } from '../args';
import type { ConnectionFlags } from '../client';
import { DEFAULT_DETACH_KEYS } from '../detach-keys';

/** How to reach the agent; accepted before the command name and (hidden) after it. */
export const CONNECTION_FLAGS: readonly FlagSpec[] = [
  { name: 'host', kind: 'string', description: 'Agent URL (default: $CAPSTAN_HOST, else <state-dir>/agent.json)' },
  { name: 'token', kind: 'string', description: 'API token (default: $CAPSTAN_TOKEN, else <state-dir>/tokens.json)' },
  { name: 'state-dir', kind: 'string', description: 'Agent state directory (default: $CAPSTAN_STATE_DIR, else /var/lib/capstan)' },
];

/** run -it, exec -it and start -ai: the keys that leave the session with the container running. */
export const DETACH_KEYS_FLAG: FlagSpec = {
  name: 'detach-keys',
  kind: 'string',
  description: `Override the key sequence for detaching a container (default "${DEFAULT_DETACH_KEYS}")`,
};

export const HIDDEN_CONNECTION_FLAGS: readonly FlagSpec[] = CONNECTION_FLAGS.map((f) => ({ ...f, hidden: true }));

/** Command-level connection flags override the global ones. */
export function connectionFlags(global: ConnectionFlags, args: ParsedArgs): ConnectionFlags {
  const merged: ConnectionFlags = { ...global };
  const host = flagString(args, 'host');
  const token = flagString(args, 'token');
  const stateDir = flagString(args, 'state-dir');
  if (host !== undefined) merged.host = host;
  if (token !== undefined) merged.token = token;
  if (stateDir !== undefined) merged.stateDir = stateDir;
  return merged;
}

/** docker's --format help, with the command's own field list appended. */
export function formatFlagDescription(fields: readonly string[]): string {
  return [
    'Format output using a custom template:',
    "'table':            Print output in table format with column headers (default)",
    "'table TEMPLATE':   Print output in table format using the given Go template",
    "'json':             Print in JSON format",
    "'TEMPLATE':         Print output using the given Go template",
    `Fields: ${fields.map((f) => '.' + f).join(' ')}`,
  ].join('\n');
}

/** Go's sort.Strings order (bytewise), then by ID so equal names sort stably. */
export function byNameThenId(a: { info: { name: string; id: string } }, b: { info: { name: string; id: string } }): number {
  if (a.info.name !== b.info.name) return a.info.name < b.info.name ? -1 : 1;
  return a.info.id < b.info.id ? -1 : a.info.id > b.info.id ? 1 : 0;
}
