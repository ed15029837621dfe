import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localBackend } from '../../../src/drivers/storage/local.ts';
import { qemuIoSkipReason } from '../../support/qemu-io.ts';
import { skipUnless } from '../../support/require.ts';
import { storageContract } from '../../support/storage-contract.ts';

storageContract(
  'local',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-local-'));
    return { backend: localBackend({ dir, timeoutMs: 30_000 }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
  { skip: skipUnless(qemuIoSkipReason()) },
);
