import { parseArgs } from 'node:util';
import { buildDeps } from '../deps.ts';
import { createLogger } from '../logger.ts';
import { loadConfig } from '../config.ts';
import { generatePassword, MIN_PASSWORD_LENGTH } from '../services/operators.ts';

/** `tessera admin …`: operators of the dashboard. Exit codes as in `main.ts` (0, 1, 2). */
export const ADMIN_HELP = `tessera admin create --email EMAIL [--password-stdin] [--json]
  Creates an operator of the dashboard (/dashboard). With --password-stdin the password is read from
  standard input (at least ${MIN_PASSWORD_LENGTH} characters; one trailing newline is dropped); without it a strong
  password is generated and printed once. Passwords are stored only as scrypt hashes.
tessera admin disable --email EMAIL [--json]
  Stops the operator signing in and ends their sessions at once.

Options:
  --json        Print exactly one JSON document on stdout (logs go to stderr).
  -h, --help    Show this help.

Exit codes: 0 success, 1 failure, 2 bad usage.
`;

class Usage extends Error {}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function adminCommand(sub: string | undefined, argv: string[]): Promise<number> {
  let deps: Awaited<ReturnType<typeof buildDeps>> | undefined;
  try {
    let values: { email?: string | undefined; 'password-stdin'?: boolean | undefined; json?: boolean | undefined; help?: boolean | undefined };
    try {
      ({ values } = parseArgs({
        args: argv,
        strict: true,
        options: { email: { type: 'string' }, 'password-stdin': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      }));
    } catch (err) {
      throw new Usage(err instanceof Error ? err.message : String(err));
    }
    if (values.help || sub === undefined || sub === '--help' || sub === '-h') {
      process.stdout.write(ADMIN_HELP);
      return 0;
    }
    if (sub !== 'create' && sub !== 'disable') throw new Usage(`unknown command: admin ${sub}`);
    if (!values.email) throw new Usage('--email is required.');
    if (sub === 'disable') {
      const config = loadConfig();
      deps = await buildDeps({ config, logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr) });
      if (!(await deps.services.operators.disable(values.email))) throw new Error(`no operator with email ${values.email.trim().toLowerCase()}`);
      process.stdout.write(values.json === true ? JSON.stringify({ email: values.email.trim().toLowerCase(), disabled: true }) + '\n' : `Operator ${values.email.trim().toLowerCase()} disabled; their sessions are ended.\n`);
      return 0;
    }
    const generated = values['password-stdin'] !== true;
    const password = generated ? generatePassword() : await readStdin();
    if (password.length < MIN_PASSWORD_LENGTH) throw new Usage(`the password must have at least ${MIN_PASSWORD_LENGTH} characters.`);
    const config = loadConfig();
    deps = await buildDeps({ config, logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr) });
    const created = await deps.services.operators.create({ email: values.email, password });
    if ('error' in created) {
      if (created.error === 'invalid_email') throw new Usage('--email is not a valid email address.');
      if (created.error === 'email_taken') throw new Error(`an operator with email ${values.email.trim().toLowerCase()} already exists`);
      throw new Usage(`the password must have at least ${MIN_PASSWORD_LENGTH} characters.`);
    }
    const out = { id: created.id, email: created.email, ...(generated ? { password } : {}) };
    process.stdout.write(
      values.json === true
        ? JSON.stringify(out) + '\n'
        : [`Operator created: ${created.email}`, `  id:       ${created.id}`, ...(generated ? [`  password: ${password}`, '', 'The password is shown only now: store it safely.'] : []), `Sign in at ${config.publicUrl}/dashboard`].join('\n') + '\n',
    );
    return 0;
  } catch (err) {
    if (err instanceof Usage) {
      process.stderr.write(`tessera: ${err.message}\nRun 'tessera admin --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`tessera: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await deps?.close();
  }
}
