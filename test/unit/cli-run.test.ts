import { describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/run';

describe('wharf command names', () => {
  it('refuses an unknown command, including names every object has, with exit 2 and one line', async () => {
    const io = { out: vi.fn() };
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      for (const name of ['nope', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
        expect(await runCli([name], io)).toBe(2);
        expect(String(stderr.mock.calls.at(-1)?.[0])).toBe(`wharf: unknown command "${name}": wharf serve|user|import-htpasswd|backup|restore|migrate-db|reconcile|gc|signing-key|notification-secret (see wharf --help)\n`);
      }
      expect(io.out).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
    }
  });
});
