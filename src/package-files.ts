import { fileURLToPath } from 'node:url';
import path from 'node:path';

// This module sits one folder below the package root both as src/package-files.ts and bundled into dist/.
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * A file that ships beside the code (migrations, the registry config template, static assets),
 * found from the package root, so `tsx src/...` and the built `dist/` read the same files.
 */
export function packageFile(...segments: string[]): string {
  return path.join(packageRoot, ...segments);
}
