/**
 * Networking actions: connecting a nic to a network or detaching it queues
 * one, answered with its status_id; /v0/networking_action/<status_id> shows it.
 */
import { Type } from 'typebox';
import { Args, Nullable, StringEnum } from './common.ts';

/** The states of an action (the journal's, shown as they are stored). */
export const ACTION_STATUSES = ['PENDING', 'DONE', 'ERROR'] as const;
export const ACTION_TYPES = ['modify_port', 'revert_port'] as const;

export const ConnectNetworkBody = Args({ network: Type.String(), channel: Type.Optional(Nullable(Type.String())) });

export const DetachNetworkBody = Args({ network: Type.String() });

export const ActionView = Type.Object({
  status: StringEnum(ACTION_STATUSES),
  node: Type.String(),
  nic: Type.String(),
  type: StringEnum(ACTION_TYPES),
  channel: Type.String(),
  new_network: Nullable(Type.String()),
  error: Nullable(Type.String()),
});
