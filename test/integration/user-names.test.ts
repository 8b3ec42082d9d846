import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalName, usernameProblem } from '../../src/identity/names';
import { startAppInstance, type AppInstance } from '../support/instance';

/** Names that would look like another or that no path can address are refused, in-process. */

let running: AppInstance;
const ADMIN = `Basic ${Buffer.from('admin:admin-password-1').toString('base64')}`;

beforeAll(async () => {
  running = await startAppInstance('wharf-names-');
});
afterAll(() => running?.stop());

const create = (username: string) =>
  running.app.request('/api/v1/users', {
    method: 'POST',
    headers: { authorization: ADMIN, 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'names-password-1' }),
  });

describe('names that look like another, or no path can address', () => {
  const refused: [string, string][] = [
    ['zero-width space', 'x\u200b'],
    ['right-to-left override', 'a\u202eevil'],
    ['byte order mark', '\ufeffadmin'],
    ['soft hyphen', 'ad\u00admin'],
    ['dot', '.'],
    ['dot dot', '..'],
    ['full-width reserved name', 'ｓｙｓｔｅｍ'],
    ['full-width robot prefix', 'ＲＯＢＯＴ＄ci'],
    ["Wharf's own registry subject", 'wharf$internal'],
    ["replication's subject, in capitals", 'WHARF$replication'],
    ['the prefix of Wharf subjects, full-width', 'ｗｈａｒｆ＄x'],
  ];
  it.each(refused)('%s: 400 and nothing created', async (_label, username) => {
    const res = await create(username);
    expect(res.status).toBe(400);
    const list = await running.app.request('/api/v1/users?pageSize=500', { headers: { authorization: ADMIN } });
    expect(((await list.json()) as { items: { username: string }[] }).items.map((u) => u.username)).not.toContain(username);
  });

  it('a full-width spelling is the same name as the plain one', async () => {
    expect((await create('kim')).status).toBe(201);
    expect((await create('ＫＩＭ')).status).toBe(409);
    expect(canonicalName('ＫＩＭ')).toBe('kim');
    expect(usernameProblem('a.b')).toBeNull();
  });
});
