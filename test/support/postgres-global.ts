import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';

/**
 * vitest globalSetup: with WHARF_TEST_DATABASE=postgres the whole run shares one throw-away server
 * (each file makes its own database on it); otherwise nothing starts, so the SQLite leg and single
 * files pay no initdb.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.WHARF_TEST_DATABASE !== 'postgres') {
    project.provide('postgres', undefined);
    return undefined;
  }
  const server = await startPostgres();
  project.provide('postgres', { port: server.port, user: server.user, password: server.password, socketDir: server.socketDir });
  return () => server.stop();
}
