/**
 * `npm run bundle [-- OUT.tar.gz]`: the offline install. One archive, unpacked anywhere and started
 * with nothing but Node 20 on the target (no npm, no network):
 *
 *   wharf-<version>-linux-<arch>/
 *     start                  starts the server (the bundle's bin/ first on PATH, so its registry is used)
 *     wharf.service          systemd unit for /opt/wharf, data in /var/lib/wharf
 *     bin/wharf              the CLI
 *     bin/docker-registry    the registry binary of the build host (Debian's docker-registry)
 *     dist/                  the built code (scripts/build.ts), dependencies bundled in
 *     node_modules/          what the build leaves out: better-sqlite3, its native module built here
 *     config/wharf.yaml      the commented default configuration
 *     drizzle/ (sqlite/, pg/) ui/static/ registry-config.yml package.json
 *
 * The native module is the one `npm ci` built on this host, so build the bundle on the platform
 * (OS, architecture, Node major) it will run on.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDist, EXTERNAL_PACKAGES } from './build';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Files read at run time through src/package-files.ts, copied as they are. */
const PACKAGE_FILES = ['drizzle', 'ui/static', 'registry-config.yml', 'config/wharf.yaml'];

/** Installs binaries at `npm ci` only; the bundle carries what it built. */
const INSTALL_TIME_ONLY = new Set(['prebuild-install']);

/** What of a kept package the running code needs: better-sqlite3's sources and build objects stay behind. */
const PACKAGE_PARTS: Record<string, string[]> = {
  'better-sqlite3': ['package.json', 'lib', 'build/Release/better_sqlite3.node', 'LICENSE'],
};

const START_SCRIPT = `#!/bin/sh
# Starts Wharf from this folder: config/wharf.yaml and ./data unless WHARF_CONFIG / WHARF_DATA_DIR say otherwise.
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here/bin:$PATH"
export PATH
cd "$here" || exit 1
# glibc keeps freed large blocks (module sources, password hashes) in its heaps without a fixed threshold.
MALLOC_MMAP_THRESHOLD_=\${MALLOC_MMAP_THRESHOLD_:-131072}
export MALLOC_MMAP_THRESHOLD_
exec node dist/main.js "$@"
`;

const CLI_SCRIPT = `#!/bin/sh
# The wharf CLI of this bundle; run it with the server's WHARF_* variables and from the same folder.
here=$(cd "$(dirname "$0")/.." && pwd)
PATH="$here/bin:$PATH"
export PATH
exec node "$here/dist/cli.js" "$@"
`;

const SYSTEMD_UNIT = `# Wharf from the offline bundle unpacked as /opt/wharf (see the README's deployment section).
[Unit]
Description=Wharf: token service and admin plane of the Distribution registry it supervises
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=wharf
Group=wharf
WorkingDirectory=/opt/wharf
ExecStart=/opt/wharf/start
Environment=WHARF_DATA_DIR=/var/lib/wharf
StateDirectory=wharf
StateDirectoryMode=0700
# Wharf stops the registry it supervises itself on SIGTERM.
KillMode=mixed
TimeoutStopSec=30
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
`;

/** The packages the built code loads from node_modules, with what they need at run time. */
function runtimePackages(): string[] {
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dependencies?: Record<string, string> }>;
  };
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name) || INSTALL_TIME_ONLY.has(name)) return;
    const entry = lock.packages[`node_modules/${name}`];
    if (!entry) throw new Error(`${name} is not in package-lock.json`);
    seen.add(name);
    for (const dep of Object.keys(entry.dependencies ?? {})) visit(dep);
  };
  for (const name of EXTERNAL_PACKAGES) visit(name);
  return [...seen].sort();
}

function findOnPath(names: string[]): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean))
    for (const name of names) {
      const file = path.join(dir, name);
      if (existsSync(file)) return realpathSync(file);
    }
  return null;
}

function writeExecutable(file: string, content: string): void {
  writeFileSync(file, content);
  chmodSync(file, 0o755);
}

export async function makeBundle(out?: string): Promise<string> {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string; description: string; engines: unknown };
  const name = `${pkg.name}-${pkg.version}-${process.platform}-${process.arch}`;
  const archive = path.resolve(out ?? path.join(root, `${name}.tar.gz`));
  const registry = findOnPath(['docker-registry', 'registry']);
  if (!registry) throw new Error('no registry binary (docker-registry or registry) on PATH: apt-get install docker-registry');

  const staging = await mkdtemp(path.join(os.tmpdir(), 'wharf-bundle-'));
  try {
    const dir = path.join(staging, name);
    await buildDist(path.join(dir, 'dist'));
    for (const file of PACKAGE_FILES) cpSync(path.join(root, file), path.join(dir, file), { recursive: true });
    // "type": "module" makes Node read dist/*.js as ES modules; nothing else of package.json is needed.
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, description: pkg.description, private: true, type: 'module', engines: pkg.engines }, null, 2) + '\n');
    for (const dep of runtimePackages()) {
      const from = realpathSync(path.join(root, 'node_modules', dep));
      const to = path.join(dir, 'node_modules', dep);
      for (const part of PACKAGE_PARTS[dep] ?? ['.']) {
        if (!existsSync(path.join(from, part))) throw new Error(`node_modules/${dep}/${part} is missing: run npm ci first`);
        cpSync(path.join(from, part), path.join(to, part), { recursive: true });
      }
    }
    mkdirSync(path.join(dir, 'bin'));
    copyFileSync(registry, path.join(dir, 'bin', 'docker-registry'));
    chmodSync(path.join(dir, 'bin', 'docker-registry'), 0o755);
    writeExecutable(path.join(dir, 'bin', 'wharf'), CLI_SCRIPT);
    writeExecutable(path.join(dir, 'start'), START_SCRIPT);
    writeFileSync(path.join(dir, 'wharf.service'), SYSTEMD_UNIT);
    mkdirSync(path.dirname(archive), { recursive: true });
    execFileSync('tar', ['-czf', archive, '-C', staging, name]);
    return archive;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const archive = await makeBundle(process.argv[2]);
  process.stdout.write(`${archive}\n`);
}
