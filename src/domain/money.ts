/** Amounts inside Tessera are integers in minor units (centavos); the APIs speak decimal major units. */
export interface Money {
  /** Minor units: 1000 is $10.00. */
  amount: number;
  currency: string;
}

/** The validation hold of a permanent token: authorize $10.00 MXN, finalize at $0.01, then void. */
export const VALIDATION_HOLD: Money = { amount: 1000, currency: 'MXN' };
export const VALIDATION_FINAL_AMOUNT = 1;

export function toMajor(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
