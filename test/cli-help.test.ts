import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { createProgress, progressText } from '../src/cli/progress.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.js');
const env = { ...process.env, TESSERA_DATA_DIR: '/nonexistent/help-needs-no-database' };
const tesseraAsync = (args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8', env }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
const tessera = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, TESSERA_DATA_DIR: '/nonexistent/help-needs-no-database' } });

/** Every command and subcommand the top-level help lists (so commands added later are held to the same contract). */
function listedCommands(help: string): string[][] {
  const section = help.slice(help.indexOf('Commands:'), help.indexOf('Options'));
  const commands: string[][] = [];
  for (const line of section.split('\n')) {
    if (!/^  [a-z]/.test(line)) continue;
    const words: string[] = [];
    for (const w of line.trim().split(/\s+/)) {
      if (!/^[a-z][a-z-]*(\|[a-z-]+)*$/.test(w)) break;
      words.push(w);
    }
    const last = words.pop()!;
    for (const alt of last.split('|')) commands.push([...words, alt]);
  }
  return commands;
}

describe('tessera --help', () => {
  const top = tessera(['--help']);

  it('prints the usage, the commands, --json and the exit codes, and exits 0', () => {
    assert.equal(top.status, 0);
    assert.match(top.stdout, /Usage: tessera <command>/);
    assert.match(top.stdout, /--json/);
    assert.match(top.stdout, /Exit codes: 0 success, 1 failure, 2 bad usage/);
  });

  it('has a help of its own for every command and subcommand, which mentions --json and the exit codes, without touching a database', async () => {
    const commands = listedCommands(top.stdout);
    assert.ok(commands.length >= 12, `found ${commands.map((c) => c.join(' ')).join(', ')}`);
    // Four at a time: each is a fresh Node process.
    const queue = [...commands];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let command = queue.shift(); command; command = queue.shift()) {
          // --json is an option of every command (a usage error would exit 2); --help wins.
          const r = await tesseraAsync([...command, '--json', command.length === 1 ? '-h' : '--help']);
          const name = `tessera ${command.join(' ')}`;
          assert.equal(r.status, 0, `${name} --help: ${r.stderr}`);
          assert.ok(r.stdout.trim().length > 40, `${name} --help prints a usage`);
          assert.match(r.stdout, /--json/, `${name} --help mentions --json`);
          assert.match(r.stdout, /Exit codes:/, `${name} --help documents the exit codes`);
        }
      }),
    );
  });

  it('lists the subcommands of a group, and exits 2 on an unknown command or option', () => {
    for (const group of ['merchants', 'jwks', 'cof', 'audit', 'issuers']) {
      const r = tessera([group, '--help']);
      assert.equal(r.status, 0, group);
      assert.match(r.stdout, new RegExp(`${group} [a-z]`));
    }
    const unknown = tessera(['frobnicate']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command/);
    assert.equal(tessera(['migrate', '--no-such-option']).status, 2);
  });
});

describe('progress', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    const stream = Object.assign(new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) }), { isTTY });
    return { stream, text: () => chunks.join('') };
  };

  it('shows the rate and the ETA', () => {
    assert.equal(progressText('tokenized', 500, 1000, 250), 'tokenized 500/1000 records, 250/s, ETA 2s');
    assert.equal(progressText('sent', 10, undefined, 5, 'keys'), 'sent 10 keys, 5/s');
    assert.equal(progressText('re-wrapped', 0, 400_000, 100), 're-wrapped 0/400000 records, 100/s, ETA 1h06m');
  });

  it('redraws one bar in place on a terminal', () => {
    let t = 0;
    const s = sink(true);
    const p = createProgress({ stream: s.stream, now: () => t });
    p.update('tokenized', 0, 100);
    t = 1000;
    p.update('tokenized', 50, 100);
    p.done();
    assert.match(s.text(), /\r\[#{15}\.{15}\] 50% tokenized 50\/100 records, 50\/s, ETA 1s/);
    assert.equal(s.text().split('\n').length, 2);
  });

  it('writes plain lines, at most one per interval plus the last, when not on a terminal', () => {
    let t = 0;
    const s = sink(false);
    const p = createProgress({ stream: s.stream, now: () => t, intervalMs: 2000 });
    for (let done = 0; done <= 100; done += 10, t += 500) p.update('tokenized', done, 100);
    p.done();
    const lines = s.text().trim().split('\n');
    assert.doesNotMatch(s.text(), /\r|\x1b/);
    assert.ok(lines.length >= 3 && lines.length <= 4, lines.join(' | '));
    assert.match(lines.at(-1)!, /^tokenized 100\/100 records/);
  });
});
