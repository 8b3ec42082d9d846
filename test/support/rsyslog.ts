import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type ExecResult } from './exec';
import { freePort, tcpOpen } from './ports';
import { startHelper, stopOnce, waitUntilReady, type HelperProcess } from './process';
import { waitFor } from './wait';

/** One RFC 5424 message as the collector received it. */
export interface Syslog5424 {
  raw: string;
  pri: number;
  facility: number;
  severity: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgid: string;
  structuredData: string;
  msg: string;
}

/** A certificate authority and a server certificate for 127.0.0.1 it signed (PEM files). */
export interface TestTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Debian's rsyslogd as a throwaway collector on loopback: TCP (plain, or TLS through
 * rsyslog-gnutls) and UDP inputs on one port number, every message received written raw (the
 * RFC 5424 line as sent) to out.log. stop() and start() again keep the port.
 */
export interface Rsyslog {
  port: number;
  dir: string;
  /** The messages received so far, in the order written. */
  messages(): Promise<Syslog5424[]>;
  /** Waits until `match` holds for at least `n` messages; returns those. */
  waitForMessages(n: number, match?: (m: Syslog5424) => boolean, timeoutMs?: number): Promise<Syslog5424[]>;
  running(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

const LINE = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[[^\]]*\])+) ?(.*)$/;

/** Takes an RFC 5424 line apart (null when it is not one). */
export function parse5424(raw: string): Syslog5424 | null {
  const m = LINE.exec(raw);
  if (!m) return null;
  const pri = Number(m[1]);
  return { raw, pri, facility: pri >> 3, severity: pri & 7, timestamp: m[2]!, hostname: m[3]!, appName: m[4]!, procId: m[5]!, msgid: m[6]!, structuredData: m[7]!, msg: m[8]! };
}

function config(dir: string, port: number, tls?: TestTlsFiles): string {
  const tlsGlobal = tls ? ` defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="${tls.caFile}" defaultNetstreamDriverCertFile="${tls.certFile}" defaultNetstreamDriverKeyFile="${tls.keyFile}"` : '';
  const tcpModule = tls ? 'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")' : 'module(load="imtcp")';
  return [
    `global(workDirectory="${dir}" maxMessageSize="64k"${tlsGlobal})`,
    tcpModule,
    'module(load="imudp")',
    `input(type="imtcp" port="${port}" address="127.0.0.1")`,
    `input(type="imudp" port="${port}" address="127.0.0.1")`,
    'template(name="raw" type="string" string="%rawmsg%\\n")',
    // Only what arrived on the inputs: rsyslog's own messages stay out of the file.
    `if $inputname == "imtcp" or $inputname == "imudp" then action(type="omfile" file="${join(dir, 'out.log')}" template="raw")`,
    '',
  ].join('\n');
}


const describeResult = (what: string, r: ExecResult): string => `${what} failed (code ${r.code}): ${(r.stderr + r.stdout).trim()}`;

/** Makes a CA and a certificate for IP 127.0.0.1 it signs, in `dir`; `name` prefixes the files. */
export async function makeTestTls(dir: string, name = 'collector'): Promise<TestTlsFiles> {
  const caFile = join(dir, `${name}-ca.pem`);
  const caKey = join(dir, `${name}-ca-key.pem`);
  const certFile = join(dir, `${name}-cert.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const steps: [string, string[]][] = [
    ['CA', ['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', `/CN=${name} test CA`]],
    ['server request', ['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']],
    ['server certificate', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]],
  ];
  for (const [what, args] of steps) {
    const r = await run('openssl', args, { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(describeResult(`openssl (${what})`, r));
  }
  return { caFile, certFile, keyFile };
}

/** Starts rsyslogd with its own configuration on a free loopback port (TLS on TCP when `tls` is given). */
export async function startRsyslog(opts: { tls?: TestTlsFiles; port?: number } = {}): Promise<Rsyslog> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-rsyslog-'));
  const port = opts.port ?? (await freePort());
  const confFile = join(dir, 'rsyslog.conf');
  const outFile = join(dir, 'out.log');
  await writeFile(confFile, config(dir, port, opts.tls));
  let helper: HelperProcess | null = null;

  const stop = async () => {
    const h = helper;
    helper = null;
    await h?.stop(5000);
  };
  const start = async () => {
    if (helper) return;
    await rm(join(dir, 'pid'), { force: true });
    const h = startHelper('rsyslogd', ['-n', '-f', confFile, '-i', join(dir, 'pid')]);
    helper = h;
    await waitUntilReady(h, {
      name: 'rsyslogd',
      where: `127.0.0.1:${port}`,
      timeoutMs: 15_000,
      intervalMs: 100,
      probe: async () => ((await tcpOpen(port)) ? true : 'port closed'),
      cleanUp: stop,
    });
  };
  const messages = async () => {
    const text = await readFile(outFile, 'utf8').catch(() => '');
    return text
      .split('\n')
      .map((line) => parse5424(line))
      .filter((m): m is Syslog5424 => m !== null);
  };

  await start();
  return {
    port,
    dir,
    messages,
    async waitForMessages(n, match = () => true, timeoutMs = 20_000) {
      return waitFor<Syslog5424[] | null>(
        async () => {
          const got = (await messages()).filter(match);
          return got.length >= n ? got : null;
        },
        timeoutMs,
        `${n} syslog message(s) at rsyslog`,
      ) as Promise<Syslog5424[]>;
    },
    running: () => helper !== null,
    start,
    stop,
    dispose: stopOnce(async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    }),
  };
}
