// Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and says where the CPU went: self time per
// function, per package/module, and per group (fastify, jose, kysely, node:sqlite, crypto, pino,
// our code, ...). Used by `npm run bench -- --profile`; also runs alone:
//   node bench/profile.ts <file.cpuprofile> [--top 15]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
/** The `.cpuprofile` format: a call tree, the sampled node per tick and the µs between ticks. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Row {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time. */
  share: number;
  /** For functions: the nearest frames of ours (src/) above them, with their share. */
  via?: string;
}

export interface ProfileSummary {
  /** Sampled ms outside `(idle)`. */
  busyMs: number;
  idleMs: number;
  /** True when the samples were cut to the measured windows. */
  windowed: boolean;
  functions: Row[];
  modules: Row[];
  groups: Row[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const PACKAGE_GROUPS: Record<string, string[]> = {
  fastify: [
    'fastify', '@fastify/', 'find-my-way', 'avvio', 'fast-json-stringify', 'ajv', 'ajv-formats', 'fast-uri', 'fast-deep-equal',
    'secure-json-parse', 'light-my-request', 'abstract-logging', 'process-warning', 'rfdc', 'toad-cache', 'fast-querystring',
    'fastq', 'reusify', 'fast-decode-uri-component', 'safe-regex2', 'ret', 'json-schema-ref-resolver', 'dequal', 'semver',
  ],
  pino: ['pino', 'sonic-boom', '@pinojs/', 'pino-std-serializers', 'quick-format-unescaped', 'safe-stable-stringify', 'atomic-sleep', 'on-exit-leak-free', 'thread-stream'],
  jose: ['jose'],
  kysely: ['kysely'],
  typebox: ['typebox', '@fastify/type-provider-typebox'],
};

/** `file:///…/node_modules/@a/b/x.js` → `@a/b`. */
function packageOf(path: string): string | undefined {
  const at = path.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const parts = path.slice(at + '/node_modules/'.length).split('/');
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

function groupOfPackage(pkg: string): string {
  for (const [group, names] of Object.entries(PACKAGE_GROUPS)) {
    if (names.some((n) => (n.endsWith('/') ? pkg.startsWith(n) : pkg === n))) return group;
  }
  return `other packages`;
}

/** Module (package, core module or our file) and group of a frame that has a URL. */
function classify(url: string): { module: string; group: string } {
  if (url.startsWith('node:')) {
    const module = url;
    if (/^node:(internal\/)?crypto/.test(url)) return { module, group: 'crypto' };
    if (url === 'node:sqlite') return { module, group: 'node:sqlite' };
    if (/^node:(_http|http|net|internal\/(http|streams|stream_base|net|dns|url|timers|async_hooks|process\/task_queues)|stream|events|internal\/event)/.test(url)) {
      return { module, group: 'node core: http/net/streams/events' };
    }
    return { module, group: 'node core: other' };
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const pkg = packageOf(path);
  if (pkg) return { module: pkg, group: groupOfPackage(pkg) };
  const rel = relative(ROOT, path);
  if (rel.startsWith('src/') || rel.startsWith('bin/')) return { module: rel, group: 'our code' };
  return { module: rel || path, group: 'other' };
}

const SPECIAL: Record<string, string> = {
  '(garbage collector)': 'V8: garbage collector',
  '(program)': 'V8: (program) — native, not attributed',
  '(root)': 'V8: (program) — native, not attributed',
};

/**
 * Self time per frame, with native frames (no URL: C++ bindings such as node:sqlite's `run` or a
 * Hash's `digest`) charged to their caller's group, except natives called from our SQLite adapter,
 * which are node:sqlite itself.
 */
export function summarize(profile: CpuProfile, windowsUs: Array<[number, number]> = [], top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const labels = new Map<number, { fn: string; module: string; group: string }>();
  function label(id: number): { fn: string; module: string; group: string } {
    const cached = labels.get(id);
    if (cached) return cached;
    const frame = byId.get(id)!.callFrame;
    const name = frame.functionName || '(anonymous)';
    let out: { fn: string; module: string; group: string };
    if (SPECIAL[name] || name === '(idle)') {
      out = { fn: name, module: name, group: SPECIAL[name] ?? '(idle)' };
    } else if (frame.url.endsWith('/src/storage/node-sqlite-dialect.ts') && ['run', 'all', 'iterate'].includes(name)) {
      // V8 charges a C++ binding's time to the JS function that called it: the adapter's one-line
      // run/all/iterate are SQLite executing the statement (and its file I/O), not our code.
      out = { fn: `StatementSync.${name} (node:sqlite, via ${relative(ROOT, fileURLToPath(frame.url))}:${frame.lineNumber + 1})`, module: 'node:sqlite', group: 'node:sqlite' };
    } else if (frame.url) {
      const { module, group } = classify(frame.url);
      out = { fn: `${name} ${module}:${frame.lineNumber + 1}`, module, group };
    } else {
      const up = parent.get(id);
      const caller = up === undefined ? undefined : label(up);
      const viaSqlite = caller?.module.endsWith('node-sqlite-dialect.ts') ?? false;
      const group = viaSqlite ? 'node:sqlite' : (caller?.group ?? 'other');
      const module = viaSqlite ? 'node:sqlite (native)' : `native via ${caller?.module ?? '?'}`;
      out = { fn: `${name} [native, from ${caller?.fn ?? '?'}]`, module, group };
    }
    labels.set(id, out);
    return out;
  }

  // Sample i lasts until sample i+1 (timeDeltas[i+1]); the last one gets the mean interval.
  const n = profile.samples.length;
  const mean = n > 1 ? (profile.endTime - profile.startTime) / n : 0;
  let t = profile.startTime;
  const inWindow = (us: number) => windowsUs.length === 0 || windowsUs.some(([a, b]) => us >= a && us <= b);
  const windowed = windowsUs.length > 0 && profile.startTime <= windowsUs[0]![0] && profile.endTime >= windowsUs[windowsUs.length - 1]![1];
  // The nearest frame of ours above a sample: which of our lines asked for this work.
  const ours = new Map<number, string>();
  function ourCaller(id: number): string {
    const cached = ours.get(id);
    if (cached !== undefined) return cached;
    const up = parent.get(id);
    let out = '-';
    if (up !== undefined) {
      const f = byId.get(up)!.callFrame;
      const rel = f.url.startsWith('file://') ? relative(ROOT, fileURLToPath(f.url)) : '';
      out = rel.startsWith('src/') ? `${f.functionName || '(anonymous)'} ${rel}:${f.lineNumber + 1}` : ourCaller(up);
    }
    ours.set(id, out);
    return out;
  }
  const callers = new Map<string, Map<string, number>>();
  const fnMs = new Map<string, number>();
  const moduleMs = new Map<string, number>();
  const groupMs = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (windowed && !inWindow(t)) continue;
    const ms = (i + 1 < n ? (profile.timeDeltas[i + 1] ?? 0) : mean) / 1000;
    const l = label(profile.samples[i]!);
    if (l.group === '(idle)') {
      idle += ms;
      continue;
    }
    busy += ms;
    fnMs.set(l.fn, (fnMs.get(l.fn) ?? 0) + ms);
    const perCaller = callers.get(l.fn) ?? new Map<string, number>();
    const caller = ourCaller(profile.samples[i]!);
    perCaller.set(caller, (perCaller.get(caller) ?? 0) + ms);
    callers.set(l.fn, perCaller);
    moduleMs.set(l.module, (moduleMs.get(l.module) ?? 0) + ms);
    groupMs.set(l.group, (groupMs.get(l.group) ?? 0) + ms);
  }
  const rows = (m: Map<string, number>, limit: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, ms]) => ({ name, ms, share: busy ? ms / busy : 0 }));
  const functions = rows(fnMs, top).map((r) => {
    const byCaller = [...(callers.get(r.name) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1]).slice(0, 2);
    const via = byCaller.filter(([c]) => c !== '-').map(([c, ms]) => `${c} (${Math.round((ms / r.ms) * 100)}%)`);
    return via.length ? { ...r, via: via.join(', ') } : r;
  });
  return { busyMs: busy, idleMs: idle, windowed, functions, modules: rows(moduleMs, 25), groups: rows(groupMs, 50) };
}

export function formatSummary(s: ProfileSummary): string {
  const table = (title: string, rows: Row[]) =>
    [
      title,
      ...rows.map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}` + (r.via ? `\n${' '.repeat(22)}from ${r.via}` : '')),
    ].join('\n');
  return [
    `CPU profile: ${s.busyMs.toFixed(0)} ms busy, ${s.idleMs.toFixed(0)} ms idle` +
      (s.windowed ? ' (measured windows only)' : ' (whole process lifetime)'),
    table('By group (self time):', s.groups),
    table('By module (self time):', s.modules),
    table(`Top ${s.functions.length} functions (self time):`, s.functions),
  ].join('\n\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    process.stdout.write(`${file}\n${formatSummary(summarize(profile, [], Number(values.top)))}\n`);
  }
}
