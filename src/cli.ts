// `wharf`: the command line (see src/cli/usage.ts). `wharf serve` runs the server like `npm start`;
// every other command works on the data directory with buildInstance and exits.
import { runCli } from './cli/run';

const code = await runCli(process.argv.slice(2));
if (code !== null) process.exit(code);
