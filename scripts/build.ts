/**
 * `npm run build` (also run by `npm ci` through `prepare`, and before `npm start`): bundles the
 * server and the CLI into dist/ with esbuild. Dependencies are bundled too, so only the code that is
 * used is loaded; rarely used parts (web UI, certificate generation, CLI commands) become chunks
 * loaded on first use. Files read at run time (drizzle/, ui/static/, registry-config.yml) stay
 * where they are and are found from the package root (src/package-files.ts).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Packages the build leaves to node_modules: native code esbuild cannot bundle. */
export const EXTERNAL_PACKAGES = ['better-sqlite3'];

export const ENTRY_POINTS = ['src/main.ts', 'src/cli.ts'];

/** How Wharf's code is bundled for Node, here and by the bench that runs the copier as `npm start` would. */
export const NODE_BUNDLE = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL_PACKAGES,
  // Bundled CommonJS dependencies call require() for Node's own modules; ESM has no require.
  banner: { js: "import { createRequire as __wharfCreateRequire } from 'node:module'; const require = __wharfCreateRequire(import.meta.url);" },
  logLevel: 'warning',
} satisfies BuildOptions;

export async function buildDist(outdir = path.join(root, 'dist')): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  await build({ ...NODE_BUNDLE, entryPoints: ENTRY_POINTS, outdir, splitting: true });
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) await buildDist();
