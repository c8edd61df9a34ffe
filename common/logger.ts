// pino JSON logs. Credentials never reach a log line: nothing logs them, and redaction catches the field
// names they would travel under if a library error carried them.

import { pino } from 'pino';

export type Logger = pino.Logger;

/** Logs to stdout, or to `destination` (a file descriptor: 2 keeps stdout for a command's own output). */
export function createLogger(level: string, base: Record<string, unknown> = {}, destination?: number): Logger {
  const options: pino.LoggerOptions = {
    level,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'config.password', 'secretAccessKey', '*.secretAccessKey', 'connectionString'],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination === undefined ? pino(options) : pino(options, pino.destination(destination));
}
