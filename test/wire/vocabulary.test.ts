/**
 * Value lists the wire contract shares with layers that may not import it:
 * a networking action's status and type are the journal's, stored as they
 * are shown (and fixed by migration 0001's check constraints); an image's
 * parts are the registry's. Each side keeps its list; these must agree.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as store from '../../src/store/schema.ts';
import * as images from '../../src/images/image-rules.ts';
import { ACTION_STATUSES, ACTION_TYPES } from '../../src/wire/networking.ts';
import { IMAGE_PARTS } from '../../src/wire/images.ts';

/** `true` only when A and B are the same union: the constants below fail `npm run typecheck` when they differ. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const statusTypesAgree: Same<(typeof ACTION_STATUSES)[number], store.ActionStatus> = true;
const actionTypesAgree: Same<(typeof ACTION_TYPES)[number], store.ActionType> = true;
const partTypesAgree: Same<(typeof IMAGE_PARTS)[number], images.ImagePart> = true;

describe('the wire and the layers below it agree on', () => {
  it('the statuses and types of networking actions', () => {
    assert.ok(statusTypesAgree && actionTypesAgree);
    assert.deepEqual([...ACTION_STATUSES], [...store.ACTION_STATUSES]);
    assert.deepEqual([...ACTION_TYPES], [...store.ACTION_TYPES]);
  });

  it('the parts of an image', () => {
    assert.ok(partTypesAgree);
    assert.deepEqual([...IMAGE_PARTS], [...images.IMAGE_PARTS]);
  });
});
