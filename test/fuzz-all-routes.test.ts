import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { routeTable, type RouteEntry } from '../src/http/route-table.ts';
import { CARDS, TEST_PANS } from './support/cards.ts';
import { closeAndScan, ENGINES, startInstance, type Instance } from './support/harness.ts';
import { cardPayload, encryptToTessera, startReceiver } from './support/cof.ts';
import { assertion, encryptForTessera, JWT_BEARER } from './support/issuer.ts';
import { issuerTenant, merchantTenant, type IssuerTenant, type MerchantTenant } from './support/tenants.ts';
import { fillPattern, paramNames } from './support/routes.ts';

/**
 * Property-based fuzzing of every route of every face, enumerated from the app's own route table
 * (src/http/route-table.ts): wrong types, huge strings, unicode, deep JSON, forged JWE/JWT, header
 * and path abuse, with and without valid credentials. Every answer: no 5xx, no test PAN, no stack
 * trace, and errors in the face's envelope. `TESSERA_FUZZ_SEED` replays a run;
 * `TESSERA_FUZZ_RUNS` sets the requests per engine (default 5,200: ≥ 10,000 over both engines).
 */
const SEED = Number(process.env.TESSERA_FUZZ_SEED ?? randomInt(2 ** 31));
const RUNS = Number(process.env.TESSERA_FUZZ_RUNS ?? 5200);
/** Every route gets at least this many generated requests, or the test fails. */
const MIN_PER_ROUTE = 20;

