import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CARDS, rawCard } from './cards.ts';
import { call, eventually, type Instance, type MerchantCredentials } from './harness.ts';
import { cardPayload, cof, encryptToTessera, merchantKeyPair, type CofMerchant } from './cof.ts';
import { orderBody } from './orders.ts';
import { sendChunk, cardOf, BINS } from './batches.ts';
import { banking, createIssuer, registerCard, type TestIssuer } from './issuer.ts';
import { batchRecord, signedBatch } from './batch.ts';

/** Every kind of resource one merchant owns, by id (the tenant-isolation matrix and the fuzzer use them). */
export interface MerchantTenant {
  m: MerchantCredentials;
  /** The same merchant on `/cof/v1` (`APIKEY <privateKey>`). */
  cm: CofMerchant;
  customerId: string;
  cardId: string;
  temporaryToken: string;
  permanentToken: string;
  orderId: string;
  webhookId: string;
  deliveryId: string;
  networkTokenId: string;
  requestId: string;
  batchId: string;
  transactionId: string;
}

/** Every kind of resource one issuer owns. */
export interface IssuerTenant {
  issuer: TestIssuer;
  consumerId: string;
  cardId: string;
  tokenId: string;
  operationId: string;
  batchId: string;
}

/**
 * A merchant with one of everything: a customer and saved card, a temporary and a permanent token,
 * a paid order, a webhook with a delivery to `receiverUrl`, a network token (with a transaction), an
 * async token request and a one-record batch; audit records come with them.
 */
export async function merchantTenant(t: Instance, name: string, receiverUrl: string): Promise<MerchantTenant> {
  const created = await t.deps.services.merchants.create({ name, notificationUrl: receiverUrl });
  const login = await call(t, undefined, 'POST', '/api/authorizations/token', {
    headers: { authorization: 'Basic ' + Buffer.from(`${created.publicKey}:${created.privateKey}`).toString('base64') },
  });
  assert.equal(login.status, 200, login.text);
  const m: MerchantCredentials = { ...created, jwt: login.body.token };
  const cm: CofMerchant = { id: created.id, privateKey: created.privateKey, webhookSecret: created.webhookSecret, auth: `APIKEY ${created.privateKey}` };
  const ok = (res: { status: number; text: string }, what: string) => assert.ok(res.status >= 200 && res.status < 300, `${what}: ${res.status} ${res.text}`);

  const webhook = await call(t, m.jwt, 'POST', '/api/webhooks', { body: { url: receiverUrl, events: ['orders.create', 'orders.update'] } });
  ok(webhook, 'webhook');
  const customer = await call(t, m.jwt, 'POST', '/api/customers', { body: { first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com' } });
  ok(customer, 'customer');
  const card = await call(t, m.jwt, 'POST', `/api/customers/${customer.body.id}/cards`, { body: rawCard({ cvc: undefined }) });
  ok(card, 'card');
  const perm = await call(t, m.jwt, 'POST', '/api/tokens', { body: { id: card.body.id, tokenization: true } });
  ok(perm, 'permanent token');
  const temp = await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard({ number: CARDS.mastercard }) });
  ok(temp, 'temporary token');
  const payWith = await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard() });
  const order = await call(t, m.jwt, 'POST', '/api/orders', { body: orderBody({ token: payWith.body.token, customer_id: customer.body.id }) });
  ok(order, 'order');
  const deliveryId = await eventually(async () => {
    const d = await call(t, m.jwt, 'GET', `/api/webhooks/${webhook.body.id}/deliveries`);
    return d.body?.data?.[0]?.id as string | undefined;
  }, 10_000, 'a webhook delivery');

  const keys = await merchantKeyPair();
  ok(await cof(t, cm, 'PATCH', `/cof/v1/merchants/${cm.id}`, { body: { jwks: keys.jwks } }), 'merchant keys');
  const nt = await cof(t, cm, 'POST', '/cof/v1/tokens', { body: { merchantId: cm.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.mastercard)), source: 'ON_FILE' } });
  ok(nt, 'network token');
  const tx = await cof(t, cm, 'POST', '/cof/v1/transactions', { body: { tokenId: nt.body.tokenId, transactionType: 'SINGLE' } });
  ok(tx, 'transaction');
  const asyncReq = await cof(t, cm, 'POST', '/cof/v1/async-tokens', { body: { merchantId: cm.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.visa, { accountId: 'acct-async' })), source: 'ON_FILE' } });
  ok(asyncReq, 'async token');
  const batchId = `b-${name}-${randomUUID().slice(0, 8)}`;
  ok(await sendChunk(t, cm, batchId, [{ rowId: 'r1', fpan: cardOf(BINS[0]!, 1), exp: '1234', accountId: 'acct-b1' }], true), 'batch');

  return {
    m,
    cm,
    customerId: customer.body.id,
    cardId: card.body.id,
    temporaryToken: temp.body.token,
    permanentToken: perm.body.token,
    orderId: order.body.id,
    webhookId: webhook.body.id,
    deliveryId,
    networkTokenId: nt.body.tokenId,
    requestId: asyncReq.body.requestId,
    batchId,
    transactionId: tx.body.transactionId,
  };
}

/** An issuer with one of everything: a consumer and card, an eCom token, a Click to Pay operation and a batch file. */
export async function issuerTenant(t: Instance, receiverUrl?: string): Promise<IssuerTenant> {
  const issuer = await createIssuer(t, { notifyUrl: receiverUrl });
  const { consumerId, cardId } = await registerCard(t, issuer, CARDS.visa);
  const token = await banking(t, issuer, 'POST', `/cards/${cardId}/tokens`);
  assert.equal(token.status, 201, token.text);
  const op = await banking(t, issuer, 'POST', `/cards/${cardId}/operations:clickToPayEnrolment`, {});
  assert.ok(op.status === 202 || op.status === 200, op.text);
  const batchId = `B${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const doc = await signedBatch(issuer, { batchId, seqNumber: 1, issuerId: issuer.issuerId }, [
    await batchRecord(t, 1, `bc-${batchId}`, [{ cardId: `bcard-${batchId}`, pan: CARDS.mastercard }]),
  ]);
  const batch = await banking(t, issuer, 'POST', '/batch-files', doc);
  assert.equal(batch.status, 202, batch.text);
  return { issuer, consumerId, cardId, tokenId: token.body.tokenId, operationId: op.body.operationId, batchId };
}
