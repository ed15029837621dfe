/**
 * hil: the command-line client. The command tree is upstream HIL's
 * (`hil node list free`, `hil network create …`), over the typed client.
 * Environment: HIL_ENDPOINT (required), HIL_USERNAME and HIL_PASSWORD (HTTP
 * Basic), HIL_TIMEOUT (seconds to wait for networking actions, default 60).
 * API errors print "Error: <msg>" and exit with status 1.
 */
import { Command } from 'commander';
import { runProgram, strictArguments } from './define.ts';
import type { HilClient } from '../client/index.ts';
import { VERSION } from '../version.ts';
import { CliError, clientFromEnv } from './context.ts';
import { completionScript } from './completion.ts';
import { nodeCommands } from './commands/node.ts';
import { projectCommands } from './commands/project.ts';
import { networkCommands } from './commands/network.ts';
import { switchCommands } from './commands/switch.ts';
import { userCommands } from './commands/user.ts';
import { imageCommands } from './commands/image.ts';
import { diskCommands } from './commands/disk.ts';

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
  imageCommands(program, client);
  diskCommands(program, client);
  program
    .command('completion')
    .description('Print a shell completion script')
    .argument('<bash|zsh>')
    .addHelpText('after', '\nExample:\n  $ source <(hil completion bash)\n')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new CliError('completion is available for bash and zsh');
      process.stdout.write(completionScript(program, shell));
    });
  return strictArguments(program);
}

// Every error prints as its message: API errors, the CLI's own, a server that is down.
if (import.meta.main) await runProgram(buildProgram(), (err) => err instanceof Error);
