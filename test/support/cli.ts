import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `wharf` as an operator runs it: `tsx src/cli.ts …` from the checkout, with only the WHARF_* variables given. */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WHARF_'))) as Record<string, string>;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one `wharf` command to its end with `input` on stdin. */
export function runWharf(args: string[], env: Record<string, string>, input = ''): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, ['src/cli.ts', ...args], { cwd: ROOT, env: { ...baseEnv, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * Starts `wharf serve`, which keeps running; the caller stops it. Node loads tsx itself, so the
 * child is the server and a SIGKILL kills it (the `tsx` command would leave its own child behind).
 */
export const spawnWharfServe = (env: Record<string, string>) =>
  spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], { cwd: ROOT, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * Builds Wharf as `npm run build` does, into a folder of its own one level below the checkout (so
 * the bundle finds the migrations and assets as dist/ does), and starts it as `npm start` starts
 * dist/main.js (its environment, no tsx): for figures of the server as operators run it.
 */
export async function buildServer(): Promise<{ start(env: Record<string, string>): ReturnType<typeof spawn>; remove(): Promise<void> }> {
  const [{ buildDist }, { START_COMMANDS }, { rm }] = await Promise.all([import('../../scripts/build'), import('../bench/startup'), import('node:fs/promises')]);
  const outdir = path.join(ROOT, `.test-dist-${process.pid}`);
  await buildDist(outdir);
  const startEnv = START_COMMANDS[0]!.env ?? {};
  return {
    start: (env) => spawn(process.execPath, [path.join(outdir, 'main.js')], { cwd: ROOT, env: { ...baseEnv, ...startEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
    remove: () => rm(outdir, { recursive: true, force: true }),
  };
}

