#!/usr/bin/env node
// The `tessera` command. Tessera runs on the Node.js the project pins (a dependency, so `npm ci`
// brings it): when started by an older Node on PATH, hand over to the pinned one.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    process.stderr.write(`tessera needs Node.js 24 or later (this is ${process.version}); run npm ci first.\n`);
    process.exit(1);
  }
  const result = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

// A memory budget for the long-running commands. V8 sizes its heap from the machine's memory (on a
// 24 GB host: a 64 MB young generation, a 4 GB old one) and grows into it lazily, so a busy server
// held hundreds of MB it did not need. `serve` and `worker` restart themselves once, in the same
// process (execve: same pid, same stdio), with the flags below; a flag the operator already gave
// (NODE_OPTIONS or the node command line) is left as given. docs/configuration.md.
const V8_BUDGET = { '--max-old-space-size': '256', '--max-semi-space-size': '8' };
if ((process.argv[2] === 'serve' || process.argv[2] === 'worker') && typeof process.execve === 'function') {
  // V8 reads `--max_old_space_size` as `--max-old-space-size`. After the restart the flags are in execArgv: no loop.
  const given = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`.replaceAll('_', '-');
  const flags = Object.entries(V8_BUDGET)
    .filter(([flag]) => !given.includes(flag))
    .map(([flag, value]) => `${flag}=${value}`);
  if (flags.length > 0) process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], process.env);
}

// node:sqlite and type stripping announce themselves as experimental on stderr; nothing to act on.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'ExperimentalWarning') process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
