// Docker cannot run on this machine, so the image and the compose file are checked for what they
// say: the cluster's topology, variables Tessera knows, nginx rules nginx accepts, the scrape
// targets. The cluster itself (test/cluster.test.ts) runs the same topology as plain processes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { COMPOSE_NGINX, NGINX, nginxConfig } from '../scripts/cluster.ts';
import { loadConfig } from '../src/config.ts';

const ROOT = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Every environment variable src/config.ts reads. */
function configVariables(): string[] {
  const source = read('src/config.ts');
  const names = new Set<string>();
  for (const m of source.matchAll(/env\.([A-Z][A-Z0-9_]+)/g)) names.add(m[1]!);
  for (const m of source.matchAll(/\(env, '([A-Z][A-Z0-9_]+)'/g)) names.add(m[1]!);
  return [...names].sort();
}

type Service = { command?: string[]; environment?: Record<string, string>; image?: string; build?: unknown; depends_on?: Record<string, unknown> | string[] };

describe('docs/configuration.md', () => {
  it('documents every environment variable src/config.ts reads, with a default', () => {
    const names = configVariables();
    assert.ok(names.length >= 30 && names.includes('TESSERA_WORKER') && names.includes('DATABASE_URL'), names.join(' '));
    const doc = read('docs/configuration.md');
    const rows = new Map<string, string>();
    for (const line of doc.split('\n')) {
      const m = /^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \|/.exec(line);
      if (m) rows.set(m[1]!, m[2]!.trim());
    }
    const missing = names.filter((n) => !rows.has(n));
    assert.deepEqual(missing, [], `add these to docs/configuration.md: ${missing.join(', ')}`);
    for (const n of names) assert.ok(rows.get(n)!.length > 0, `${n} has a default`);
  });
});

describe('deploy/compose.yaml', () => {
  const compose = parse(read('deploy/compose.yaml'), { merge: true }) as { services: Record<string, Service> };
  const s = compose.services;

  it('is the cluster topology: PostgreSQL, migrations once, 2 API-only processes, 2 workers with metrics, nginx, Prometheus', () => {
    assert.deepEqual(Object.keys(s).sort(), ['api-1', 'api-2', 'migrate', 'nginx', 'postgres', 'prometheus', 'worker-1', 'worker-2']);
    assert.deepEqual(s.migrate!.command, ['migrate']);
    for (const api of ['api-1', 'api-2']) {
      assert.deepEqual(s[api]!.command, ['serve']);
      assert.equal(s[api]!.environment!.TESSERA_WORKER, 'off');
      assert.equal(s[api]!.environment!.PORT, '8080');
    }
    for (const w of ['worker-1', 'worker-2']) {
      assert.deepEqual(s[w]!.command, ['worker']);
      assert.equal(s[w]!.environment!.TESSERA_METRICS_PORT, '9464');
    }
    for (const t of ['migrate', 'api-1', 'api-2', 'worker-1', 'worker-2']) {
      const env = s[t]!.environment!;
      assert.match(env.DATABASE_URL!, /^postgres:\/\/.*@postgres:5432\//, t);
      assert.equal(env.TESSERA_ENV, 'production', t);
      assert.match(env.TESSERA_MASTER_KEY!, /^\$\{TESSERA_MASTER_KEY:\?/, `${t} requires the master key`);
      assert.equal(s[t]!.image, 'tessera:local');
    }
  });

  it('sets only variables Tessera reads, with values its configuration accepts', () => {
    const known = new Set(configVariables());
    for (const [name, service] of Object.entries(s)) {
      if (!['migrate', 'api-1', 'api-2', 'worker-1', 'worker-2'].includes(name)) continue;
      const env = service.environment!;
      for (const v of Object.keys(env)) assert.ok(known.has(v), `${name}: ${v} is not read by src/config.ts`);
      // Interpolations replaced by what an operator would set; loadConfig throws on a bad value.
      const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace(/\$\{([A-Z_]+)[^}]*\}/g, (_m, n: string) => (n === 'TESSERA_MASTER_KEY' ? Buffer.alloc(32, 1).toString('base64') : n === 'TESSERA_PUBLIC_URL' ? 'http://localhost:8080' : 'tessera'))]));
      const config = loadConfig(resolved);
      assert.equal(config.databaseUrl?.startsWith('postgres://'), true);
    }
  });

  it('puts nginx in front with the cluster’s rules, and nginx accepts them', () => {
    assert.equal(read('deploy/nginx.conf'), COMPOSE_NGINX(), 'regenerate: node scripts/cluster.ts --compose-nginx > deploy/nginx.conf');
    const conf = read('deploy/nginx.conf');
    assert.match(conf, /server api-1:8080/);
    assert.match(conf, /server api-2:8080/);
    assert.match(conf, /proxy_next_upstream error non_idempotent;/);
    assert.doesNotMatch(nginxConfig({ mode: 'local', dir: '/x', port: 1, upstreams: ['a:1'] }).replace(/location @keyed_post[\s\S]*/, ''), /non_idempotent;/, 'only keyed POSTs may be replayed');
    if (!existsSync(NGINX)) return;
    const dir = mkdtempSync(join(tmpdir(), 'tessera-nginx-t-'));
    try {
      // Container names and the container's stdio (a socket here) stand in for what the image has.
      const local = conf.replace('api-1:8080', '127.0.0.1:1').replace('api-2:8080', '127.0.0.1:2').replaceAll('/dev/stderr', `${dir}/error.log`).replaceAll('/dev/stdout', `${dir}/access.log`);
      writeFileSync(join(dir, 'nginx.conf'), local);
      const r = spawnSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `pid ${dir}/nginx.pid;`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scrapes every API process and every worker directly', () => {
    const prom = parse(read('deploy/prometheus.yml')) as { scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[] };
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((x) => x.targets)).sort();
    assert.deepEqual(targets, ['api-1:8080', 'api-2:8080', 'worker-1:9464', 'worker-2:9464']);
    for (const c of prom.scrape_configs) assert.equal(c.metrics_path, '/metrics');
  });
});

describe('Dockerfile', () => {
  const file = read('Dockerfile');

  it('is multi-stage on Node 24, ships production dependencies only, runs as non-root with a health check and a data volume', () => {
    assert.ok((file.match(/^FROM node:24-bookworm-slim/gm) ?? []).length >= 2);
    assert.match(file, /npm ci --omit=dev/);
    assert.match(file, /^USER node$/m);
    assert.match(file, /^HEALTHCHECK .*[\s\S]*\/health/m);
    assert.match(file, /^VOLUME \["\/data"\]$/m);
    assert.match(file, /^ENTRYPOINT \["node", "bin\/tessera.js"\]$/m);
    // The runtime stage copies node_modules from the production stage, never the build stage.
    const runtime = file.slice(file.lastIndexOf('\nFROM '));
    assert.match(runtime, /COPY --from=prod-deps \/app\/node_modules/);
    assert.doesNotMatch(runtime, /--from=build/);
  });

  it('leaves tests, data and local modules out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'data', 'test', '.git']) assert.ok(ignored.includes(p), p);
  });
});
