/** Structured JSON logs (pino). Secrets are redacted wherever they might appear. */
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  '*.password',
  'admin_token',
  '*.admin_token',
  'token',
  '*.token',
  'req.headers.authorization',
  'headers.authorization',
  'obm_params',
  '*.obm_params',
  'params.password',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '<<CENSORED>>' }, base: { service: 'hil' } }, destination);
}
