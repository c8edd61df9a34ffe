// pino JSON logs. Credentials never reach a log line: nothing logs them, and redaction catches the field
// names they would travel under if a library error carried them.

import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'config.password', 'secretAccessKey', '*.secretAccessKey', 'connectionString'],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
  });
}
