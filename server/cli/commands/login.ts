/**
 * `capstan login [-u USER] [-p PASS | --password-stdin] [SERVER]` and `capstan logout [SERVER]`.
 * The agent checks the credentials against the registry (POST /api/v1/images/login: it is the
 * one that pulls, so it reaches the registry as a pull would); the CLI keeps them in its
 * config.json (registry-config.ts), mode 0600. Passwords are never printed.
 */
import * as fs from 'node:fs';
import { flagBool, flagString, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { configPath, readConfig, withCredentials, writeConfig } from '../registry-config';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import type { Command, CommandContext } from './types';

/** The registry `docker login` without SERVER means, as pulls of bare names dial it. */
const DEFAULT_SERVER = 'registry-1.docker.io';

/** `https://host:5000/` → `host:5000`, as the config's keys are written. Pure. */
export function serverKey(text: string | undefined): string {
  if (text === undefined || text === '' || text === 'docker.io' || text === 'index.docker.io') return DEFAULT_SERVER;
  const bare = text.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (!/^[A-Za-z0-9.-]+(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/.test(bare)) throw new CliError(`capstan login: ${JSON.stringify(text).slice(0, 80)} is not a registry HOST[:PORT]`, 1);
  return bare;
}

async function runLogin(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 1) throw new CliError(`"capstan login" requires at most 1 argument.\nSee 'capstan login --help'.\n\nUsage:  capstan login [OPTIONS] [SERVER]`, 1);
  const server = serverKey(args.positionals[0]);
  const username = flagString(args, 'username');
  let password = flagString(args, 'password');
  if (flagBool(args, 'password-stdin')) {
    if (password !== undefined) throw new CliError('--password and --password-stdin are mutually exclusive', 1);
    if (username === undefined) throw new CliError('Must provide --username with --password-stdin', 1);
    password = fs.readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  } else if (password !== undefined) {
    ctx.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (username === undefined || username === '' || password === undefined || password === '') {
    throw new CliError('capstan login: give -u USER and -p PASS or --password-stdin (there is no interactive prompt)', 1);
  }
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  await client.requestJson('POST', '/api/v1/images/login', { username, password, serveraddress: server });
  const file = configPath(ctx.env);
  writeConfig(file, withCredentials(readConfig(file), server, { username, password }));
  ctx.stdout.write(`Login Succeeded\n`);
  return 0;
}

async function runLogout(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 1) throw new CliError(`"capstan logout" requires at most 1 argument.\nSee 'capstan logout --help'.\n\nUsage:  capstan logout [SERVER]`, 1);
  const server = serverKey(args.positionals[0]);
  const file = configPath(ctx.env);
  const config = readConfig(file);
  if (!config.auths || !(server in config.auths)) {
    ctx.stdout.write(`Not logged in to ${server}\n`);
    return 0;
  }
  ctx.stdout.write(`Removing login credentials for ${server}\n`);
  writeConfig(file, withCredentials(config, server, undefined));
  return 0;
}

export const loginCommand: Command = {
  name: 'login',
  summary: 'Log in to a registry',
  usage: 'login [OPTIONS] [SERVER]',
  flags: [
    { name: 'username', short: 'u', kind: 'string', description: 'Username' },
    { name: 'password', short: 'p', kind: 'string', description: 'Password' },
    { name: 'password-stdin', kind: 'bool', description: 'Take the password from stdin' },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  run: (ctx, args) => runLogin(ctx, args),
};

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'Log out from a registry',
  usage: 'logout [SERVER]',
  flags: [...HIDDEN_CONNECTION_FLAGS],
  run: (ctx, args) => runLogout(ctx, args),
};
