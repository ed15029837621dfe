/**
 * Logs (pino): one JSON object per line for machines, or lines for people
 * (pino-pretty) when asked or when stdout is a terminal. Secrets are redacted
 * wherever they might appear, before either format sees them.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export const REDACT_PATHS = [
  'password',
  '*.password',
  'admin_token',
  '*.admin_token',
  'token',
  '*.token',
  'req.headers.authorization',
  'headers.authorization',
  // Keystone tokens, as upstream's clients send them.
  'req.headers["x-auth-token"]',
  'headers["x-auth-token"]',
  'obm_params',
  '*.obm_params',
  'params.password',
  // OAuth client secrets (a derived HIL's, the CLI's).
  'client_secret',
  '*.client_secret',
  'clientSecret',
  '*.clientSecret',
];

/** log.format: "auto" is "pretty" when stdout is a terminal, "json" otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** `destination` (a test's sink) gets JSON whatever the format; otherwise stdout gets `format`. */
export function createLogger(level: string, destination?: pino.DestinationStream, format: LogFormat = 'json'): Logger {
  const forPeople = !destination && (format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true));
  const out = forPeople ? pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname,service' }) : destination;
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '<<CENSORED>>' }, base: { service: 'hil' } }, out);
}
