import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config.ts';
import { IMPORT_HELP } from './cof-import.ts';

// The composition root, the HTTP app and their dependencies load only when a command needs them,
// so `--help` and usage errors answer at once.
const lazy = {
  deps: () => import('../deps.ts'),
  logger: () => import('../logger.ts'),
  serve: () => import('./serve.ts'),
  worker: () => import('./worker.ts'),
  cofImport: () => import('./cof-import.ts'),
  issuers: () => import('./issuers.ts'),
  admin: () => import('./admin.ts'),
  keys: () => import('./keys.ts'),
};

/** Exit codes: 0 done; 1 failed; 2 bad usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const HELP = `tessera — payment-card tokenization

Usage: tessera <command> [options]

Commands:
  serve                          Serve the API (and the in-process worker). Default command of npm start.
  migrate                        Apply pending database migrations.
  merchants create --name NAME   Create a merchant; prints its id, keys and webhook secret once.
      [--notify-url URL]
  merchants delete ID [--shred]  Delete a merchant (its credentials stop working); --shred destroys its
                                 data keys: its cards and tokens become unrecoverable at once.
  jwks list                      Tessera's published encryption keys (GET /cof/v1/keys; --face banking:
                                 GET /banking/v1/keys).
  jwks rotate                    Publish a new key; older keys keep decrypting for TESSERA_JWKS_GRACE_S.
  jwks retire --kid KID          Stop publishing a decrypt-only key and stop decrypting with it.
  keys status|rotate|retire      Master-key versions, re-wrapping, data re-encryption (tessera keys --help).
  worker                         A worker-only process (jobs and batches; PostgreSQL): scale out beside serve.
  cof import --url URL --merchant ID --api-key KEY --file cards.csv --out results.csv
                                 Bulk-tokenize a CSV through /cof/v1/batches (resumable).
  issuers create --name NAME     Create an issuer (/banking/v1) from its EC P-256 public key(s);
      --jwk-file FILE [--notify-url URL]   prints its issuerId and webhook secret once.
  issuers keys add|retire        Rotate an issuer's keys (tessera issuers --help).
  admin create --email EMAIL     Create an operator of the dashboard (/dashboard); prints a generated
      [--password-stdin]         password once, or reads one from standard input.
  admin disable --email EMAIL    Stop an operator signing in; ends their dashboard sessions.
  audit verify                   Re-compute the audit log's hash chain; exit 1 and say where it breaks.

Options (every command):
  --json                         Print exactly one JSON document on stdout (logs and progress go to stderr).
                                 serve and worker log JSON lines on stdout already.
  -h, --help                     Show help; 'tessera <command> --help' for one command.

Environment: PORT, HOST, TESSERA_DATA_DIR, DATABASE_URL, LOG_LEVEL, TESSERA_MASTER_KEY, TESSERA_ENV,
TESSERA_WORKER, TESSERA_METRICS_PORT, … (docs/configuration.md lists them all).

Exit codes: 0 success, 1 failure, 2 bad usage.
`;

/** Appended to every command's help. */
const HELP_FOOTER = `
Options:
  --json        Print exactly one JSON document on stdout (logs and progress go to stderr).
  -h, --help    Show this help.

Exit codes: 0 success, 1 failure, 2 bad usage.
`;

/** Commands with subcommands: 'tessera <group>' or 'tessera <group> --help' lists them. */
const GROUPS = new Set(['merchants', 'jwks', 'cof', 'audit']);

/** The lines of HELP's command list that belong to `group`. */
function groupHelp(group: string): string {
  const lines = HELP.slice(HELP.indexOf('Commands:'), HELP.indexOf('Options (every command):')).split('\n');
  const out: string[] = [];
  let inGroup = false;
  for (const line of lines) {
    if (/^  [a-z]/.test(line)) inGroup = line.startsWith(`  ${group} `);
    else if (!/^ {3,}/.test(line)) inGroup = false;
    if (inGroup) out.push(line);
  }
  return `Usage: tessera ${group} <subcommand> [options]\n\n${out.join('\n')}\n`;
}

