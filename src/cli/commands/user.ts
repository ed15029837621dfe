/** hil user …, hil keystone … (the auth backends' own routes) and hil networking-action …. */
import type { Command } from 'commander';
import type { HilClient } from '../../client/index.ts';
import type { JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printTable } from '../output.ts';
import { firstLine } from '../prompt.ts';


export function userCommands(program: Command, client: () => HilClient): void {
  const user = group(program, 'user', 'Users of the database auth backend (admin)', 'hil user create alice - regular');
  defineChange(
    user,
    'create <user> <password> <admin|regular>',
    'Create a user. PASSWORD "-" reads it from the first line of standard input (keeps it out of the process list)',
    'echo "$PW" | hil user create alice - regular',
    (u: string, _password: string, kind: string) => `Created ${kind === 'admin' ? 'administrator' : 'user'} ${u}.`,
    async (u: string, password: string, kind: string) => client().user.create(u, password === '-' ? await firstLine() : password, kind === 'admin'),
  );
  defineChange(user, 'delete <user>', 'Delete a user', 'hil user delete alice', (u: string) => `Deleted user ${u}.`, (u: string) => client().user.delete(u));
  define(user, 'list', 'List users and their projects', 'hil user list', async (o: JsonOption) => {
    const users = await client().user.list();
    if (o.json) return printJson(users);
    printTable(['user', 'admin', 'projects'], Object.entries(users).map(([name, u]) => [name, u.is_admin ? 'yes' : 'no', u.projects.join(', ')]));
  }).option('--json', 'print JSON');
  defineChange(
    user,
    'set-admin <user> <admin|regular>',
    "Change a user's admin flag",
    'hil user set-admin alice admin',
    (u: string, kind: string) => `User ${u} is ${kind === 'admin' ? 'an administrator' : 'a regular user'} now.`,
    (u: string, kind: string) => client().user.setAdmin(u, kind === 'admin'),
  );
  const project = group(user, 'project', "A user's projects", 'hil user project add alice runway');
  defineChange(project, 'add <user> <project>', 'Add the user to a project', 'hil user project add alice runway', (u: string, p: string) => `Added user ${u} to project ${p}.`, (u: string, p: string) =>
    client().user.addProject(u, p),
  );
  defineChange(project, 'remove <user> <project>', 'Remove the user from a project', 'hil user project remove alice runway', (u: string, p: string) => `Removed user ${u} from project ${p}.`, (u: string, p: string) =>
    client().user.removeProject(u, p),
  );

  const keystone = group(program, 'keystone', 'The keystone auth backend (admin)', 'hil keystone project map 00de7c85e0f34b5c9b2d1d1b2b0c7a51 runway');
  const kproject = group(keystone, 'project', 'Which HIL project a Keystone project is (project_mapping = "table")', 'hil keystone project list');
  defineChange(
    kproject,
    'map <keystone_project_id> <project>',
    'Map a Keystone project (by id) to a HIL project',
    'hil keystone project map 00de7c85e0f34b5c9b2d1d1b2b0c7a51 runway',
    (id: string, p: string) => `Keystone project ${id} is HIL project ${p} now.`,
    (id: string, p: string) => client().keystoneProject.map(id, p),
  );
  defineChange(kproject, 'unmap <keystone_project_id>', "Remove a Keystone project's mapping", 'hil keystone project unmap 00de7c85e0f34b5c9b2d1d1b2b0c7a51', (id: string) => `Keystone project ${id} is no HIL project now.`, (id: string) =>
    client().keystoneProject.unmap(id),
  );
  define(kproject, 'list', 'List mapped Keystone projects', 'hil keystone project list', async (o: JsonOption) => {
    const mapped = await client().keystoneProject.list();
    if (o.json) return printJson(mapped);
    printTable(['keystone project', 'project'], Object.entries(mapped));
  }).option('--json', 'print JSON');

  const action = group(program, 'networking-action', 'Asynchronous networking actions', 'hil networking-action show <status_id>');
  define(action, 'show <status_id>', 'Show the state of an action', 'hil networking-action show 3f2c…', async (id: string, o: JsonOption) => {
    const a = await client().networkingAction.show(id);
    if (o.json) return printJson(a);
    printTable(['status', 'type', 'node', 'nic', 'channel', 'network', 'error'], [[a.status, a.type, a.node, a.nic, a.channel, a.new_network, a.error]]);
  }).option('--json', 'print JSON');
}

