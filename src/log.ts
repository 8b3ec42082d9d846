import pino, { type Logger } from 'pino';

export type Log = Logger;

/** The level in force: `log.level`, else the older top-level `logLevel`. */
export const logLevelOf = (config: { logLevel: string; log: { level?: string } }): string => config.log.level ?? config.logLevel;

/** Structured JSON logs; anything that looks like a credential is redacted before it is written. */
export function createLog(level: string, destination?: pino.DestinationStream): Log {
  return pino(
    {
      level,
      base: { service: 'wharf' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['password', 'secret', 'token', '*.password', '*.secret', '*.token', 'req.headers.authorization', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
