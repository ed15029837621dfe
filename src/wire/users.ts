/** Users of the database auth backend: /v0/auth/basic/user/<user>. */
import { Type } from 'typebox';
import { Args, StringMap } from './common.ts';

export const CreateUserBody = Args({ password: Type.String(), is_admin: Type.Optional(Type.Boolean()) });

export const SetAdminBody = Args({ is_admin: Type.Boolean() });

/** add_project, remove_project. */
export const UserProjectBody = Args({ project: Type.String() });

export const UserList = StringMap(Type.Object({ is_admin: Type.Boolean(), projects: Type.Array(Type.String()) }));
