/** The part of syslog-client-tls (a CommonJS package without types) that Wharf uses. */
declare module 'syslog-client-tls' {
  import type { EventEmitter } from 'node:events';

  export const Transport: { readonly Tcp: 1; readonly Udp: 2; readonly Tls: 3 };
  export const Severity: {
    readonly Emergency: 0;
    readonly Alert: 1;
    readonly Critical: 2;
    readonly Error: 3;
    readonly Warning: 4;
    readonly Notice: 5;
    readonly Informational: 6;
    readonly Debug: 7;
  };

  export interface ClientOptions {
    port?: number;
    syslogHostname?: string;
    /** 1 Tcp, 2 Udp, 3 Tls. */
    transport?: number;
    /** The facility's number (local0 is 16). */
    facility?: number;
    severity?: number;
    rfc3164?: boolean;
    appName?: string;
    /** PEM of the CAs the collector's certificate must chain to (Tls); absent: the system's. */
    tlsCA?: string | Buffer | Array<string | Buffer>;
    /** Idle time after which a TCP connection is reported as timed out. */
    tcpTimeout?: number;
    dateFormatter?: (this: Date) => string;
  }

  export interface LogOptions {
    facility?: number;
    severity?: number;
    rfc3164?: boolean;
    appName?: string;
    syslogHostname?: string;
    msgid?: string;
    timestamp?: Date;
  }

  /** Emits `error` (must be listened to) and `close`. */
  export interface Client extends EventEmitter {
    log(message: string, options: LogOptions, cb: (err?: Error) => void): this;
    close(): this;
  }

  export function createClient(target: string, options?: ClientOptions): Client;

  const syslog: { createClient: typeof createClient; Transport: typeof Transport; Severity: typeof Severity };
  export default syslog;
}
