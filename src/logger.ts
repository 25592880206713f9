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
  if (destination) return pino(options, destination as pino.DestinationStream);
  // stdout through an asynchronous, buffered sonic-boom: one write per few KiB instead of one per
  // line — and at least once a second, so a quiet server's lines reach whoever tails them within a
  // second instead of waiting for 4 KiB of traffic (or the shutdown), and a crash loses at most a
  // second of lines (never a request).
  const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const flusher = setInterval(() => {
    // A write in flight is left alone (sonic-boom goes on with the buffer when it ends).
    try {
      stdout.flush();
    } catch {
      clearInterval(flusher); // ended (the process is shutting down)
    }
  }, LOG_FLUSH_MS);
  flusher.unref();
  return pino(options, stdout);
}

/** The longest a log line waits in the stdout buffer. 1 s. */
const LOG_FLUSH_MS = 1000;
