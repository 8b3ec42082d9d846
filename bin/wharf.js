#!/usr/bin/env node
// Runs the CLI as `npm run build` (part of `npm ci`) bundled it into dist/.
await import('../dist/cli.js');
