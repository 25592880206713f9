/** Strings of the card frame and the hosted payment page, in the two locales they speak. */
export type Locale = 'es' | 'en';

export function localeOf(value: unknown, acceptLanguage?: string | undefined): Locale {
  if (value === 'es' || value === 'en') return value;
  return typeof acceptLanguage === 'string' && /^es\b/i.test(acceptLanguage.trim()) ? 'es' : 'en';
}

const DECLINES_EN = {
  card_declined: 'Your card was declined.',
  insufficient_funds: 'Your card has insufficient funds.',
  lost_card: 'Your card was declined.',
  stolen_card: 'Your card was declined.',
  expired_card: 'Your card has expired.',
  incorrect_cvc: 'The security code is incorrect.',
  processing_error: 'Your card could not be processed. Try again.',
  authentication_required: 'Your bank needs to authenticate this payment. Try another card.',
};

const DECLINES_ES = {
  card_declined: 'Tu tarjeta fue rechazada.',
  insufficient_funds: 'Tu tarjeta no tiene fondos suficientes.',
  lost_card: 'Tu tarjeta fue rechazada.',
  stolen_card: 'Tu tarjeta fue rechazada.',
  expired_card: 'Tu tarjeta está vencida.',
  incorrect_cvc: 'El código de seguridad es incorrecto.',
  processing_error: 'No pudimos procesar tu tarjeta. Inténtalo de nuevo.',
  authentication_required: 'Tu banco necesita autenticar este pago. Prueba con otra tarjeta.',
};

export const FRAME_STRINGS = {
  en: {
    title: 'Card details',
    number: 'Card number',
    expiry: 'Expiry date',
    cvc: 'Security code',
    cvc_hint: 'CVC',
    name: 'Name on card',
    name_placeholder: 'Full name',
    number_required: 'Enter your card number.',
    number_invalid: 'Your card number is not valid.',
    expiry_required: 'Enter the expiry date.',
    expiry_invalid: 'Enter the expiry date as MM / YY.',
    expiry_past: 'Your card has expired.',
    cvc_required: 'Enter the security code.',
    cvc_invalid: 'The security code has {n} digits.',
    name_required: 'Enter the name on the card.',
    name_invalid: 'Enter a name, not a card number.',
    errors: {
      ...DECLINES_EN,
      origin_not_allowed: 'This site is not allowed to take card payments with Tessera.',
      unauthorized: 'These card fields are not set up correctly (publishable key).',
      rate_limited: 'Too many attempts. Wait a minute and try again.',
      network_error: 'Could not reach the payment service. Check your connection and try again.',
      busy: 'Still working on the previous request.',
      token_already_used: 'This payment was already attempted. Reload the page.',
      order_not_payable: 'This order can no longer be paid.',
      order_not_found: 'This payment link is not valid.',
    } as Record<string, string>,
  },
  es: {
    title: 'Datos de la tarjeta',
    number: 'Número de tarjeta',
    expiry: 'Vencimiento',
    cvc: 'Código de seguridad',
    cvc_hint: 'CVC',
    name: 'Nombre en la tarjeta',
    name_placeholder: 'Nombre completo',
    number_required: 'Escribe el número de tu tarjeta.',
    number_invalid: 'El número de tarjeta no es válido.',
    expiry_required: 'Escribe la fecha de vencimiento.',
    expiry_invalid: 'Escribe el vencimiento como MM / AA.',
    expiry_past: 'Tu tarjeta está vencida.',
    cvc_required: 'Escribe el código de seguridad.',
    cvc_invalid: 'El código de seguridad tiene {n} dígitos.',
    name_required: 'Escribe el nombre que aparece en la tarjeta.',
    name_invalid: 'Escribe un nombre, no un número de tarjeta.',
    errors: {
      ...DECLINES_ES,
      origin_not_allowed: 'Este sitio no tiene permiso para cobrar con Tessera.',
      unauthorized: 'Los campos de tarjeta no están bien configurados (clave publicable).',
      rate_limited: 'Demasiados intentos. Espera un minuto y vuelve a intentarlo.',
      network_error: 'No pudimos contactar el servicio de pagos. Revisa tu conexión e inténtalo de nuevo.',
      busy: 'Seguimos procesando la solicitud anterior.',
      token_already_used: 'Este pago ya se intentó. Recarga la página.',
      order_not_payable: 'Este pedido ya no se puede pagar.',
      order_not_found: 'Este enlace de pago no es válido.',
    } as Record<string, string>,
  },
} satisfies Record<Locale, unknown>;

export const PAY_STRINGS = {
  en: {
    title: 'Payment',
    order: 'Order',
    total: 'Total',
    subtotal: 'Subtotal',
    qty: 'Qty',
    pay: 'Pay',
    paying: 'Processing…',
    plan: 'Payment plan',
    single: 'Single payment',
    months: '{n} months interest-free',
    months_fixed: '{n} fixed monthly payments',
    of: 'of',
    paid: 'Payment received',
    paid_text: 'Order {number} is paid. A confirmation has been sent to the merchant.',
    redirecting: 'Taking you back to the store…',
    refunded: 'This order was refunded.',
    refunded_title: 'Order refunded',
    partially_refunded: 'This order was paid and partially refunded.',
    secured: 'Card details are encrypted and handled by Tessera; the store never sees your card number.',
    not_found: 'This payment link is not valid.',
    pending: 'A payment of this order is being processed. Reload this page in a moment.',
  },
  es: {
    title: 'Pago',
    order: 'Pedido',
    total: 'Total',
    subtotal: 'Subtotal',
    qty: 'Cant.',
    pay: 'Pagar',
    paying: 'Procesando…',
    plan: 'Forma de pago',
    single: 'Pago único',
    months: '{n} meses sin intereses',
    months_fixed: '{n} pagos fijos mensuales',
    of: 'de',
    paid: 'Pago recibido',
    paid_text: 'El pedido {number} está pagado. El comercio ya recibió la confirmación.',
    redirecting: 'Te estamos llevando de vuelta a la tienda…',
    refunded: 'Este pedido fue reembolsado.',
    refunded_title: 'Pedido reembolsado',
    partially_refunded: 'Este pedido se pagó y se reembolsó en parte.',
    secured: 'Tessera cifra y procesa los datos de tu tarjeta; la tienda nunca ve su número.',
    not_found: 'Este enlace de pago no es válido.',
    pending: 'Hay un pago de este pedido en proceso. Recarga esta página en un momento.',
  },
} satisfies Record<Locale, unknown>;

/** Text for HTML element content and attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON inside `<script type="application/json">`: `<` escaped so no `</script>` can close it. */
export function jsonForHtml(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}
