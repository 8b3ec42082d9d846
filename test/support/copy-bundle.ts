import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { NODE_BUNDLE } from '../../scripts/build';
import { START_COMMANDS } from '../bench/startup';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * copy-process.ts bundled as `npm run build` bundles Wharf, and the command and environment
 * `npm start` runs it with: its memory is then the server's, not tsx's (whose loader alone holds
 * some 50 MB). Append the job's JSON to `argv`.
 */
export async function bundleCopyProcess(dir: string): Promise<{ argv: string[]; env: Record<string, string> }> {
  const outfile = path.join(dir, 'copy-process.mjs');
  await build({ ...NODE_BUNDLE, entryPoints: [path.join(repoRoot, 'test/support/copy-process.ts')], outfile });
  return { argv: [process.execPath, outfile], env: START_COMMANDS[0]!.env ?? {} };
}
