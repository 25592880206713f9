import { pino, type Logger } from 'pino';

/**
 * Keys whose values never reach a log line, at the top level or one level down. Tessera does
 * not log request bodies at all; this is the second line of defence.
 */
const SECRET_KEYS = [
  'authorization',
  'number',
  'pan',
  'fpan',
  'tokenPan',
  'cvc',
  'cvv',
  'privateKey',
  'private_key',
  'webhookSecret',
  'secret',
  'password',
  'encryptedData',
  'cryptogram',
  'token',
  'key',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  // Wildcard paths are costly on every line; two levels would double it for objects Tessera never
  // logs (bodies). Top level and one level down cover every shape a log call here takes.
  const paths = [...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`), 'req.headers.authorization', 'req.headers.cookie'];
  const options = {
    level,
    base: { service: 'tessera' },
    redact: { paths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // stdout through an asynchronous, buffered sonic-boom: one write per few KiB instead of one per
  // line. `flushLogs` runs at shutdown; a crash may lose the last buffer of lines, never a request.
  return pino(options, (destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}
