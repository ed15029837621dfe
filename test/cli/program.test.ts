/** The `hil` command tree as a whole: every command documents itself with an example. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/hil.ts';

function all(cmd: Command, path: string[] = []): Array<[string, Command]> {
  // Hidden commands (__complete, which the completion script runs) are not for people.
  return cmd.createHelp().visibleCommands(cmd).filter((c) => c.name() !== 'help').flatMap((c) => [[[...path, c.name()].join(' '), c] as [string, Command], ...all(c, [...path, c.name()])]);
}

describe('hil command tree', () => {
  const program = buildProgram(() => {
    throw new Error('no client in this test');
  });

  it("has upstream's commands", () => {
    const names = all(program).map(([n]) => n);
    for (const expected of [
      'node list', 'node show', 'node register', 'node delete', 'node bootdev', 'node network connect', 'node network detach',
      'node nic register', 'node nic delete', 'node obm enable', 'node obm disable', 'node power on', 'node power off',
      'node power cycle', 'node power status', 'node metadata add', 'node metadata delete', 'node console show', 'node console log',
      'project create', 'project delete', 'project list', 'project list-networks', 'project node list', 'project node add', 'project node remove',
      'network create', 'network delete', 'network show', 'network list', 'network list-attachments', 'network grant-access', 'network revoke-access',
      'switch list', 'switch show', 'switch delete', 'switch register',
      'port register', 'port delete', 'port show', 'port revert', 'port nic add', 'port nic remove',
      'user create', 'user delete', 'user set-admin', 'user project add', 'user project remove',
      'networking-action show', 'completion',
    ]) {
      assert.ok(names.includes(expected), `missing: hil ${expected}`);
    }
  });

  it('every command, group or leaf, shows an example in --help', () => {
    for (const [name, cmd] of all(program)) {
      let text = '';
      cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
      cmd.outputHelp();
      assert.match(text, /Example:\n {2}\$ \S/, `hil ${name} --help has no example`);
    }
  });

  it('listing and show commands offer --json', () => {
    for (const [name, cmd] of all(program)) {
      if (/\b(list|show|list-networks|list-attachments)$/.test(name) && !name.startsWith('node console')) {
        assert.ok(cmd.options.some((o) => o.long === '--json'), `hil ${name} lacks --json`);
      }
    }
  });
});
