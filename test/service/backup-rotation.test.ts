import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { backupDataDir } from '../../src/db/backup';
import { openConfiguredDatabase } from '../../src/db/connect';
import { stageNotificationSecret } from '../../src/events/notification-secret';
import { loadRotatingSigningKey, stageSigningKey } from '../../src/token/rotation';
import { SecretBox } from '../../src/replication/sealed';
import { testDatabaseUrl } from '../support/test-database';

/** A backup taken in the middle of a key rotation holds the staged key and secret, so a restored instance can finish it. */

const work = mkdtempSync(path.join(os.tmpdir(), 'wharf-backup-rotation-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('wharf backup during a rotation', () => {
  it('copies the staged signing key and notification secret (0600) when present, and reports none missing when there is none', async () => {
    const dataDir = mkdtempSync(path.join(work, 'data-'));
    const config = resolveConfig({ dataDir, database: { url: await testDatabaseUrl(dataDir) } });
    const { files } = await loadRotatingSigningKey({ dataDir, algorithm: 'ES256', keyFile: '', certFile: '', commonName: 'wharf token signer' });
    writeFileSync(path.join(dataDir, 'notification-secret'), 'current-secret', { mode: 0o600 });
    writeFileSync(path.join(dataDir, 'registry-http-secret'), 'http-secret', { mode: 0o600 });
    SecretBox.load(dataDir);
    const database = await openConfiguredDatabase(config);
    try {
      const before = await backupDataDir(database, { dataDir, targetDir: path.join(work, 'before'), database: config.database });
      expect(before.missing).toEqual([]);
      expect(before.copied.sort()).toEqual(['notification-secret', 'registry-http-secret', 'replication.key', 'token-signing.crt', 'token-signing.key']);
      expect(readFileSync(path.join(before.dir, 'replication.key'))).toEqual(readFileSync(path.join(dataDir, 'replication.key')));
      expect(statSync(path.join(before.dir, 'replication.key')).mode & 0o777).toBe(0o600);

      await stageSigningKey(files, { algorithm: 'ES256', commonName: 'wharf token signer' });
      stageNotificationSecret(dataDir);
      const during = await backupDataDir(database, { dataDir, targetDir: path.join(work, 'during'), database: config.database });
      expect(during.missing).toEqual([]);
      expect(during.copied).toEqual(expect.arrayContaining(['token-signing.next.key', 'token-signing.next.crt', 'notification-secret.next']));
      for (const name of ['token-signing.next.key', 'token-signing.next.crt', 'notification-secret.next']) {
        const copy = path.join(during.dir, name);
        expect(readFileSync(copy)).toEqual(readFileSync(path.join(dataDir, name)));
        expect(statSync(copy).mode & 0o777).toBe(0o600);
      }
      expect(existsSync(path.join(during.dir, 'token-signing.previous.crt'))).toBe(false);
    } finally {
      await database.close();
    }
  });
});
