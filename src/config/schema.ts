import { z } from 'zod';
import { databaseUrlProblem } from '../db/database-url';
import { forwardUrlProblem } from '../audit/forward-target';
import { LOOPBACK_PROXIES, parseProxyEntry } from '../http/client-address';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:8080')
  .refine((v) => {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    return port >= 0 && port <= 65535;
  }, 'port must be between 0 and 65535');

const httpUrl = z
  .string()
  .url('expected an absolute URL')
  .refine((v) => /^https?:\/\//.test(v), 'expected an http:// or https:// URL')
  .transform((v) => v.replace(/\/+$/, ''));

const tlsPair = z
  .object({
    certFile: z.string().default(''),
    keyFile: z.string().default(''),
  })
  .strict()
  .refine((t) => (t.certFile === '') === (t.keyFile === ''), 'certFile and keyFile must be set together');

const positiveInt = z.coerce.number().int().positive();

/** false, true (loopback) or a list of proxy addresses/CIDRs; from the environment `true`, `false` or `a,b`. */
const trustProxy = z
  .preprocess(
    (v) => (typeof v !== 'string' ? v : v.trim() === 'true' ? true : v.trim() === 'false' ? false : v.split(',').map((x) => x.trim()).filter(Boolean)),
    z.union([z.boolean(), z.array(z.string()).max(256)], { error: 'expected true, false or a list of proxy addresses/CIDRs' }),
  )
  .superRefine((v, ctx) => {
    const bad = Array.isArray(v) ? v.find((entry) => parseProxyEntry(entry) === null) : undefined;
    if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(bad.slice(0, 64))} is not an IP address or CIDR (e.g. 10.0.0.0/8)` });
  })
  .default(false)
  .transform((v): false | string[] => (v === true ? [...LOOPBACK_PROXIES] : v === false || v.length === 0 ? false : v));

export const configSchema = z
  .object({
    listen: hostPort.default('0.0.0.0:8080'),
    publicUrl: httpUrl.default('http://localhost:8080'),
    dataDir: z.string().min(1).default('./data'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Proxies whose X-Forwarded-For is believed for the client address (see clientAddress). */
    trustProxy,
    tls: tlsPair.prefault({}),
    admin: z
      .object({ password: z.string().default('') })
      .strict()
      .prefault({}),
    defaultProject: z
      .object({
        name: z.string().default('library'),
        public: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    token: z
      .object({
        issuer: z.string().min(1).default('wharf'),
        service: z.string().min(1).default('wharf-registry'),
        expiresIn: positiveInt.min(60).max(86400).default(900),
        algorithm: z.enum(['ES256', 'RS256']).default('ES256'),
        /** PEM key and certificate supplied by the operator; generated in dataDir when empty. */
        keyFile: z.string().default(''),
        certFile: z.string().default(''),
        refreshTokenDays: positiveInt.max(3650).default(30),
      })
      .strict()
      .refine((t) => (t.keyFile === '') === (t.certFile === ''), 'keyFile and certFile must be set together')
      .refine((t) => t.algorithm === 'ES256' || t.keyFile !== '', 'RS256 needs keyFile and certFile')
      .prefault({}),
    metrics: z
      .object({
        /** Bearer token Prometheus presents for GET /metrics; without it only system admins may read metrics. */
        token: z
          .string()
          .default('')
          .refine((v) => v === '' || v.length >= 16, 'must be empty or at least 16 characters'),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        credentialCacheSeconds: z.coerce.number().int().min(0).max(60).default(60),
        maxFailures: positiveInt.default(10),
        /** Failed logins from one client address, across all names, before that address is locked out; 0: no limit. */
        maxFailuresPerAddress: z.coerce.number().int().min(0).default(100),
        failureWindowSeconds: positiveInt.default(300),
        lockoutSeconds: positiveInt.default(300),
        sessionHours: positiveInt.max(24 * 30).default(12),
      })
      .strict()
      .prefault({}),
    registry: z
      .object({
        url: httpUrl.default('http://127.0.0.1:5000'),
        manage: z.enum(['auto', 'true', 'false']).default('auto'),
        listen: hostPort.default('0.0.0.0:5000'),
        storage: z.string().default(''),
        /** Registry binary; found on PATH as `registry` or `docker-registry` when empty. */
        binary: z.string().default(''),
        tls: tlsPair.prefault({}),
        /** PEM bundle Wharf trusts when calling the registry over HTTPS (its own certificate, or a private CA). */
        caFile: z.string().default(''),
        /** URL the registry uses to reach Wharf's notification endpoint; derived from listen when empty. */
        notifyUrl: z.string().default(''),
        /**
         * Loopback address of a plain-HTTP listener that only takes the registry's notifications,
         * used when Wharf serves TLS and notifyUrl is empty (so the registry need not trust Wharf's
         * certificate for 127.0.0.1). Empty: an ephemeral port on 127.0.0.1 while Wharf supervises
         * the registry, none otherwise.
         */
        notifyListen: z
          .union([z.literal(''), hostPort])
          .default('')
          .refine((v) => v === '' || /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):/.test(v), 'must be a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)'),
        template: z.string().default(''),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        /** Empty: SQLite in dataDir. Else postgres://user:password@host:port/database. */
        url: z
          .string()
          .default('')
          .superRefine((v, ctx) => {
            const why = v === '' ? null : databaseUrlProblem(v);
            if (why) ctx.addIssue({ code: 'custom', message: why });
          }),
        poolSize: positiveInt.max(1000).default(10),
        /** A statement running longer is cancelled by the server; 0: no limit. */
        statementTimeoutMs: z.coerce.number().int().min(0).default(30_000),
        tls: z
          .object({
            enabled: z.boolean().default(false),
            /** PEM bundle of the CA that signed the server's certificate; empty: the system's CAs. */
            caFile: z.string().default(''),
            rejectUnauthorized: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        /** pg_dump for `wharf backup` (pg_restore beside it); empty: the newest of Debian's postgresql-client, else PATH. */
        pgDump: z.string().default(''),
      })
      .strict()
      .prefault({}),
    reconcileIntervalSeconds: z.coerce.number().int().min(0).default(600),
    replication: z
      .object({
        /** Tries of a task before it fails; only network errors, 5xx and 429 are tried again. */
        maxAttempts: z.coerce.number().int().min(1).max(100).default(5),
        /** The first retry waits this long, each next one twice as long, up to retryMaxMs. */
        retryBaseMs: z.coerce.number().int().min(0).max(3_600_000).default(2_000),
        retryMaxMs: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
        /** One task (an image's copy) is stopped and tried again after this long. */
        taskTimeoutMs: z.coerce.number().int().min(1_000).default(21_600_000),
        /** One call to a registry without an answer fails (and is tried again) after this long. */
        requestTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
        /** Pushes and deletes are gathered this long before an event-triggered policy runs. */
        debounceMs: z.coerce.number().int().min(0).max(3_600_000).default(2_000),
      })
      .strict()
      .prefault({}),
    jobs: z
      .object({
        /** Most tasks (replication copies, reconciles) this instance runs at once, over every execution. */
        workers: positiveInt.default(8),
        /** How long a claimed task stays this instance's without a renewal; renewed every third of it. */
        leaseMs: z.coerce.number().int().min(300).default(30000),
        /** How often idle workers look for tasks another instance created. */
        pollMs: z.coerce.number().int().min(50).default(1000),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        /**
         * Seconds a token carrying push or delete lasts (at most token.expiresIn). Short push tokens
         * make garbage collection's wait for the read-only window short; pull tokens keep expiresIn.
         */
        pushTokenExpiresIn: z.coerce.number().int().min(10).max(86400).nullable().default(null),
        /** The registry accepts a token this many seconds past its expiry (distribution's leeway). */
        tokenLeewaySeconds: z.coerce.number().int().min(0).max(3600).default(60),
        gc: z
          .object({
            /** Longest a garbage collection may take, its wait for push tokens included; then it fails and the window is released. */
            timeoutMs: z.coerce.number().int().min(60_000).max(7 * 86400_000).default(6 * 3600_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /** Audit rows older than this many days are purged; 0 keeps them forever. */
        retentionDays: z.coerce.number().int().min(0).max(36500).default(90),
        /** Every audit row also sent to a syslog collector (RFC 5424), by one elected instance. */
        forward: z
          .object({
            /** udp://host:514, tcp://host:514 or tls://host:6514; empty: not forwarded. */
            url: z.string().default(''),
            /** PEM file of the CA that signs the collector's certificate (tls); empty: the system's CAs. */
            caFile: z.string().default(''),
            facility: z.enum(['auth', 'authpriv', 'daemon', 'user', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7']).default('local0'),
            appName: z.string().regex(/^[!-~]{1,48}$/, 'printable ASCII without spaces, at most 48 characters').default('wharf'),
          })
          .strict()
          .superRefine((v, ctx) => {
            const why = v.url === '' ? null : forwardUrlProblem(v.url);
            if (why) ctx.addIssue({ code: 'custom', path: ['url'], message: why });
            else if (v.caFile !== '' && !v.url.startsWith('tls://')) ctx.addIssue({ code: 'custom', path: ['caFile'], message: 'only used with a tls:// url' });
          })
          .prefault({}),
      })
      .strict()
      .prefault({}),
    webhooks: z
      .object({
        /** Let webhook URLs reach loopback, link-local, private and metadata addresses (checked on the address connected to). */
        allowPrivateTargets: z
          .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
          .default(false),
        /** Tries of one delivery, unless the webhook sets its own (at most 20). */
        maxAttempts: z.coerce.number().int().min(1).max(20).default(8),
        /** The first retry waits this long, each next one twice as long, up to retryMaxMs. */
        retryBaseMs: z.coerce.number().int().min(100).max(3_600_000).default(5_000),
        retryMaxMs: z.coerce.number().int().min(100).max(86_400_000).default(900_000),
        /** Wait for one endpoint's answer, unless the webhook sets its own (at most 60 s). */
        timeoutMs: z.coerce.number().int().min(100).max(60_000).default(10_000),
        /** Pulls are counted per repository and digest over windows this long, then sent as one event each. */
        pullIntervalSeconds: z.coerce.number().int().min(60).max(86_400).multipleOf(60).default(60),
        /** Deliveries older than this many days are purged. */
        deliveryRetentionDays: z.coerce.number().int().min(1).max(3650).default(30),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        /** Replaces the top-level logLevel (still read when this is not set). */
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
        /** Not yet acted on. Also write the log to this file (JSON lines), rotated by size; empty: standard output only. */
        file: z.string().default(''),
        /** Rotate the file at this many bytes, keeping maxFiles old ones. */
        maxSizeBytes: z.coerce.number().int().min(1024).max(1024 ** 4).default(50 * 1024 * 1024),
        maxFiles: z.coerce.number().int().min(1).max(1000).default(5),
        /** Not yet acted on. One line per HTTP request at info: method, path (no query secrets), status, duration, user, client address. */
        access: z
          .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
          .default(true),
      })
      .strict()
      .prefault({}),
    ldap: z
      .object({
        url: z.string().default(''),
        startTLS: z.boolean().default(false),
        caFile: z.string().default(''),
        bindDN: z.string().default(''),
        bindPassword: z.string().default(''),
        baseDN: z.string().default(''),
        userFilter: z.string().default('(uid={username})'),
        usernameAttribute: z.string().default('uid'),
        emailAttribute: z.string().default('mail'),
        groupBaseDN: z.string().default(''),
        groupFilter: z.string().default('(member={dn})'),
        groupNameAttribute: z.string().default('cn'),
        adminGroup: z.string().default(''),
        timeoutMs: positiveInt.default(5000),
        groupRefreshSeconds: positiveInt.default(300),
        /** While the directory cannot be reached, directory users keep their last known groups this long past a due refresh; then 503. Empty: groupRefreshSeconds. */
        outageGraceSeconds: z.coerce.number().int().min(0).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
