/** Reads secrets: from the terminal without echoing them, or from stdin (a "-" argument), so that they are on no command line. */
import { createInterface } from 'node:readline';

export function promptSecret(question: string): Promise<string> {
  if (!process.stdin.isTTY) return Promise.reject(new Error('no terminal to ask for a password on; set HIL_ADMIN_PASSWORD'));
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
    const mute = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stdout.write(question);
    mute._writeToOutput = () => {};
    rl.question('', (answer) => {
      rl.close();
      process.stdout.write('\n');
      resolve(answer);
    });
  });
}

/** The first line of stdin: what a "-" argument stands for (`echo "$PW" | hil … -`). */
export async function firstLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0]!;
}
