import type { DeclineCode } from '../domain/errors.ts';

/**
 * The sandbox's deterministic test cards. Numbers start from the industry's well-known ones
 * (4242424242424242 approves; 4000000000000002 declines; …) and extend to every brand by one rule:
 * a number made of a brand's test prefix, zeros, a three-digit scenario code and the Luhn check
 * digit triggers that scenario. Visa 4000000000009995 is prefix 400000, code 999, check digit 5;
 * Mastercard 5100000000009991, Amex 370000000009995 and Discover 6011000000009997 do the same.
 * Any other Luhn-valid number is approved.
 */
export const TEST_PREFIXES = ['400000', '510000', '370000', '601100'] as const;

export type Scenario =
  | { kind: 'approve' }
  | { kind: 'decline'; reason: DeclineCode }
  /** The issuer asks for cardholder authentication (3-D Secure step-up). */
  | { kind: 'step_up' }
  /** The token service provider does not answer in time. */
  | { kind: 'tsp_timeout' }
  /** The token service provider answers 429. */
  | { kind: 'tsp_rate_limit' }
  /** Tokens are issued, then suspended by the issuer. */
  | { kind: 'suspended_later' };

export const SCENARIO_CODES: Record<string, Scenario> = {
  '000': { kind: 'decline', reason: 'card_declined' },
  '999': { kind: 'decline', reason: 'insufficient_funds' },
  '998': { kind: 'decline', reason: 'lost_card' },
  '997': { kind: 'decline', reason: 'stolen_card' },
  '006': { kind: 'decline', reason: 'expired_card' },
  '012': { kind: 'decline', reason: 'incorrect_cvc' },
  '011': { kind: 'decline', reason: 'processing_error' },
  '315': { kind: 'step_up' },
  '504': { kind: 'tsp_timeout' },
  '429': { kind: 'tsp_rate_limit' },
  '777': { kind: 'suspended_later' },
};

const APPROVE: Scenario = { kind: 'approve' };

export function scenarioOf(pan: string): Scenario {
  const prefix = TEST_PREFIXES.find((p) => pan.startsWith(p));
  if (!prefix) return APPROVE;
  const middle = pan.slice(prefix.length, -1);
  if (middle.length < 3 || !/^0*$/.test(middle.slice(0, -3))) return APPROVE;
  return SCENARIO_CODES[middle.slice(-3)] ?? APPROVE;
}

/** Completes `body` with its Luhn check digit (builds test numbers for any brand). */
export function withCheckDigit(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + String((10 - (sum % 10)) % 10);
}

/** The test number of a scenario code for a brand prefix, e.g. `testCard('510000', '999', 16)`. */
export function testCard(prefix: string, code: string, length: number): string {
  return withCheckDigit(prefix + code.padStart(length - prefix.length - 1, '0'));
}
