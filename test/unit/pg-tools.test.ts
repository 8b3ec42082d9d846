import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { findPgTool, libpqEnvironment, majorOfVersionLine } from '../../src/db/pg-dump';

/** Which pg_dump `wharf backup` runs, its version, and the libpq environment it gets (no server needed). */

let work: string;
const program = (file: string) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '#!/bin/sh\n');
  chmodSync(file, 0o755);
};

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'wharf-pg-tools-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('findPgTool', () => {
  it('takes the newest Debian client folder, then PATH; beside a configured pg_dump only that folder', () => {
    const lib = path.join(work, 'lib');
    const bin = path.join(work, 'bin');
    program(path.join(lib, '13', 'bin', 'pg_dump'));
    program(path.join(lib, '15', 'bin', 'pg_dump'));
    program(path.join(lib, '9', 'bin', 'pg_dump'));
    mkdirSync(path.join(lib, 'not-a-version', 'bin'), { recursive: true });
    program(path.join(bin, 'pg_dump'));
    program(path.join(bin, 'pg_restore'));
    writeFileSync(path.join(lib, '13', 'bin', 'pg_restore'), 'not executable');
    expect(findPgTool('pg_dump', '', { libRoot: lib, pathEnv: bin })).toBe(path.join(lib, '15', 'bin', 'pg_dump'));
    expect(findPgTool('pg_restore', '', { libRoot: lib, pathEnv: `${path.join(work, 'none')}:${bin}` })).toBe(path.join(bin, 'pg_restore'));
    expect(findPgTool('pg_dump', '', { libRoot: path.join(work, 'no-lib'), pathEnv: '' })).toBeNull();
    expect(findPgTool('pg_dump', path.join(lib, '13', 'bin', 'pg_dump'), { libRoot: lib, pathEnv: bin })).toBe(path.join(lib, '13', 'bin', 'pg_dump'));
    expect(findPgTool('pg_restore', path.join(lib, '13', 'bin', 'pg_dump'), { libRoot: lib, pathEnv: bin })).toBeNull();
  });

  it('reads the major version from --version', () => {
    expect(majorOfVersionLine('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toBe(15);
    expect(majorOfVersionLine('pg_dump (PostgreSQL) 9.6.24')).toBe(9);
    expect(majorOfVersionLine('pg_dump 15')).toBeNull();
  });
});

describe('libpqEnvironment', () => {
  const database = (tls: object, url = 'postgres://wharf:p%3Aw%5Cd@db.example.org:5432/wharf') => resolveConfig({ database: { url, tls } }).database;

  it('hands database.tls over as node-pg reads it and the password in a 0600 passfile only', () => {
    const { env, done } = libpqEnvironment(database({ enabled: true, caFile: '/etc/wharf/ca.pem' }), { PGPASSWORD: 'inherited', PATH: '/bin' });
    try {
      expect(env).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/wharf/ca.pem', PATH: '/bin' });
      expect(env.PGPASSWORD).toBeUndefined();
      const passfile = env.PGPASSFILE!;
      expect(statMode(passfile)).toBe('600');
      expect(readText(passfile)).toBe('*:*:*:*:p\\:w\\\\d\n');
    } finally {
      done();
    }
    const unchecked = libpqEnvironment(database({ enabled: true, rejectUnauthorized: false }), {});
    unchecked.done();
    expect(unchecked.env.PGSSLMODE).toBe('require');
    expect(existsSync(path.dirname(unchecked.env.PGPASSFILE!))).toBe(false);
    const plain = libpqEnvironment(database({}, 'postgres://wharf@db.example.org/wharf'), { PGPASSWORD: 'from-the-operator' });
    expect(plain.env).toMatchObject({ PGSSLMODE: 'disable', PGPASSWORD: 'from-the-operator' });
    expect(plain.env.PGPASSFILE).toBeUndefined();
  });
});

const statMode = (file: string) => (statSync(file).mode & 0o777).toString(8);
const readText = (file: string) => readFileSync(file, 'utf8');
