/** The keystone backend's project table: /v0/auth/keystone/project/<keystone project id>. */
import { Type } from 'typebox';
import { Args, StringMap } from './common.ts';

export const KeystoneMapBody = Args({ project: Type.String() });

/** Keystone project id → HIL project label. */
export const KeystoneProjectList = StringMap(Type.String());
