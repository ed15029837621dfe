/**
 * hil: the command-line client. The command tree is upstream HIL's
 * (`hil node list free`, `hil network create …`), over the typed client.
 * Environment: HIL_ENDPOINT (required), HIL_USERNAME and HIL_PASSWORD (HTTP
 * Basic), HIL_TIMEOUT (seconds to wait for networking actions, default 60).
 * API errors print "Error: <msg>" and exit with status 1.
 */
import { Command, CommanderError } from 'commander';
import { HilApiError, type HilClient } from '../client/index.ts';
import { VERSION } from '../version.ts';
import { CliError, clientFromEnv } from './context.ts';
import { completionScript } from './completion.ts';
import { nodeCommands } from './commands/node.ts';
import { projectCommands } from './commands/project.ts';
import { networkCommands } from './commands/network.ts';
import { switchCommands } from './commands/switch.ts';
import { userCommands } from './commands/user.ts';

export function buildProgram(client: () => HilClient = clientFromEnv): Command {
  const program = new Command('hil')
    .description('Command-line client for a HIL server (set HIL_ENDPOINT, HIL_USERNAME, HIL_PASSWORD)')
    .version(`hil ${VERSION}`, '--version')
    .showHelpAfterError()
    .exitOverride();
  nodeCommands(program, client);
  projectCommands(program, client);
  networkCommands(program, client);
  switchCommands(program, client);
  userCommands(program, client);
  program
    .command('completion')
    .description('Print a shell completion script')
    .argument('<bash|zsh>')
    .addHelpText('after', '\nExample:\n  $ source <(hil completion bash)\n')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new CliError('completion is available for bash and zsh');
      process.stdout.write(completionScript(program, shell));
    });
  // Every command must fail loudly, also on extra arguments.
  const strict = (c: Command) => {
    c.allowExcessArguments(false);
    c.commands.forEach(strict);
  };
  strict(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode); // commander printed the message
    const message = err instanceof HilApiError || err instanceof CliError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`Error: ${message}\n`);
    process.exit(1);
  }
}

if (import.meta.main) await main();
