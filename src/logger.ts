import { pino, type Logger } from 'pino';
import { traceLogFields } from './observability/trace-context.ts';

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
    // Lines written while a request or the job it caused is running carry its ids (`reqId`,
    // `correlationId`); Fastify's request logger already binds `reqId`, so it is not repeated there.
    mixin: (_obj: object, _level: number, logger: Logger) => {
      const fields = traceLogFields();
      if (fields.reqId && String((logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym]).includes('"reqId"')) delete fields.reqId;
      return fields;
    },
  };
  // stdout through an asynchronous, buffered sonic-boom: one write per few KiB instead of one per
  // line. The server flushes at shutdown; a crash may lose the last buffer of lines, never a request.
  return pino(options, (destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}
