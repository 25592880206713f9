// Encrypts card data read from standard input to Tessera's published key, as a PSP would before
// calling POST /cof/v1/tokens. Usage:
//   echo '{"fpan":"4242424242424242","exp":"1230","name":"Ada","cvv":"123","accountId":"a1"}' \
//     | node examples/encrypt-card.mjs http://127.0.0.1:8080
// Reading the card from stdin keeps it out of the shell history and the process list.
import { CompactEncrypt, importJWK } from 'jose';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const { keys } = await (await fetch(`${base}/cof/v1/keys`)).json();
const jwk = keys[0];
let input = '';
for await (const chunk of process.stdin) input += chunk;
const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(JSON.parse(input))))
  .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid })
  .encrypt(await importJWK(jwk, 'RSA-OAEP-256'));
process.stdout.write(jwe + '\n');
