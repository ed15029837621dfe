/** Small helpers for the command trees: every command gets a description, an example in --help, and one action. */
import { CommanderError, type Command } from 'commander';

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

/** Every command must fail loudly, also on extra arguments. */
export function strictArguments(program: Command): Command {
  const strict = (c: Command) => {
    c.allowExcessArguments(false);
    c.commands.forEach(strict);
  };
  strict(program);
  return program;
}

/**
 * Runs a command tree: commander has already printed its own errors; an
 * error `expected` says prints as "Error: <message>", anything else with its
 * stack (a bug). Exits 1 on any error.
 */
export async function runProgram(program: Command, expected: (err: unknown) => boolean): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const text = expected(err) ? (err as Error).message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`Error: ${text}\n`);
    process.exit(1);
  }
}
