/**
 * The subcommand table. A new command is one file in this folder plus one line here.
 */
import { agentCommand } from './agent';
import { psCommand } from './ps';
import { statsCommand } from './stats';
import type { Command } from './types';

export const COMMANDS: readonly Command[] = [agentCommand, psCommand, statsCommand];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
