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

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
