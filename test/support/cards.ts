/** Test cards used across the suite (see src/sandbox/test-cards.ts). Every PAN here is scanned for in logs and databases. */
export const CARDS = {
  visa: '4242424242424242',
  mastercard: '5555555555554444',
  mastercardRef: '5200000000002235',
  amex: '378282246310005',
  discover: '6011111111111117',
  declined: '4000000000000002',
  insufficientFunds: '4000000000009995',
  lost: '4000000000009987',
  stolen: '4000000000009979',
  expired: '4000000000000069',
  incorrectCvc: '4000000000000127',
  processingError: '4000000000000119',
  mastercardInsufficientFunds: '5100000000009991',
  stepUp: '4000000000003154',
} as const;

export const TEST_PANS: string[] = Object.values(CARDS);
export const TEST_CVCS = ['123', '4321', '987'];

/** A raw card body for POST /api/tokens, with overrides. */
export function rawCard(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { number: CARDS.visa, name: 'Ada Lovelace', exp_month: '12', exp_year: '2034', cvc: '123', ...overrides };
}

/** Asserts that no test PAN (nor any 13+-digit run equal to one) appears in `text`. */
export function findPans(text: string): string[] {
  return TEST_PANS.filter((pan) => text.includes(pan));
}
