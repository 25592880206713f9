import { pino, type Logger } from 'pino';

/**
 * Keys whose values never reach a log line, wherever they appear (two levels deep). Tessera does
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
  const paths = [
    ...SECRET_KEYS,
    ...SECRET_KEYS.map((k) => `*.${k}`),
    ...SECRET_KEYS.map((k) => `*.*.${k}`),
    'req.headers.authorization',
    'req.headers.cookie',
  ];
  const options = {
    level,
    base: { service: 'tessera' },
    redact: { paths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
