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

// node:sqlite and type stripping announce themselves as experimental on stderr; nothing to act on.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'ExperimentalWarning') process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

// The long-running commands start with a bounded V8 heap unless told otherwise (docs/configuration.md,
// "Memory"): V8 grows its young generation to 64 MB and its old one lazily when the machine has
// memory to spare, which a bulk tokenization of a million records turns into ~150 MB of RSS it does
// not need. Any heap flag in NODE_OPTIONS or on the command line wins. The same process is re-executed
// (same pid), so supervisors, signals and `kill -9` see no difference.
const HEAP_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=256'];
const command = process.argv[2];
const heapSet = /--max-(semi|old)-space-size|--max-heap-size/.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`);
if ((command === 'serve' || command === 'worker') && !heapSet && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...HEAP_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], process.env);
}

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
