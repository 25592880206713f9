import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Deps } from '../deps.ts';
import { loadConfig } from '../config.ts';

/** `tessera issuers …`: create issuers and rotate their keys. Exit codes as in `main.ts` (0, 1, 2). */
export const ISSUERS_HELP = `tessera issuers create --name NAME --jwk-file FILE [--jwk-file FILE…] [--notify-url URL] [--records-per-second N] [--json]
  FILE holds a public JWK or a JWKS ({"keys": […]}) on EC P-256 with a kid: "use": "sig" (or none) keys sign
  OAuth assertions and batch files (ES256); a "use": "enc" key receives transaction credentials (ECDH-ES).
  Prints the issuerId and the notification webhook secret (shown only now).
tessera issuers keys add --issuer ID --jwk-file FILE [--json]   Register another key (rotation).
tessera issuers keys retire --issuer ID --kid KID [--json]      Stop accepting a key.

Options:
  --json        Print exactly one JSON document on stdout (logs go to stderr).
  -h, --help    Show this help.

Exit codes: 0 success, 1 failure, 2 bad usage.
`;

class Usage extends Error {}

function readKeys(files: string[]): unknown[] {
  const keys: unknown[] = [];
  for (const file of files) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Usage(`--jwk-file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not valid JSON'}.`);
    }
    const list = (parsed as { keys?: unknown }).keys;
    keys.push(...(Array.isArray(list) ? list : [parsed]));
  }
  return keys;
}

export async function issuersCommand(sub: string | undefined, argv: string[]): Promise<number> {
  let deps: Deps | undefined;
  try {
    const { values, positionals } = (() => {
      try {
        return parseArgs({
          args: argv,
          allowPositionals: true,
          strict: true,
          options: {
            name: { type: 'string' },
            'jwk-file': { type: 'string', multiple: true },
            'notify-url': { type: 'string' },
            'records-per-second': { type: 'string' },
            issuer: { type: 'string' },
            kid: { type: 'string' },
            json: { type: 'boolean' },
            help: { type: 'boolean', short: 'h' },
          },
        });
      } catch (err) {
        throw new Usage(err instanceof Error ? err.message : String(err));
      }
    })();
    if (values.help || sub === undefined) {
      process.stdout.write(ISSUERS_HELP);
      return 0;
    }
    const json = values.json === true;
    const out = (data: unknown, human: string) => process.stdout.write(json ? JSON.stringify(data) + '\n' : human + '\n');
    const config = loadConfig();
    // Loaded only when a subcommand runs, so --help answers at once.
    const open = async () => {
      const [{ buildDeps }, { createLogger }] = await Promise.all([import('../deps.ts'), import('../logger.ts')]);
      return buildDeps({ config, logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr) });
    };

    if (sub === 'create') {
      const name = values.name?.trim();
      if (!name) throw new Usage('--name is required.');
      const files = values['jwk-file'] ?? [];
      if (files.length === 0) throw new Usage('--jwk-file is required (the issuer’s ES256 public key).');
      const rps = values['records-per-second'];
      if (rps !== undefined && !/^[1-9]\d{0,6}$/.test(rps)) throw new Usage('--records-per-second must be a positive integer.');
      const keys = readKeys(files);
      deps = await open();
      const created = await deps.services.issuers.create({ name, jwks: keys, notifyUrl: values['notify-url'], recordsPerSecond: rps === undefined ? undefined : Number(rps) });
      out(created, [
        `Issuer created: ${created.name}`,
        `  issuerId:      ${created.issuerId}`,
        `  webhookSecret: ${created.webhookSecret}`,
        `  keys:          ${created.keys.map((k) => `${k.kid} (${k.use})`).join(', ')}`,
        '',
        'The webhook secret is shown only now: store it safely.',
      ].join('\n'));
      return 0;
    }
    if (sub === 'keys' && (positionals[0] === 'add' || positionals[0] === 'retire')) {
      const issuerId = values.issuer;
      if (!issuerId) throw new Usage('--issuer is required.');
      if (positionals[0] === 'add') {
        const [key, ...more] = readKeys(values['jwk-file'] ?? []);
        if (!key || more.length > 0) throw new Usage('--jwk-file must hold exactly one key.');
        deps = await open();
        const added = await deps.services.issuers.addKey(issuerId, key);
        out({ issuerId, ...added }, `Key ${added.kid} (${added.use}) registered for ${issuerId}.`);
        return 0;
      }
      if (!values.kid) throw new Usage('--kid is required.');
      deps = await open();
      if (!(await deps.services.issuers.retireKey(issuerId, values.kid))) throw new Error(`issuer ${issuerId} has no key ${values.kid}`);
      out({ issuerId, kid: values.kid, retired: true }, `Retired ${values.kid}.`);
      return 0;
    }
    throw new Usage(`unknown command: issuers ${[sub, ...positionals].join(' ')}`);
  } catch (err) {
    if (err instanceof Usage) {
      process.stderr.write(`tessera: ${err.message}\nRun 'tessera issuers --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`tessera: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await deps?.close();
  }
}
