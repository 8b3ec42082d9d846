import { readFileSync } from 'node:fs';
import os from 'node:os';
import syslog, { type Client } from 'syslog-client-tls';
import type { Clock } from '../clock';
import type { Config } from '../config/schema';
import type { Db } from '../db/open';
import type { Scheduled } from '../db/leadership';
import { transaction } from '../db/transaction';
import type { Log } from '../log';
import type { Metrics } from '../metrics';
import { auditRowsAfter, readAuditAfter, saveCursor, startCursor, type AuditRow } from './feed';
import { FACILITY, headerBytes, headerField, MAX_MESSAGE_BYTES, messageOf, severityOf } from './forward-message';
import { parseForwardUrl, type ForwardTarget } from './forward-target';

/** The audit cursor the forwarder keeps (shared by the instances: one of them sends). */
export const SYSLOG_CURSOR = 'syslog';

/** A syslog message as handed to the client. */
export interface SyslogMessage {
  text: string;
  msgid: string;
  severity: number;
  timestamp: Date;
}

export interface SenderOptions {
  /** One batch's writes must end in this time, or the connection is given up. */
  timeoutMs?: number;
  /**
   * TCP and TLS: how long a connection must stay up after a batch's writes before the batch
   * counts as delivered. A write into a connection the collector just closed still "succeeds"
   * locally; its close arrives in this time, and the batch is sent again on a new connection.
   */
  settleMs?: number;
}

/**
 * RFC 5424 messages to one collector through syslog-client-tls (its framing: one message per
 * line over TCP and TLS, one per datagram over UDP). One client at a time; any error drops it and
 * the next batch connects anew.
 */
export class SyslogSender {
  private client: Client | null = null;
  private broken: Error | null = null;
  private abort: ((err: Error) => void) | null = null;
  private readonly timeoutMs: number;
  private readonly settleMs: number;
  readonly hostname = headerField(os.hostname(), 255);

  constructor(
    private readonly target: ForwardTarget,
    private readonly opts: { facility: number; appName: string; caPem?: string } & SenderOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.settleMs = target.transport === 'udp' ? 0 : (opts.settleMs ?? 250);
  }

  /** The MSG budget of one message with this header. */
  budgetOf(msgid: string, severity: number, timestamp: Date): number {
    const header = headerBytes({ facility: this.opts.facility, severity, timestamp: timestamp.toISOString(), hostname: this.hostname, appName: this.opts.appName, msgid });
    return MAX_MESSAGE_BYTES - header - 1;
  }

