/**
 * `capstan agent ...`: runs the agent (collector, API, dashboard). Everything after "agent" is
 * the agent's own business; it is loaded only for this command, so `capstan stats` does not
 * pay for the server's modules (express, socket.io, the native addon).
 */
import type { Command } from './types';

export const agentCommand: Command = {
  name: 'agent',
  summary: 'Run the capstan agent (collector, API and dashboard)',
  usage: 'agent [OPTIONS]',
  flags: [],
  rawArgs: true,
  longRunning: true,
  run: async (_ctx, _args, rawArgv) => {
    // A lazy require (typed against the module) keeps the server's dependencies off the path
    // of every other command; an ECMAScript import() would also lose CommonJS named exports.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runAgent } = require('../../agent/main') as typeof import('../../agent/main');
    return runAgent([...rawArgv]);
  },
};
