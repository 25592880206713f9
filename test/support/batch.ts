import { CompactSign, FlattenedSign, type CryptoKey } from 'jose';
import { canonicalize } from '../../src/domain/jcs.ts';
import { encryptForTessera, personal, type TestIssuer } from './issuer.ts';
import type { Instance } from './harness.ts';

export interface BatchHeaderInput {
  batchId: string;
  seqNumber: number;
  issuerId: string;
  operation?: string;
  clickToPayAutoEnrolment?: boolean;
}

/** One record: a consumer and its cards (each `{cardId, pan}` encrypted to Tessera now). */
export async function batchRecord(
  t: Instance,
  rowId: string | number,
  consumerId: string,
  cards: { cardId: string; pan: string; exp?: string }[],
  info: Record<string, unknown> = personal(),
) {
  const encrypted = [];
  for (const c of cards) encrypted.push({ cardId: c.cardId, encryptedData: await encryptForTessera(t, { pan: c.pan, exp: c.exp ?? '1230' }) });
  return { rowId, consumerAndCardRegistrationRequest: { consumerId, personalInformation: info, cards: encrypted } };
}

/**
 * A signed batch file: a compact JWS (ES256, the issuer's kid) over the RFC 8785 canonical
 * `{header, records}`, with the payload part removed (detached). `b64: false` signs the raw bytes.
 */
export async function signedBatch(
  issuer: Pick<TestIssuer, 'sig'>,
  header: BatchHeaderInput,
  records: unknown[],
  opts: { key?: CryptoKey; kid?: string; b64?: boolean } = {},
) {
  const h = { operation: 'CONSUMER_CARD_REGISTRATION', ...header };
  const payload = new TextEncoder().encode(canonicalize({ header: h, records }));
  const key = opts.key ?? issuer.sig.privateKey;
  const kid = opts.kid ?? issuer.sig.kid;
  if (opts.b64 === false) {
    const jws = await new FlattenedSign(payload).setProtectedHeader({ alg: 'ES256', kid, b64: false, crit: ['b64'] }).sign(key);
    return { header: h, records, signature: `${jws.protected}..${jws.signature}` };
  }
  const [p, , s] = (await new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(key)).split('.');
  return { header: h, records, signature: `${p}..${s}` };
}
