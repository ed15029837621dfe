/**
 * hil: the command-line client. The command tree is upstream HIL's
 * (`hil node list free`, `hil network create …`), over the typed client.
 * Environment: HIL_ENDPOINT (required), HIL_USERNAME and HIL_PASSWORD (HTTP
 * Basic), HIL_TIMEOUT (seconds to wait for networking actions, default 60).
 * Every error prints "Error: <msg>" and exits with status 1.
 */
import { Argument, Command } from 'commander';
import { cliOutput, runProgram, strictArguments } from './define.ts';
import { HilApiError, type HilClient } from '../client/index.ts';
import { VERSION } from '../version.ts';
import { clientFromEnv, hasCredentials } from './context.ts';
import { completeNames, completionScript, NAME_KINDS } from './completion.ts';
import { nodeCommands } from './commands/node.ts';
import { projectCommands } from './commands/project.ts';
import { networkCommands } from './commands/network.ts';
import { switchCommands } from './commands/switch.ts';
import { userCommands } from './commands/user.ts';
import { imageCommands } from './commands/image.ts';
import { headnodeCommands } from './commands/headnode.ts';
import { diskCommands } from './commands/disk.ts';

export function buildProgram(client: () => HilClient = clientFromEnv): Command {
  const program = cliOutput(new Command('hil'))
    .description('Command-line client for a HIL server (set HIL_ENDPOINT, HIL_USERNAME, HIL_PASSWORD)')
    .option('--version', "print this client's version and, with HIL_ENDPOINT set, the server's")
    .option('-q, --quiet', 'print nothing when a change succeeds (errors still print)')
    .exitOverride()
    .action(async (o: { version?: boolean }, cmd: Command) => {
      // With an action of its own (for --version), the program takes stray words as its arguments.
      const commands = cmd.createHelp().visibleCommands(cmd).map((c) => c.name()).filter((n) => n !== 'help');
      if (cmd.args.length) cmd.error(`error: unknown command '${cmd.args[0]}' (commands: ${commands.join(', ')})`);
      if (!o.version) return program.help();
      await printVersions(client);
    });
  nodeCommands(program, client);
  projectCommands(program, client);
  networkCommands(program, client);
  switchCommands(program, client);
  userCommands(program, client);
  imageCommands(program, client);
  diskCommands(program, client);
  headnodeCommands(program, client);
  program
    .command('completion')
    .description('Print a shell completion script (names of nodes, networks, … come from the server when HIL_ENDPOINT and credentials are set)')
    .addArgument(new Argument('<bash|zsh>').choices(['bash', 'zsh']))
    .addHelpText('after', '\nExample:\n  $ source <(hil completion bash)\n')
    .action((shell: 'bash' | 'zsh') => void process.stdout.write(completionScript(program, shell)));
  // What the completion script runs to list names; not for people.
  program
    .command('__complete', { hidden: true })
    .addArgument(new Argument('<kind>').choices(NAME_KINDS))
    .action(async (kind: (typeof NAME_KINDS)[number]) => {
      const names = await completeNames(client(), kind);
      if (names.length) process.stdout.write(names.join('\n') + '\n');
    });
  return strictArguments(program).allowExcessArguments(true);
}

async function printVersions(client: () => HilClient): Promise<void> {
  process.stdout.write(`hil client ${VERSION}\n`);
  if (!process.env.HIL_ENDPOINT) return void process.stdout.write('server: HIL_ENDPOINT is not set\n');
  // The client's version stands whatever the server does: a server that cannot be asked is a note, not a failure.
  try {
    const c = client();
    const server = await c.serverVersion();
    process.stdout.write(`hil server ${server.version} at ${c.http.endpoint} (Node.js ${server.node})\n`);
  } catch (err) {
    process.stdout.write(`server: ${(err as Error).message}\n`);
  }
}

/**
 * The message for an error, with what to do about it where the server's own
 * words would mislead: a server that wants credentials nobody gave answers
 * exactly as it does to a wrong password.
 */
export function describeError(err: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const message = (err as Error).message;
  if (err instanceof HilApiError && err.status === 401 && !hasCredentials(env)) {
    const missing = ['HIL_USERNAME', 'HIL_PASSWORD'].filter((v) => !env[v]);
    if (missing.length) return `the server wants credentials, and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set (the server said: ${message})`;
  }
  return message;
}

// Every error prints as its message: API errors, the CLI's own, a server that is down.
if (import.meta.main) await runProgram(buildProgram(), (err) => err instanceof Error, describeError);
