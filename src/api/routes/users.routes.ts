import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { NoArgs, Path } from '../../wire/common.ts';
import { CreateUserBody, SetAdminBody, UserList, UserProjectBody } from '../../wire/users.ts';
import type { Services } from '../services.ts';

/** Only mounted with the database auth backend, as upstream. All admin only. */
export function userRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['users'];
  const user = Path('user');

  route(app, { method: 'GET', url: '/v0/auth/basic/users', operationId: 'userList', summary: 'List users with their projects.', tags, response: { 200: UserList } }, (req) =>
    s.users.list(req.principal),
  );
  route(app, { method: 'PUT', url: '/v0/auth/basic/user/:user', operationId: 'userCreate', summary: 'Create a user.', tags, params: user, body: CreateUserBody }, (req) =>
    s.users.create(req.principal, req.params.user, req.body.password, req.body.is_admin ?? false),
  );
  route(app, { method: 'DELETE', url: '/v0/auth/basic/user/:user', operationId: 'userDelete', summary: 'Delete a user.', tags, params: user, body: NoArgs }, (req) =>
    s.users.delete(req.principal, req.params.user),
  );
  route(app, { method: 'PATCH', url: '/v0/auth/basic/user/:user', operationId: 'userSetAdmin', summary: "Set a user's admin flag (not your own).", tags, params: user, body: SetAdminBody }, (req) =>
    s.users.setAdmin(req.principal, req.params.user, req.body.is_admin),
  );
  route(
    app,
    { method: 'POST', url: '/v0/auth/basic/user/:user/add_project', operationId: 'userAddProject', summary: 'Make the user a member of a project.', tags, params: user, body: UserProjectBody },
    (req) => s.users.addProject(req.principal, req.params.user, req.body.project),
  );
  route(
    app,
    { method: 'POST', url: '/v0/auth/basic/user/:user/remove_project', operationId: 'userRemoveProject', summary: 'Remove the user from a project.', tags, params: user, body: UserProjectBody },
    (req) => s.users.removeProject(req.principal, req.params.user, req.body.project),
  );
}
