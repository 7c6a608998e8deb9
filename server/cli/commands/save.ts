/**
 * `capstan save [-o FILE] IMAGE...`: a `docker save` archive of the images, from the agent's
 * GET /api/v1/images/get, to FILE (written beside it under a temporary name and renamed when
 * complete, so a failed save leaves no partial file) or to stdout (never a terminal).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { flagString, type ParsedArgs } from '../args';
import { describeNetworkError, type AgentClient } from '../client';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { refusalOf } from './refusal';
import type { Command, CommandContext } from './types';

const USAGE = 'Usage:  capstan save [OPTIONS] IMAGE [IMAGE...]\n\nSave one or more images to a tar archive (streamed to STDOUT by default)';

/** The agent's archive as a response stream, or its refusal as docker words it. */
function requestArchive(client: AgentClient, names: readonly string[]): Promise<http.IncomingMessage> {
  const { endpoint } = client;
  const query = names.map((name) => `names=${encodeURIComponent(name)}`).join('&');
  const url = new URL(`${endpoint.url.replace(/\/+$/, '')}/api/v1/images/get?${query}`);
  const headers: Record<string, string> = { accept: 'application/x-tar' };
  if (endpoint.token !== undefined) headers['authorization'] = `Bearer ${endpoint.token}`;
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, { method: 'GET', headers });
    request.on('error', (error) => reject(new CliError(`capstan: cannot reach the agent at ${endpoint.url}: ${describeNetworkError(error)}`, 1, { cause: error })));
    request.on('response', (response) => {
      if ((response.statusCode ?? 500) < 400) {
        resolve(response);
        return;
      }
      void refusalOf(response).then(reject);
    });
    request.end();
  });
}

/** Copies the archive to `target`, failing when it ends before its Content-Length. */
async function copyArchive(response: http.IncomingMessage, target: Writable): Promise<void> {
  const expected = Number(response.headers['content-length']);
  let received = 0;
  response.on('data', (chunk: Buffer) => (received += chunk.length));
  try {
    await pipeline(response, target);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`capstan: the agent stopped sending the archive after ${received} bytes${Number.isFinite(expected) ? ` of ${expected}` : ''} (a layer could not be reproduced, or the agent went away): ${(error as Error).message}`);
  }
  if (Number.isFinite(expected) && received !== expected) throw new CliError(`capstan: the archive ended after ${received} of ${expected} bytes`);
}

async function runSave(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length === 0) throw new CliError(`"capstan save" requires at least 1 argument.\nSee 'capstan save --help'.\n\n${USAGE}`, 1);
  const output = flagString(args, 'output');
  if ((output === undefined || output === '-') && process.stdout.isTTY) {
    throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
  }
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const response = await requestArchive(client, args.positionals);
  if (output === undefined || output === '-') {
    await copyArchive(response, process.stdout);
    return 0;
  }
  const temporary = path.join(path.dirname(output), `.${path.basename(output)}.capstan-save-${process.pid}`);
  try {
    await copyArchive(response, fs.createWriteStream(temporary, { mode: 0o600 }));
    fs.renameSync(temporary, output);
  } catch (error) {
    response.destroy();
    fs.rmSync(temporary, { force: true });
    if ((error as NodeJS.ErrnoException).code !== undefined && !(error instanceof CliError)) {
      throw new CliError(`capstan: failed to save image: ${(error as Error).message}`);
    }
    throw error;
  }
  return 0;
}

export const saveCommand: Command = {
  name: 'save',
  summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  usage: 'save [OPTIONS] IMAGE [IMAGE...]',
  flags: [{ name: 'output', short: 'o', kind: 'string', description: 'Write to a file, instead of STDOUT' }, ...HIDDEN_CONNECTION_FLAGS],
  run: (ctx, args) => runSave(ctx, args),
};