class UsageError extends Error {}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    const all = { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;
    return parseArgs({ args, options: all, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** CLI commands log to stderr only, so `--json` output on stdout stays one document. */
async function cliDeps() {
  const [{ buildDeps }, { createLogger }] = await Promise.all([lazy.deps(), lazy.logger()]);
  const config = loadConfig();
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  return buildDeps({ config, logger });
}

export async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(HELP);
      return EXIT.ok;
    }
    if (GROUPS.has(command) && (sub === undefined || sub === '-h' || sub === '--help')) return help(groupHelp(command));
    if (command === 'serve') {
      const { values } = parse(argv.slice(1), {});
      if (values.help) return help('tessera serve [--json]\n\nServes the API on HOST:PORT with the in-process worker (TESSERA_WORKER=off: API only, beside\ntessera worker processes on PostgreSQL). Logs are JSON lines on stdout; stops on SIGINT/SIGTERM.\n');
      await (await lazy.serve()).serve();
      return EXIT.ok;
    }
    if (command === 'migrate') {
      const { values } = parse(argv.slice(1), {});
      if (values.help) return help('tessera migrate [--json]\n\nApplies pending migrations to the configured database.\n');
      const deps = await cliDeps();
      await deps.close();
      output(values.json === true, { migrated: true, engine: deps.db.engine }, `Database (${deps.db.engine}) is up to date.`);
      return EXIT.ok;
    }
    if (command === 'merchants' && sub === 'create') {
      const { values } = parse(rest, { name: { type: 'string' }, 'notify-url': { type: 'string' } });
      if (values.help) return help('tessera merchants create --name NAME [--notify-url URL] [--json]\n\nCreates a merchant; prints its id, key pair and webhook secret once. --notify-url is where its\n/cof/v1 notifications go.\n');
      const name = typeof values.name === 'string' ? values.name.trim() : '';
      if (!name) throw new UsageError('--name is required.');
      const notifyUrl = values['notify-url'];
      if (typeof notifyUrl === 'string' && !/^https?:\/\/\S+$/.test(notifyUrl)) throw new UsageError('--notify-url must be an http(s) URL.');
      const deps = await cliDeps();
      try {
        const m = await deps.services.merchants.create({ name, notificationUrl: typeof notifyUrl === 'string' ? notifyUrl : undefined });
        output(
          values.json === true,
          { id: m.id, name: m.name, publicKey: m.publicKey, privateKey: m.privateKey, webhookSecret: m.webhookSecret, notificationUrl: m.notificationUrl, publishableKey: m.publishableKey },
          [
            `Merchant created: ${m.name}`,
            `  id:            ${m.id}`,
            `  publicKey:     ${m.publicKey}`,
            `  privateKey:    ${m.privateKey}`,
            `  webhookSecret: ${m.webhookSecret}`,
            `  publishableKey: ${m.publishableKey} (hosted card fields; also at GET /api/merchant/settings)`,
            '',
            'The private key and webhook secret are shown only now: store them safely.',
          ].join('\n'),
        );
      } finally {
        await deps.close();
      }
      return EXIT.ok;
    }
    if (command === 'merchants' && sub === 'delete') {
      const { values, positionals } = parse(rest, { shred: { type: 'boolean' } });
      if (values.help) return help('tessera merchants delete ID [--shred] [--json]\n\nThe merchant can no longer authenticate. --shred also destroys its data keys (crypto-shredding):\nits cards, tokens and secrets become unrecoverable at once. There is no undo.\n');
      const id = positionals[0];
      if (!id || positionals.length !== 1) throw new UsageError('exactly one merchant id is required.');
      const deps = await cliDeps();
      try {
        const r = await deps.services.merchants.delete(id, { shred: values.shred === true });
        output(values.json === true, r, r.shredded ? `Merchant ${id} deleted; ${r.dataKeysDestroyed} data keys destroyed: its card data is unrecoverable.` : `Merchant ${id} deleted (its data keys are kept: use --shred to destroy them).`);
      } finally {
        await deps.close();
      }
      return EXIT.ok;
    }
    if (command === 'jwks' && (sub === 'list' || sub === 'rotate' || sub === 'retire')) {
      const { values } = parse(rest, { kid: { type: 'string' }, face: { type: 'string' } });
      if (values.help) return help('tessera jwks list|rotate|retire --kid KID [--face cof|banking] [--json]\n\n--face: the /cof/v1/keys RSA ring (default) or the /banking/v1/keys EC ring.\nA rotated-out key still decrypts for TESSERA_JWKS_GRACE_S (default 7 days), then is retired by a job.\n');
      if (values.face !== undefined && values.face !== 'cof' && values.face !== 'banking') throw new UsageError('--face must be cof or banking.');
      const kid = typeof values.kid === 'string' ? values.kid : undefined;
      if (sub === 'retire' && !kid) throw new UsageError('--kid is required.');
      const deps = await cliDeps();
      try {
        const ring = values.face === 'banking' ? deps.issuerKeys : deps.keys;
        if (sub === 'rotate') {
          const created = await ring.rotate();
          output(values.json === true, { kid: created }, `New active key: ${created}. Older keys still decrypt until retired.`);
        } else if (sub === 'retire') {
          const retired = await ring.retire(kid!);
          if (!retired) throw new Error(`no decrypt-only key ${kid} (the active key cannot be retired; rotate first)`);
          output(values.json === true, { kid, retired: true }, `Retired ${kid}.`);
        } else {
          const jwks = await ring.jwks();
          const states = await ring.describe();
          output(values.json === true, { ...jwks, states }, states.map((k) => `${k.kid}  (${k.status}${k.retireAfter ? `, retired after ${k.retireAfter}` : ''})`).join('\n'));
        }
      } finally {
        await deps.close();
      }
      return EXIT.ok;
    }
    if (command === 'worker') {
      const { values } = parse(argv.slice(1), {});
      if (values.help) return help('tessera worker [--json]\n\nRuns jobs and batch records without serving the API (PostgreSQL: DATABASE_URL). With\nTESSERA_METRICS_PORT it answers /metrics, /health and /ready on HOST:that port. Logs are JSON lines on\nstdout; stops on SIGINT/SIGTERM.\n');
      await (await lazy.worker()).runWorker();
      return EXIT.ok;
    }
    if (command === 'cof' && sub === 'import') {
      const { values } = parse(rest, {
        url: { type: 'string' },
        merchant: { type: 'string' },
        'api-key': { type: 'string' },
        file: { type: 'string' },
        out: { type: 'string' },
        'batch-id': { type: 'string' },
        'chunk-size': { type: 'string' },
        'retry-for': { type: 'string' },
      });
      if (values.help) return help(IMPORT_HELP);
      for (const name of ['url', 'merchant', 'api-key', 'file', 'out'] as const) {
        if (typeof values[name] !== 'string' || values[name] === '') throw new UsageError(`--${name} is required.`);
      }
      const chunkSize = values['chunk-size'] === undefined ? 10_000 : Number(values['chunk-size']);
      if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 10_000) throw new UsageError('--chunk-size must be 1 to 10000.');
      const retryFor = values['retry-for'] === undefined ? 120 : Number(values['retry-for']);
      if (!Number.isInteger(retryFor) || retryFor < 0 || retryFor > 86_400) throw new UsageError('--retry-for must be 0 to 86400 seconds.');
      const { cofImport } = await lazy.cofImport();
      const summary = await cofImport({
        url: String(values.url),
        merchantId: String(values.merchant),
        apiKey: String(values['api-key']),
        file: String(values.file),
        out: String(values.out),
        batchId: typeof values['batch-id'] === 'string' ? values['batch-id'] : undefined,
        chunkSize,
        retryForMs: retryFor * 1000,
      });
      output(values.json === true, summary, `Batch ${summary.batchId}: ${summary.succeeded} succeeded, ${summary.failed} failed; results in ${summary.out}.`);
      return EXIT.ok;
    }
    if (command === 'issuers') return await (await lazy.issuers()).issuersCommand(sub === '-h' || sub === '--help' ? undefined : sub, rest);
    if (command === 'admin') return await (await lazy.admin()).adminCommand(sub, rest);
    if (command === 'keys') return await (await lazy.keys()).keysCommand(sub, rest);
    if (command === 'audit' && sub === 'verify') {
      const { values } = parse(rest, {});
      if (values.help) return help('tessera audit verify [--json]\n\nRe-computes the audit chain; exit 0 if intact, 1 at the first changed, removed or reordered record.\n');
      const deps = await cliDeps();
      try {
        const result = await deps.audit.verify();
        const human = result.ok ? `Audit log intact: ${result.records} records.` : `Audit log BROKEN at record ${result.seq}: ${result.message}.`;
        if (result.ok || values.json === true) output(values.json === true, result, human);
        else process.stderr.write(`tessera: ${human}\n`);
        return result.ok ? EXIT.ok : EXIT.failed;
      } finally {
        await deps.close();
      }
    }
    throw new UsageError(`unknown command: ${[command, sub].filter(Boolean).join(' ')}`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tessera: ${err.message}\nRun 'tessera --help' for usage.\n`);
      return EXIT.usage;
    }
    process.stderr.write(`tessera: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  }
}

/** Prints a command's help with the common options and exit codes. */
function help(text: string): number {
  process.stdout.write(text.includes('Exit codes:') ? text : text.replace(/\n*$/, '\n') + HELP_FOOTER);
  return EXIT.ok;
}

function output(json: boolean, data: unknown, human: string): void {
  process.stdout.write(json ? JSON.stringify(data) + '\n' : human + '\n');
}