const b64u = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** The same claims under forged headers: alg none, HS/RS confusion, a wrong kid, a bad signature, truncated. */
function forgeries(jwt: string): string[] {
  const [, payload, signature] = jwt.split('.');
  return [
    `${b64u({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    `${b64u({ alg: 'RS256', typ: 'JWT' })}.${payload}.${signature}`,
    `${b64u({ alg: 'HS256', typ: 'JWT', kid: 'someone-else' })}.${payload}.${signature}`,
    `${b64u({ alg: 'HS256', typ: 'JWT' })}.${payload}.${b64u('forged-signature-bytes-0123456789')}`,
    jwt.slice(0, Math.floor(jwt.length / 2)),
    `${jwt}.extra`,
    `${b64u({ alg: 'HS256' })}.${b64u({ sub: CARDS.visa, exp: 9999999999 })}.${signature}`,
  ];
}

/** Every property name in every route's body schema: the fuzzer puts them in its objects. */
function schemaKeys(routes: readonly RouteEntry[]): string[] {
  const keys = new Set<string>();
  const walk = (s: unknown, depth: number) => {
    if (!s || typeof s !== 'object' || depth > 6) return;
    const props = (s as { properties?: Record<string, unknown> }).properties;
    if (props) for (const [k, v] of Object.entries(props)) { keys.add(k); walk(v, depth + 1); }
    for (const k of ['items', 'anyOf', 'oneOf', 'allOf']) {
      const v = (s as Record<string, unknown>)[k];
      if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
      else walk(v, depth + 1);
    }
  };
  for (const r of routes) walk((r.schema as { body?: unknown } | undefined)?.body, 0);
  return [...keys];
}

type Face = 'merchant' | 'cof' | 'oauth' | 'banking' | 'other';

/** The face of a request, by the same URL-prefix rule the error handler uses (src/http/errors.ts). */
function faceOf(url: string): Face {
  if (url.startsWith('/cof/') || url.startsWith('/sandbox/')) return 'cof';
  if (url.startsWith('/authz/')) return 'oauth';
  if (url.startsWith('/banking/')) return 'banking';
  if (url.startsWith('/api/')) return 'merchant';
  return 'other';
}

/**
 * The HTML faces (operator dashboard, hosted fields, payer page, API docs) answer errors with pages, by
 * design: there the no-5xx, no-PAN and no-stack checks apply, the JSON envelope does not — for their
 * HTML answers (a JSON answer of theirs must still be an envelope).
 */
const HTML_PREFIXES = ['/dashboard', '/elements', '/docs', '/pay/'];

function checkEnvelope(url: string, status: number, headers: Record<string, unknown>, text: string): string | undefined {
  if (HTML_PREFIXES.some((p) => url.startsWith(p)) && String(headers['content-type'] ?? '').startsWith('text/html')) return undefined;
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return 'error body is not JSON';
  }
  const keys = Object.keys(body ?? {}).sort().join(',');
  switch (faceOf(url)) {
    case 'cof':
      return keys === 'errorCode,message' && typeof body.errorCode === 'string' && typeof body.message === 'string' ? undefined : `not {errorCode, message}: ${keys}`;
    case 'oauth':
      return keys === 'error,error_description' && typeof body.error === 'string' ? undefined : `not {error, error_description}: ${keys}`;
    case 'banking':
      return keys === 'errorCode,errorDescription,field,requestId' && /^req_/.test(body.requestId) ? undefined : `not {errorCode, errorDescription, field, requestId}: ${keys}`;
    default:
      return ['code,message,param,request_id', 'code,decline_code,message,param,request_id'].includes(keys) && /^req_/.test(body.request_id) ? undefined : `not {code, message, param, request_id}: ${keys}`;
  }
}

const STACK = /(\bat [^\n]*:\d+:\d+)|(\.ts:\d+)|(node:internal)|(\bError: )/;

interface Pools {
  merchantAuth: (string | undefined)[];
  cofAuth: (string | undefined)[];
  bankingAuth: (string | undefined)[];
  assertions: string[];
  jwes: string[];
  ids: string[];
  keys: string[];
  /** A valid body per route pattern: the fuzzer mutates one field of it, so requests get past validation. */
  templates: Record<string, Record<string, unknown>>;
  /** The tenant's own id for parameter `name` of route `url`, so authenticated requests reach real rows. */
  ownId: (url: string, name: string) => string | undefined;
}

/** Values with some meaning somewhere: real ids, forged JWEs, test PANs, and plain garbage. */
function valueArb(pools: Pools): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(...TEST_PANS, `${CARDS.visa} `, '4242 4242 4242 4242', '12', '2034', '1234', 'MXN', 'SINGLE', 'ON_FILE', 'TOKEN', 'http://127.0.0.1:9/x', 'orders.create', -1, 0, 1e308, '__proto__'),
    fc.constantFrom(...pools.jwes),
    fc.constantFrom(...pools.ids),
    fc.nat({ max: 100_000 }).map((n) => 'x'.repeat(n)),
  );
  return fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('object'), fc.array(tie('value'), { maxLength: 4 })),
    object: fc.dictionary(fc.oneof(fc.constantFrom(...pools.keys), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 6 }),
  })).value;
}

interface Req {
  route: RouteEntry;
  params: Record<string, string>;
  query: string;
  auth: string | undefined;
  extraHeaders: Record<string, string | string[]>;
  body: { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'raw'; text: string | Buffer; type?: string | string[] };
}

function requestArb(routes: readonly RouteEntry[], pools: Pools): fc.Arbitrary<Req> {
  const value = valueArb(pools);
  const segment = fc.oneof(
    fc.constantFrom(...pools.ids),
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.constantFrom(...TEST_PANS, '..', '.', '%', '%00', ' ', 'null', 'undefined', '0', '-1', 'a'.repeat(5000), '\u0000', '\uFFFF', '😀'),
  );
  const query = fc.oneof(
    fc.constant(''),
    fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'seqNumber', 'x', 'id', 'token', 'pan'), fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(...TEST_PANS, '-1', '0', '1001', '1e9', 'NaN', 'null', '[]', 'a'.repeat(3000))), { maxKeys: 3 }).map((d) => new URLSearchParams(d).toString()),
    fc.constantFrom('limit=1&limit=2', 'cursor[a]=1', '%zz=%zz', `pan=${CARDS.visa}`, '&&&=&', 'status=paid&status=created'),
  );
  const extraHeaders = fc.oneof(
    { weight: 4, arbitrary: fc.constant({}) },
    fc.constantFrom<Record<string, string | string[]>>(
      { 'x-big': 'x'.repeat(64 * 1024) },
      { 'x-correlation-id': CARDS.visa },
      { 'x-correlation-id': 'é'.repeat(10) },
      { 'x-correlation-id': 'c'.repeat(37) },
      { 'x-correlation-id': '' },
      { 'idempotency-key': CARDS.visa },
      { 'idempotency-key': 'k'.repeat(300) },
      { 'idempotency-key': '\u0001\u0002' },
      { 'idempotency-key': 'fuzz-key-1' },
      { accept: 'text/html;q=0.1, */*;q=zz' },
      { 'x-forwarded-for': '999.999.999.999, <script>' },
      { 'content-encoding': 'gzip' },
      { 'transfer-encoding': 'chunked' },
      { 'content-length': '99999999' },
      { 'x-request-id': CARDS.visa },
      { authorization2: 'x' },
    ),
  );
  const body = fc.oneof(
    { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 6, arbitrary: value.map((v) => ({ kind: 'json' as const, value: v })) },
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.nat({ max: 20_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
        fc.nat({ max: 20_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
        fc.constantFrom('{', '{"number":', `{"number":"${CARDS.visa}",`, 'null', '[]', '""', '1e999', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}}}', `number=${CARDS.visa}&cvc=123`, '\u0000', '\ufeff{}'),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.nat({ max: 200_000 }).map((n) => JSON.stringify({ name: 'n'.repeat(n) })),
      ).map((text) => ({ kind: 'raw' as const, text })),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        text: fc.oneof(fc.constant(`{"number":"${CARDS.visa}"}`), fc.string({ maxLength: 50 }), fc.constant(Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28]) as string | Buffer)),
        type: fc.constantFrom<string | string[]>('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/jsonx', 'application/json;;;', '', ['application/json', 'text/plain'], ['application/json', 'application/json'], 'APPLICATION/JSON', 'application/*'),
      }).map((r) => ({ kind: 'raw' as const, ...r })),
    },
  );
  // Uniform over routes (fast-check biases towards the first values otherwise, and routes registered last got too few).
  return fc.noBias(fc.constantFrom(...routes)).chain((route) => {
    const face = faceOf(route.url);
    const auth = face === 'cof' ? pools.cofAuth : face === 'banking' ? pools.bankingAuth : pools.merchantAuth;
    const names = paramNames(route.url);
    const oauthBody = route.url.startsWith('/authz/')
      ? fc.record({ grant: fc.constantFrom(JWT_BEARER, 'client_credentials', '', CARDS.visa), assertion: fc.oneof(fc.constantFrom(...pools.assertions), fc.string()) }).map((f) => ({
          kind: 'raw' as const,
          text: new URLSearchParams({ grant_type: f.grant, assertion: f.assertion }).toString(),
          type: 'application/x-www-form-urlencoded',
        }))
      : body;
    const template = pools.templates[route.url];
    const mutated = template
      ? fc.tuple(fc.oneof(fc.constantFrom(...Object.keys(template)), fc.constantFrom(...pools.keys)), fc.option(value, { nil: undefined, freq: 4 }), fc.boolean()).map(([k, v, keep]) => {
          const b: Record<string, unknown> = { ...template };
          if (!keep) {
            if (v === undefined) delete b[k];
            else b[k] = v;
          }
          return { kind: 'json' as const, value: b };
        })
      : body;
    return fc.record({
      route: fc.constant(route),
      params: fc.tuple(...names.map((n) => { const own = pools.ownId(route.url, n); return own ? fc.oneof({ weight: 2, arbitrary: fc.constant(own) }, { weight: 1, arbitrary: segment }) : segment; })).map((vals) => Object.fromEntries(names.map((n, i) => [n, String(vals[i])]))),
      query,
      auth: fc.constantFrom(...auth),
      extraHeaders,
      body: fc.oneof(oauthBody, body, mutated, mutated),
    });
  });
}

async function pools(t: Instance, a: MerchantTenant, ia: IssuerTenant): Promise<Pools> {
  const routes = routeTable(t.app);
  const jwes = [
    await encryptToTessera(t, cardPayload(CARDS.visa)),
    await encryptToTessera(t, cardPayload(CARDS.amex, { email: 'a@b.c' })),
    await encryptToTessera(t, { records: [{ rowId: 'f1', fpan: CARDS.visa, exp: '1234' }] }),
    await encryptToTessera(t, { token: a.permanentToken }),
    await encryptToTessera(t, 'not json'),
    await encryptToTessera(t, cardPayload(CARDS.visa), { kid: 'wrong-kid' }),
    await encryptToTessera(t, cardPayload(CARDS.visa), { zip: 'DEF' }),
    await encryptForTessera(t, { pan: CARDS.mastercard, exp: '1230' }),
    await encryptForTessera(t, { pan: CARDS.mastercard, exp: '1230' }, { kid: 'nope' }),
    `${b64u({ alg: 'none', enc: 'A256GCM' })}....`,
    `${b64u({ alg: 'dir', enc: 'A256GCM', kid: 'x' })}..${b64u('iv')}.${b64u('ct')}.${b64u('tag')}`,
    'a.b.c.d.e',
  ];
  jwes.push(jwes[0]!.slice(0, 200), jwes[0]!.replace(/\.[^.]+$/, '.AAAA'));
  const issuerToken = ia.issuer.token;
  return {
    // About half the requests carry valid credentials (repeated entries), so the handlers behind auth get fuzzed too.
    merchantAuth: [
      ...Array<string>(16).fill(a.m.jwt),
      `Bearer ${a.m.jwt}`,
      undefined,
      ...forgeries(a.m.jwt),
      `Basic ${Buffer.from(`${a.m.publicKey}:${a.m.privateKey}`).toString('base64')}`,
      `Basic ${Buffer.from(`${a.m.publicKey}:wrong`).toString('base64')}`,
      `Basic ${Buffer.from(`${CARDS.visa}:${CARDS.visa}`).toString('base64')}`,
      'Basic !!!',
      `APIKEY ${a.m.privateKey}`,
      `Bearer ${issuerToken}`,
      'Digest username="x"',
      'Bearer ',
      'x'.repeat(10_000),
      CARDS.visa,
      'Bearer é😀',
    ],
    cofAuth: [...Array<string>(8).fill(`APIKEY ${a.m.privateKey}`), `apikey   ${a.m.privateKey}`, undefined, 'APIKEY wrong', `APIKEY ${CARDS.visa}`, `Bearer ${a.m.jwt}`, a.m.jwt, `APIKEY ${'k'.repeat(600)}`, 'APIKEY', 'Basic Og=='],
    bankingAuth: [...Array<string>(12).fill(`Bearer ${issuerToken}`), undefined, ...forgeries(issuerToken).map((f) => `Bearer ${f}`), `Bearer ${a.m.jwt}`, `APIKEY ${a.m.privateKey}`, `Bearer ${CARDS.visa}`, 'Bearer a b'],
    assertions: [
      await assertion(ia.issuer),
      await assertion(ia.issuer, { kid: 'unknown-kid' }),
      await assertion(ia.issuer, { expiresInS: -60 }),
      await assertion(ia.issuer, { expiresInS: 3600 }),
      await assertion(ia.issuer, { claims: { aud: 'http://elsewhere' } }),
      ...forgeries(await assertion(ia.issuer)),
      // HS256 keyed by the issuer's public key: the classic RS/HS confusion.
      await new SignJWT({ jti: 'x' }).setProtectedHeader({ alg: 'HS256', kid: ia.issuer.sig.kid }).setIssuer(ia.issuer.issuerId).setExpirationTime('5m').sign(new TextEncoder().encode(JSON.stringify(ia.issuer.sig.jwk))),
    ],
    jwes,
    ids: [a.customerId, a.cardId, a.permanentToken, a.temporaryToken, a.orderId, a.webhookId, a.deliveryId, a.cm.id, a.networkTokenId, a.requestId, a.batchId, ia.issuer.issuerId, ia.cardId, ia.consumerId, ia.tokenId, ia.operationId, ia.batchId],
    keys: schemaKeys(routes),
    ownId: (url, name) => {
      const banking = url.startsWith('/banking/');
      const cof = url.startsWith('/cof/');
      const byName: Record<string, string | undefined> = {
        id: url.startsWith('/api/customers') ? a.customerId : url.startsWith('/api/webhooks') ? a.webhookId : a.orderId,
        cardId: banking ? ia.cardId : a.cardId,
        token: a.permanentToken,
        deliveryId: a.deliveryId,
        merchantId: a.cm.id,
        tokenId: banking ? ia.tokenId : a.networkTokenId,
        requestId: a.requestId,
        batchId: cof ? a.batchId : ia.batchId,
        consumerId: ia.consumerId,
        operationId: ia.operationId,
        issuerId: ia.issuer.issuerId,
      };
      return byName[name];
    },
    templates: {
      '/api/tokens': { number: CARDS.visa, name: 'Ada Lovelace', exp_month: '12', exp_year: '2034', cvc: '123' },
      '/api/customers': { first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com' },
      '/api/customers/:id/cards': { number: CARDS.mastercard, name: 'Ada Lovelace', exp_month: '12', exp_year: '2034' },
      '/api/orders': { currency: 'MXN', items: [{ name: 'Coffee', quantity: 1, price: 10.5 }], token: a.permanentToken },
      '/api/orders/:id/refunds': { amount: 1 },
      '/api/webhooks': { url: 'http://127.0.0.1:9/hook', events: ['orders.create'] },
      '/cof/v1/merchants/:merchantId': { notificationUrl: 'http://127.0.0.1:9/n' },
      '/cof/v1/tokens': { merchantId: a.cm.id, encryptedData: jwes[0]!, source: 'ON_FILE' },
      '/cof/v1/async-tokens': { merchantId: a.cm.id, encryptedData: jwes[1]!, source: 'MANUAL' },
      '/cof/v1/transactions': { tokenId: a.networkTokenId, transactionType: 'SINGLE' },
      '/cof/v1/batches': { merchantId: a.cm.id, batchId: 'fuzz-batch', last: false, encryptedData: jwes[2]! },
      '/sandbox/v1/authorizations': { merchantId: a.cm.id, tokenPan: '4895370012345678', tokenExpiryDate: '1230', cryptogram: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=', amount: 1, currency: 'MXN' },
      '/sandbox/v1/issuer-events': { par: 'X'.repeat(29), event: 'lost' },
      '/banking/v1/issuers/:issuerId/consumers/:consumerId': { personalInformation: { firstName: 'Ada', lastName: 'Lovelace', email: 'a@b.c', phone: { countryCode: '52', number: '5512345678' } } },
      '/banking/v1/issuers/:issuerId/cards/:cardId': { consumerId: ia.consumerId, encryptedData: jwes[7]! },
      '/banking/v1/issuers/:issuerId/cards/:cardId/operations::clickToPayEnrolment': { reason: 'fuzz' },
    },
  };
}

/** The request fast-check generated, as light-my-request options. */
function toInject(r: Req, ids: { issuerId: string }) {
  const params = { ...r.params };
  // Half of the banking requests go to the issuer's own path, so authenticated ones reach the handlers.
  if ('issuerId' in params && params.issuerId!.length % 2 === 0) params.issuerId = ids.issuerId;
  const url = fillPattern(r.route.url, params).replace(/\*$/, params['*'] ?? 'x') + (r.query ? `?${r.query}` : '');
  const headers: Record<string, string | string[]> = { ...r.extraHeaders };
  if (r.auth !== undefined) headers.authorization = r.auth;
  if (faceOf(url) === 'cof' && !('x-correlation-id' in headers)) headers['x-correlation-id'] = 'fuzz-1';
  let payload: string | Buffer | undefined;
  if (r.body.kind === 'json') {
    payload = JSON.stringify(r.body.value) ?? 'null';
    headers['content-type'] ??= 'application/json';
  } else if (r.body.kind === 'raw') {
    payload = r.body.text;
    headers['content-type'] = r.body.type ?? 'application/json';
  }
  if (r.route.method === 'GET' || r.route.method === 'HEAD') payload = undefined;
  return { method: r.route.method as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}) };
}

for (const engine of ENGINES) {
  describe(`fuzzing every route on ${engine}`, () => {
    let t: Instance;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let a: MerchantTenant;
    let ia: IssuerTenant;
    before(async () => {
      // The fuzzer makes thousands of failed logins on purpose: keep the auth throttle out of the way.
      t = await startInstance(engine, { TESSERA_AUTH_FAILURES_MAX: '100000000' });
      receiver = await startReceiver();
      a = await merchantTenant(t, 'Fuzz', receiver.url);
      ia = await issuerTenant(t, receiver.url.replace('/notifications', ''));
    });
    after(async () => {
      await receiver.close();
      assert.deepEqual(await closeAndScan(t), [], 'no PAN in logs or database');
    });

    it('regression: a /docs URL with a query is redirected to its path alone, never echoing the query', async () => {
      for (const url of [`/docs/static/index.html?pan=${CARDS.visa}`, `/docs/?x=${CARDS.visa}`, `/docs?x=${CARDS.visa}`]) {
        const res = await t.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 302, url);
        assert.ok(!String(res.headers.location).includes('?'), `${url} → ${res.headers.location}`);
        assert.ok(!(res.body + JSON.stringify(res.headers)).includes(CARDS.visa), url);
      }
      assert.equal((await t.app.inject({ method: 'GET', url: '/docs/static/index.html' })).statusCode, 302, 'the page itself still redirects to /docs/');
    });

    it("regression: a path segment over Fastify's maxParamLength is a 400 in the face's envelope, not Fastify's 414 quoting the path", async () => {
      const long = CARDS.visa.repeat(10);
      const cases: [string, Record<string, string>, (b: any) => boolean][] = [
        [`/api/tokens/${long}`, { authorization: a.m.jwt }, (b) => b.code === 'invalid_request' && /^req_/.test(b.request_id)],
        [`/cof/v1/tokens/${long}`, { authorization: a.cm.auth, 'x-correlation-id': 'c1' }, (b) => b.errorCode === 'invalid_request' && Object.keys(b).length === 2],
        [`/banking/v1/issuers/${ia.issuer.issuerId}/tokens/${long}`, { authorization: `Bearer ${ia.issuer.token}` }, (b) => b.errorCode === 'invalid_request' && /^req_/.test(b.requestId)],
      ];
      for (const [url, headers, shape] of cases) {
        const res = await t.app.inject({ method: 'GET', url, headers });
        assert.equal(res.statusCode, 400, `${url.slice(0, 40)}: ${res.body.slice(0, 200)}`);
        assert.ok(shape(res.json()), res.body);
        assert.ok(!res.body.includes(CARDS.visa), 'the path is not quoted');
      }
    });

    it('regression: a body nested 10,000 deep is 400 invalid_json on every face, not a stack overflow (500)', async () => {
      const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000); // 60 KB: under the 64 KiB limit
      const cases: [string, string, Record<string, string>][] = [
        ['POST', `/banking/v1/issuers/${ia.issuer.issuerId}/tokens/${ia.tokenId}/suspend`, { authorization: `Bearer ${ia.issuer.token}`, 'idempotency-key': 'deep-1' }],
        ['POST', '/api/tokens', { authorization: a.m.jwt, 'idempotency-key': 'deep-2' }],
        ['POST', `/cof/v1/tokens/${a.networkTokenId}/resume`, { authorization: a.cm.auth, 'x-correlation-id': 'deep-3', 'idempotency-key': 'deep-3' }],
      ];
      for (const [method, url, headers] of cases) {
        const res = await t.app.inject({ method: method as 'POST', url, headers: { ...headers, 'content-type': 'application/json' }, payload: deep });
        assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
        assert.ok(/invalid_json/.test(res.body), res.body);
      }
      const ok = await t.app.inject({ method: 'POST', url: '/api/customers', headers: { authorization: a.m.jwt, 'content-type': 'application/json' }, payload: JSON.stringify({ first_name: 'A', last_name: 'B', email: 'a@b.co' }) });
      assert.equal(ok.statusCode, 201, 'ordinary bodies still parse');
      const poisoned = await t.app.inject({ method: 'POST', url: '/api/customers', headers: { authorization: a.m.jwt, 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1}}' });
      assert.equal(poisoned.statusCode, 400, 'prototype poisoning is still refused');
    });

    it('regression: an Idempotency-Key holding a card number is refused (400), never stored', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/api/customers', headers: { authorization: a.m.jwt, 'content-type': 'application/json', 'idempotency-key': `order-${CARDS.visa}` }, payload: JSON.stringify({ first_name: 'A', last_name: 'B', email: 'a@b.co' }) });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'invalid_idempotency_key');
      assert.ok(!res.body.includes(CARDS.visa));
    });

    it('regression: client-chosen ids holding a card number (issuer consumerId/cardId, batchId) are refused, never stored or echoed', async () => {
      const bearer = { authorization: `Bearer ${ia.issuer.token}`, 'content-type': 'application/json' };
      const consumer = await t.app.inject({ method: 'PUT', url: `/banking/v1/issuers/${ia.issuer.issuerId}/consumers/${CARDS.stolen}`, headers: bearer, payload: JSON.stringify({ personalInformation: { firstName: 'A', lastName: 'B' } }) });
      assert.equal(consumer.statusCode, 400, consumer.body);
      assert.equal(consumer.json().field, 'consumerId');
      const card = await t.app.inject({ method: 'PUT', url: `/banking/v1/issuers/${ia.issuer.issuerId}/cards/x${CARDS.visa}`, headers: bearer, payload: JSON.stringify({ consumerId: ia.consumerId, encryptedData: await encryptForTessera(t, { pan: CARDS.mastercard, exp: '1230' }) }) });
      assert.equal(card.statusCode, 400, card.body);
      assert.equal(card.json().field, 'cardId');
      const batch = await t.app.inject({ method: 'POST', url: '/cof/v1/batches', headers: { authorization: a.cm.auth, 'x-correlation-id': 'b1', 'content-type': 'application/json' }, payload: JSON.stringify({ merchantId: a.cm.id, batchId: CARDS.amex, last: true, encryptedData: await encryptToTessera(t, { records: [] }) }) });
      assert.equal(batch.statusCode, 400, batch.body);
      for (const res of [consumer, card, batch]) for (const pan of TEST_PANS) assert.ok(!res.body.includes(pan), res.body);
    });

    it('regression: NUL characters in a path parameter, a query or a body are 400, not a PostgreSQL error (500)', async () => {
      const cofHeaders = { authorization: a.cm.auth, 'x-correlation-id': 'nul-1' };
      const cases = [
        await t.app.inject({ method: 'DELETE', url: '/cof/v1/tokens/%00', headers: cofHeaders }),
        await t.app.inject({ method: 'GET', url: `/api/orders?status=%00`, headers: { authorization: a.m.jwt } }),
        await t.app.inject({ method: 'POST', url: '/api/customers', headers: { authorization: a.m.jwt, 'content-type': 'application/json' }, payload: JSON.stringify({ first_name: 'A\u0000', last_name: 'B', email: 'a@b.co' }) }),
        await t.app.inject({ method: 'PUT', url: `/banking/v1/issuers/${ia.issuer.issuerId}/consumers/c1`, headers: { authorization: `Bearer ${ia.issuer.token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ personalInformation: { firstName: 'A', lastName: 'B', ['x\u0000']: 1 } }) }),
      ];
      for (const res of cases) assert.equal(res.statusCode, 400, res.body);
    });

    it(`${RUNS} generated requests over every route: no 5xx, no PAN, no stack trace, errors in the face's envelope (seed ${SEED})`, async (ctx) => {
      ctx.diagnostic(`fast-check seed ${SEED}: replay with TESSERA_FUZZ_SEED=${SEED}`);
      const routes = routeTable(t.app).filter((r) => !r.url.includes('*') || r.url.startsWith('/docs'));
      assert.ok(routes.length >= 50, `only ${routes.length} routes in the table`);
      const hits = new Map<string, number>();
      const statuses = new Map<number, number>();
      const p = await pools(t, a, ia);
      await fc.assert(
        fc.asyncProperty(requestArb(routes, p), async (r) => {
          const opts = toInject(r, { issuerId: ia.issuer.issuerId });
          const res = await t.app.inject(opts);
          const key = `${r.route.method} ${r.route.url}`;
          hits.set(key, (hits.get(key) ?? 0) + 1);
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          const where = `${opts.method} ${opts.url.slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
          // A 5xx names what the server logged for it (log lines carry no card data: the suite scans them).
          const logged = () => t.logs.filter((l) => l.includes(String(res.headers['x-request-id'])) && l.includes('"level":50')).join('\n').slice(0, 1500);
          assert.ok(res.statusCode < 500, `5xx: ${where} headers ${JSON.stringify(opts.headers).slice(0, 300)} body ${String(opts.payload ?? '').slice(0, 300)}\nlogged: ${res.statusCode >= 500 ? logged() : ''}`);
          const everything = res.body + JSON.stringify(res.headers);
          for (const pan of TEST_PANS) assert.ok(!everything.includes(pan), `PAN echoed: ${where}`);
          assert.ok(!STACK.test(res.body), `stack trace: ${where}`);
          if (res.statusCode >= 400 && r.route.method !== 'HEAD') {
            const bad = checkEnvelope(opts.url, res.statusCode, res.headers, res.body);
            assert.equal(bad, undefined, `${bad}: ${where}`);
            if (res.statusCode === 429) assert.ok(res.headers['retry-after'], `429 without retry-after: ${where}`);
          }
        }),
        {
          seed: SEED,
          numRuns: RUNS,
          endOnFailure: true,
          // The failing request's summary and the seed, without fast-check's dump of 100 KB values.
          reporter: (out) => {
            if (out.failed) throw new Error(`fuzz failure (replay: TESSERA_FUZZ_SEED=${out.seed}, path ${out.counterexamplePath}): ${(out.errorInstance as Error | undefined)?.message ?? 'interrupted'}`);
          },
        },
      );
      ctx.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}`);
      // Every route is fuzzed: at least MIN_PER_ROUTE requests, or a third of a fair share once the app has
      // more routes than RUNS / (3 × MIN_PER_ROUTE) (a random draw, so not an exact count).
      const least = Math.min(MIN_PER_ROUTE, Math.floor(RUNS / routes.length / 3));
      const thin = routes.map((r) => `${r.method} ${r.url}`).filter((k) => (hits.get(k) ?? 0) < least);
      ctx.diagnostic(`${routes.length} routes; fewest requests on one route: ${Math.min(...routes.map((r) => hits.get(`${r.method} ${r.url}`) ?? 0))}`);
      assert.deepEqual(thin, [], `routes with fewer than ${least} generated requests`);
    });
  });
}