  /** Resolves once every message was written and the connection stayed up; rejects on any failure. */
  async send(messages: readonly SyslogMessage[]): Promise<void> {
    const client = this.clientNow();
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      this.abort = reject;
      timer = setTimeout(() => reject(new Error(`no delivery within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    failed.catch(() => undefined);
    try {
      const writes = messages.map(
        (m) =>
          new Promise<void>((resolve, reject) => {
            client.log(m.text, { msgid: m.msgid, severity: m.severity, facility: this.opts.facility, timestamp: m.timestamp }, (err) => (err ? reject(err) : resolve()));
          }),
      );
      await Promise.race([Promise.all(writes), failed]);
      if (this.settleMs > 0) await Promise.race([new Promise((r) => setTimeout(r, this.settleMs)), failed]);
      if (this.broken) throw this.broken;
    } catch (err) {
      this.drop();
      throw err;
    } finally {
      clearTimeout(timer);
      this.abort = null;
    }
  }

  /** Ends the connection; a send in flight fails at once. */
  close(): void {
    this.abort?.(new Error('forwarding stopped'));
    this.drop();
  }

  private clientNow(): Client {
    if (this.client) return this.client;
    const { transport, host, port } = this.target;
    const client = syslog.createClient(host, {
      port,
      transport: transport === 'udp' ? syslog.Transport.Udp : transport === 'tcp' ? syslog.Transport.Tcp : syslog.Transport.Tls,
      rfc3164: false,
      syslogHostname: this.hostname,
      appName: this.opts.appName,
      facility: this.opts.facility,
      tlsCA: this.opts.caPem,
    });
    // The library emits `error` for a refused connect, a reset and the collector's close alike.
    const lost = (err: Error) => {
      if (this.client !== client) return;
      this.broken = err;
      this.abort?.(err);
    };
    client.on('error', lost);
    client.on('close', () => lost(new Error('connection closed')));
    this.client = client;
    this.broken = null;
    return client;
  }

  private drop(): void {
    const client = this.client;
    this.client = null;
    this.broken = null;
    try {
      client?.close();
    } catch {
      // already gone
    }
  }
}

export interface ForwarderDeps {
  db: Db;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  config: Config['audit']['forward'];
}

export interface ForwarderOptions extends SenderOptions {
  batchSize?: number;
  /** Wait between reads while nothing is new. */
  idleMs?: number;
  /** After a failure: wait backoffMinMs, doubling up to backoffMaxMs, until a batch goes through. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

/** The CA file of a tls:// target, read once at start; a missing file stops the start with its name. */
export function forwardCaOf(config: Config['audit']['forward']): string | undefined {
  if (config.caFile === '') return undefined;
  try {
    return readFileSync(config.caFile, 'utf8');
  } catch (err) {
    throw new Error(`audit.forward.caFile: cannot read ${config.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Sends every audit row, in commit order, to the syslog collector of audit.forward.url. It works
 * from the audit cursor `syslog` (its first start begins at the newest row: history is not
 * replayed) and saves the cursor after each batch was written, so a row is sent again after a
 * failure but never skipped. A collector that is down or refuses only delays forwarding: the
 * cursor stays, the forwarder backs off and resends from there. Run on the elected instance only
 * (leadership.schedule), so two instances never both send.
 */
export class AuditForwarder {
  private readonly target: ForwardTarget;
  private readonly caPem: string | undefined;
  private readonly opts: Required<Omit<ForwarderOptions, keyof SenderOptions>> & SenderOptions;

  constructor(
    private readonly deps: ForwarderDeps,
    opts: ForwarderOptions = {},
  ) {
    const target = parseForwardUrl(deps.config.url);
    if (typeof target === 'string') throw new Error(`audit.forward.url: ${target}`);
    this.target = target;
    this.caPem = target.transport === 'tls' ? forwardCaOf(deps.config) : undefined;
    this.opts = { batchSize: 200, idleMs: 1000, backoffMinMs: 1000, backoffMaxMs: 60_000, ...opts };
  }

  /** What leadership.schedule starts: the forwarding loop, until stop(). */
  scheduler(): Scheduled {
    const { log, metrics } = this.deps;
    const sender = new SyslogSender(this.target, {
      facility: FACILITY[this.deps.config.facility],
      appName: this.deps.config.appName,
      caPem: this.caPem,
      timeoutMs: this.opts.timeoutMs,
      settleMs: this.opts.settleMs,
    });
    let stopped = false;
    let wake: (() => void) | null = null;
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = null;
          resolve();
        }
        wake = done;
      });
    const running = this.run(sender, () => stopped, sleep).catch((err: Error) => log.error({ err: err.message }, 'audit forwarding ended'));
    log.info({ target: `${this.target.transport}://${this.target.host}:${this.target.port}` }, 'audit forwarding to syslog');
    return {
      async stop() {
        stopped = true;
        sender.close();
        (wake as (() => void) | null)?.();
        await running;
        sender.close();
        metrics.auditForwardLagRows.set(0);
        metrics.auditForwardLagSeconds.set(0);
      },
    };
  }

  private async run(sender: SyslogSender, stopped: () => boolean, sleep: (ms: number) => Promise<void>): Promise<void> {
    const { db, clock, log, metrics } = this.deps;
    let position: number | null = null;
    let backoff = this.opts.backoffMinMs;
    let failing = false;
    const failed = async (err: Error, kind: 'collector' | 'database') => {
      metrics.auditForwardErrors.inc({ kind });
      if (!failing) log.warn({ err: err.message, kind }, 'audit forwarding failed; retrying with backoff, the cursor stays');
      failing = true;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, this.opts.backoffMaxMs);
    };
    while (!stopped()) {
      let rows: AuditRow[];
      try {
        position ??= await startCursor(db, SYSLOG_CURSOR, clock.now());
        rows = await readAuditAfter(db, position, this.opts.batchSize);
        await this.noteLag(position, rows);
      } catch (err) {
        if (stopped()) return;
        await failed(err as Error, 'database');
        continue;
      }
      if (rows.length === 0) {
        await sleep(this.opts.idleMs);
        continue;
      }
      try {
        await sender.send(rows.map((row) => this.messageFor(sender, row)));
      } catch (err) {
        if (stopped()) return;
        await failed(err as Error, 'collector');
        continue;
      }
      const last = rows[rows.length - 1]!.id;
      metrics.auditForwardSent.inc(rows.length);
      try {
        await transaction(db, (tx) => saveCursor(tx, SYSLOG_CURSOR, last, clock.now()));
      } catch (err) {
        // Sent but not saved: those rows go again (at least once).
        if (stopped()) return;
        await failed(err as Error, 'database');
        continue;
      }
      position = last;
      if (failing) log.info({ position }, 'audit forwarding resumed');
      failing = false;
      backoff = this.opts.backoffMinMs;
    }
  }

  private messageFor(sender: SyslogSender, row: AuditRow): SyslogMessage {
    const parsed = new Date(row.time);
    const timestamp = Number.isNaN(parsed.getTime()) ? new Date(this.deps.clock.now()) : parsed;
    const msgid = headerField(row.action, 32);
    const severity = severityOf(row);
    return { text: messageOf(row, sender.budgetOf(msgid, severity, timestamp)), msgid, severity, timestamp };
  }

  /** Rows after the cursor, and the age of the oldest of them (0 when none). */
  private async noteLag(position: number, rows: AuditRow[]): Promise<void> {
    const { metrics, clock, db } = this.deps;
    const behind = rows.length < this.opts.batchSize ? rows.length : await auditRowsAfter(db, position);
    metrics.auditForwardLagRows.set(behind);
    const oldest = rows[0] ? Date.parse(rows[0].time) : NaN;
    metrics.auditForwardLagSeconds.set(Number.isNaN(oldest) ? 0 : Math.max(0, (clock.now() - oldest) / 1000));
  }
}
