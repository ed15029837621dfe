/** A small helper so every command gets a description, an example in --help, and one action. */
import type { Command } from 'commander';

export function define(parent: Command, usage: string, description: string, example: string, action: (...args: any[]) => Promise<void>): Command {
  const [name, ...args] = usage.split(' ');
  const cmd = parent.command(name).description(description);
  for (const a of args) cmd.argument(a);
  cmd.addHelpText('after', `\nExample:\n  $ ${example}\n`);
  cmd.action(action);
  return cmd;
}

/** A command that only groups subcommands (`hil node nic …`); its help shows an example too. */
export function group(parent: Command, name: string, description: string, example: string): Command {
  return parent.command(name).description(description).addHelpText('after', `\nExample:\n  $ ${example}\n`);
}
