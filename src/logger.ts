import { pino, type Logger } from 'pino';
import { traceLogFields } from './observability/trace-context.ts';

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
    // Lines written while a request or the job it caused is running carry its ids (`reqId`,
    // `correlationId`); Fastify's request logger already binds `reqId`, so it is not repeated there.
    mixin: (_obj: object, _level: number, logger: Logger) => {
      const fields = traceLogFields();
      if (fields.reqId && String((logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym]).includes('"reqId"')) delete fields.reqId;
      return fields;
    },
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
