import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactEncrypt, compactDecrypt, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { call, type Instance } from './harness.ts';

/** A `/cof/v1` merchant: credentials plus what a PSP keeps (its webhook secret, its RSA key pair). */
export interface CofMerchant {
  id: string;
  privateKey: string;
  webhookSecret: string;
  auth: string;
}

export async function createCofMerchant(t: Instance, opts: { name?: string; notificationUrl?: string } = {}): Promise<CofMerchant> {
  const m = await t.deps.services.merchants.create({ name: opts.name ?? 'PSP', notificationUrl: opts.notificationUrl });
  return { id: m.id, privateKey: m.privateKey, webhookSecret: m.webhookSecret, auth: `APIKEY ${m.privateKey}` };
}

/** One `/cof/v1` (or `/sandbox/v1`) call with APIKEY auth and an `x-correlation-id` (unless `correlationId: null`). */
export async function cof(
  t: Instance,
  m: CofMerchant | undefined,
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH',
  url: string,
  opts: { body?: unknown; correlationId?: string | null; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.correlationId !== null) headers['x-correlation-id'] = opts.correlationId ?? `corr-${randomUUID().slice(0, 8)}`;
  return call(t, m?.auth, method, url, { body: opts.body, headers });
}

/** Encrypts a payload to Tessera's published key, as a PSP would (header overrides for bad-input tests). */
export async function encryptToTessera(t: Instance, payload: unknown, header: Record<string, unknown> = {}): Promise<string> {
  const keys = await call(t, undefined, 'GET', '/cof/v1/keys');
  const jwk = keys.body.keys[0] as JWK;
  const alg = typeof header.alg === 'string' ? header.alg : 'RSA-OAEP-256';
  const key = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid!, ...header } as never)
    .encrypt(key);
}

/** A card payload for `encryptedData`. */
export function cardPayload(fpan: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { fpan, exp: '1234', name: 'Ada Lovelace', cvv: fpan.startsWith('3') ? '1234' : '123', accountId: 'acct-1', ...extra };
}

/** A merchant RSA key pair: registers the public half, decrypts transaction credentials with the private. */
export async function merchantKeyPair(kid = 'psp-key-1') {
  const { publicKey, privateKey } = await generateKeyPair('RSA-OAEP-256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'enc', alg: 'RSA-OAEP-256' };
  return {
    jwks: { keys: [jwk] },
    async decrypt(jwe: string): Promise<Record<string, string>> {
      const { plaintext, protectedHeader } = await compactDecrypt(jwe, privateKey);
      if (protectedHeader.kid !== kid) throw new Error('encrypted to the wrong kid');
      return JSON.parse(new TextDecoder().decode(plaintext)) as Record<string, string>;
    },
  };
}

export interface Received {
  /** The request path (issuer notifications go under their own paths). */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  at: number;
}

/**
 * A merchant's notification endpoint on 127.0.0.1: records every request and answers with the
 * next scripted status (then 200). `respond` can be replaced at any time.
 */
export async function startReceiver(script: number[] = []) {
  const received: Received[] = [];
  const plan = [...script];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ url: req.url ?? '', headers: req.headers, body, json: JSON.parse(body), at: Date.now() });
      const status = plan.length > 0 ? plan.shift()! : 200;
      if (status === 429) res.setHeader('retry-after', '0');
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/notifications`,
    received,
    plan,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Verifies a Standard Webhooks signature with the merchant's `whsec_` secret. */
export function verifySignature(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
  return String(headers['webhook-signature']).split(' ').includes(`v1,${expected}`);
}
