import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS, findPans, rawCard } from './support/cards.ts';
import { call, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, startReceiver, type CofMerchant } from './support/cof.ts';

/** The value of one sample of the scrape, or undefined. `labels` must match exactly, in the exposition's order. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function scrape(t: Instance): Promise<string> {
  const res = await call(t, undefined, 'GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  return res.text;
}

for (const engine of ENGINES) {
  describe(`GET /metrics on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;
    let psp: CofMerchant;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let temporaryToken = '';

    before(async () => {
      t = await startInstance(engine);
      m = await createMerchant(t);
      receiver = await startReceiver([503]);
      psp = await createCofMerchant(t, { notificationUrl: receiver.url });

      const temp = await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard() });
      assert.equal(temp.status, 201, temp.text);
      temporaryToken = temp.body.token;
      assert.equal((await call(t, m.jwt, 'GET', `/api/tokens/${temporaryToken}`)).status, 200);
      assert.equal((await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard({ tokenization: true }) })).status, 201);
      assert.equal((await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard({ number: CARDS.declined, tokenization: true }) })).status, 402);
      const body = { merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.mastercard)), source: 'MANUAL' };
      assert.equal((await cof(t, psp, 'POST', '/cof/v1/tokens', { body })).status, 201);
      // Async: the first notification is answered 503 and retried, the second delivered.
      const asyncBody = { merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.visa)), source: 'MANUAL' };
      assert.equal((await cof(t, psp, 'POST', '/cof/v1/async-tokens', { body: asyncBody })).status, 202);
      await eventually(async () => {
        const done = await t.deps.db.kysely.selectFrom('deliveries').select('status').where('merchant_id', '=', psp.id).where('status', '=', 'delivered').executeTakeFirst();
        return done ? true : undefined;
      }, 5000, 'the retried notification');
      await eventually(async () => {
        const held = await t.deps.db.kysely.selectFrom('tokens').select('validation_status').where('validation_status', '=', 'released').executeTakeFirst();
        return held ? true : undefined;
      }, 5000, 'the validation hold to be released');
      await call(t, undefined, 'GET', '/no/such/route/4242424242424242');
    });
    after(async () => {
      await receiver.close();
      await t.close();
    });

    it('counts requests and their latency per route pattern and status, never the raw URL', async () => {
      const text = await scrape(t);
      assert.ok((sample(text, 'tessera_http_requests_total', 'method="POST",route="/api/tokens",status="201"') ?? 0) >= 2);
      assert.equal(sample(text, 'tessera_http_requests_total', 'method="POST",route="/api/tokens",status="402"'), 1);
      assert.equal(sample(text, 'tessera_http_requests_total', 'method="GET",route="/api/tokens/:token",status="200"'), 1);
      assert.equal(sample(text, 'tessera_http_requests_total', 'method="GET",route="unmatched",status="404"'), 1);
      assert.ok((sample(text, 'tessera_http_request_duration_seconds_count', 'method="POST",route="/cof/v1/tokens",status="201"') ?? 0) >= 1);
      assert.ok(text.includes('tessera_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/api/tokens",status="201"}'));
      assert.ok(!text.includes(temporaryToken), 'a token in a URL never becomes a label');
    });

    it('counts tokens by kind, validation holds by outcome and notification attempts by outcome and attempt', async () => {
      const text = await scrape(t);
      assert.equal(sample(text, 'tessera_tokens_created_total', 'kind="temporary"'), 1);
      assert.equal(sample(text, 'tessera_tokens_created_total', 'kind="permanent"'), 1);
      assert.equal(sample(text, 'tessera_tokens_created_total', 'kind="network"'), 2);
      assert.equal(sample(text, 'tessera_validation_holds_total', 'outcome="held"'), 1);
      assert.equal(sample(text, 'tessera_validation_holds_total', 'outcome="declined"'), 1);
      assert.equal(sample(text, 'tessera_validation_holds_total', 'outcome="released"'), 1);
      assert.equal(sample(text, "tessera_notification_attempts_total", 'outcome="retry",attempt="1"'), 1, text.split("\n").filter((l) => l.includes("notification") || l.includes("job_queue")).join("\n"));
      assert.equal(sample(text, 'tessera_notification_attempts_total', 'outcome="delivered",attempt="2"'), 1);
    });

    it('counts sandbox issuer calls per BIN (six digits, never a card number)', async () => {
      const text = await scrape(t);
      assert.equal(sample(text, 'tessera_sandbox_issuer_calls_total', 'bin="555555"'), 1);
      assert.equal(sample(text, 'tessera_sandbox_issuer_calls_total', 'bin="424242"'), 1);
      assert.ok(text.includes('# TYPE tessera_sandbox_issuer_throttles_total counter'));
    });

    it('reads the job queue per task on scrape and adds process metrics', async () => {
      const text = await scrape(t);
      assert.ok(text.includes('# TYPE tessera_job_queue_depth gauge'));
      assert.ok(text.includes('# TYPE tessera_job_queue_oldest_age_seconds gauge'));
      assert.match(text, /^tessera_process_cpu_user_seconds_total \d/m);
      assert.match(text, /^tessera_nodejs_eventloop_lag_seconds /m);
    });

    it('carries no card data and no secret in any label or value', async () => {
      const text = await scrape(t);
      assert.deepEqual(findPans(text), []);
      for (const secret of [m.privateKey, m.publicKey, m.jwt, m.webhookSecret, psp.privateKey, psp.webhookSecret]) assert.ok(!text.includes(secret));
      const labelValues = [...text.matchAll(/="([^"]*)"/g)].map((x) => x[1]!);
      assert.deepEqual(labelValues.filter((v) => /\d{12,}/.test(v)), [], 'no long digit run in any label');
    });
  });
}

for (const engine of ENGINES) {
  describe(`job queue metrics on ${engine} (worker stopped)`, () => {
    let t: Instance;
    before(async () => {
      t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off' });
    });
    after(async () => {
      await t.close();
    });

    it('shows the depth and the age of the oldest due job of each task', async () => {
      const m = await createMerchant(t);
      for (let i = 0; i < 2; i++) assert.equal((await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard({ tokenization: true }) })).status, 201);
      await new Promise((r) => setTimeout(r, 1100));
      const text = await scrape(t);
      assert.equal(sample(text, 'tessera_job_queue_depth', 'task="tokens.release_validation_hold"'), 2);
      assert.ok((sample(text, 'tessera_job_queue_oldest_age_seconds', 'task="tokens.release_validation_hold"') ?? 0) >= 1);
      assert.equal(await t.deps.worker.drain(), 2);
      const after = await scrape(t);
      assert.equal(sample(after, 'tessera_job_queue_depth', 'task="tokens.release_validation_hold"'), undefined, 'a task with no job left has no series');
    });
  });
}
