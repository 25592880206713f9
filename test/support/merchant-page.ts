import { createServer, type Server } from 'node:http';

/**
 * A merchant's checkout page on its own origin (`http://localhost:<port>`, while Tessera listens on
 * `http://127.0.0.1:<port>`: another origin to the browser). It loads tessera.js from Tessera,
 * mounts the card fields and, on "Pay", shows what tokenize() resolved or rejected with. It also
 * records every message the page receives, so tests can prove what reached the parent.
 */
export interface MerchantPage {
  origin: string;
  close(): Promise<void>;
}

export function merchantPageHtml(tessera: string, publicKey: string, locale: string): string {
  return `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Checkout</title>
<style>
body{margin:0;background:#f5f6fa;font:15px/1.5 system-ui,sans-serif;color:#1a1f36}
main{max-width:420px;margin:32px auto;background:#fff;border:1px solid #e6e8ef;border-radius:14px;padding:24px;box-shadow:0 1px 3px rgba(16,24,40,.06)}
h1{font-size:18px;margin:0 0 16px}
button{width:100%;margin-top:12px;border:0;border-radius:8px;background:#4f46e5;color:#fff;font:inherit;font-weight:650;padding:12px}
#result{font-size:13px;color:#5b6478;word-break:break-all}
</style></head>
<body><main><h1>${locale === 'es' ? 'Pago con tarjeta' : 'Pay by card'}</h1><div id="card"></div><button id="pay" type="button">${locale === 'es' ? 'Pagar' : 'Pay'}</button><p id="result"></p></main>
<script>
window.__messages = [];
window.addEventListener('message', function (e) { window.__messages.push({ origin: e.origin, data: JSON.stringify(e.data) }); });
</script>
<script src="${tessera}/elements/v1/tessera.js"></script>
<script>
var card = Tessera.card({ publicKey: ${JSON.stringify(publicKey)}, locale: ${JSON.stringify(locale)} }).mount('#card');
window.__ready = false;
card.on('ready', function () { window.__ready = true; });
card.on('error', function (e) { window.__mountError = e.code; });
window.tokenize = function (options) {
  return card.tokenize(options).then(function (r) {
    document.getElementById('result').textContent = 'tokenize() → ' + r.token + ' (' + r.brand + ' ···· ' + r.last4 + ')';
    return { ok: true, result: r };
  }, function (e) {
    document.getElementById('result').textContent = 'tokenize() rejected: ' + e.code;
    return { ok: false, error: { code: e.code, message: e.message, param: e.param } };
  });
};
document.getElementById('pay').addEventListener('click', function () { window.tokenize({}); });
</script></body></html>`;
}

/**
 * A page that embeds the card frame by hand, claiming another origin (one the merchant allowed) in
 * `origin`: the frame's CSP `frame-ancestors` must make the browser refuse to show it.
 */
export function forgedFramePage(tessera: string, publicKey: string, claimedOrigin: string): string {
  const src = `${tessera}/elements/v1/card-frame?key=${encodeURIComponent(publicKey)}&origin=${encodeURIComponent(claimedOrigin)}&locale=en`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>Forged</title></head><body>
<script>window.__messages = []; window.addEventListener('message', function (e) { window.__messages.push(JSON.stringify(e.data)); });</script>
<iframe id="forged" src="${src}" width="400" height="300"></iframe></body></html>`;
}

/** Serves `html(url)` for every GET on a fresh port of localhost. */
export async function serveMerchantPage(html: (path: string) => string): Promise<MerchantPage> {
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html(req.url ?? '/'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    origin: `http://localhost:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
