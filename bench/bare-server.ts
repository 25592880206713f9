// The baseline the bench divides by: a bare `node:http` server that reads the body, parses it as
// JSON and answers 201 with a token-shaped JSON body, nothing else. It runs in its own process (as
// Tessera does) so it never shares a thread with the load generator.
//
// Env: PORT (default 0: any free port), HOST (default 127.0.0.1). Prints `{"port":N}` on stdout
// once listening; exits on SIGTERM/SIGINT.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let status = 201;
    let body: string;
    try {
      const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
      // Shaped like Tessera's temporary token (`ca_` + 17 hex), so both answers weigh the same.
      body = JSON.stringify({ token: 'ca_' + randomBytes(9).toString('hex').slice(0, 17) });
    } catch {
      status = 400;
      body = '{"code":"invalid_json"}';
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});

const port = Number(process.env.PORT ?? 0);
server.listen(port, process.env.HOST || '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected server address');
  process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
});

const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
