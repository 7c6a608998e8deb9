/**
 * The subcommand table. A new command is one file in this folder plus one line here.
 */
import { agentCommand } from './agent';
import { eventsCommand } from './events';
import { psCommand } from './ps';
import { statsCommand } from './stats';
import { createCommand } from './create';
import { execCommand } from './exec';
import { imageCommand } from './image';
import { inspectCommand } from './inspect';
import { killCommand } from './kill';
import { logsCommand } from './logs';
import { pauseCommand } from './pause';
import { portCommand } from './port';
import { restartCommand } from './restart';
import { rmCommand } from './rm';
import { runCommand } from './run';
import { startCommand } from './start';
import { stopCommand } from './stop';
import { topCommand } from './top';
import { unpauseCommand } from './unpause';
import { waitCommand } from './wait';
import type { Command } from './types';
import { updateCommand } from './update';

export const COMMANDS: readonly Command[] = [
  agentCommand,
  createCommand,
  eventsCommand,
  execCommand,
  imageCommand,
  inspectCommand,
  killCommand,
  logsCommand,
  pauseCommand,
  portCommand,
  psCommand,
  restartCommand,
  rmCommand,
  runCommand,
  startCommand,
  statsCommand,
  stopCommand,
  topCommand,
  unpauseCommand,
  updateCommand,
  waitCommand,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
