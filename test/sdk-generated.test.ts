import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { buildOpenApiDocument, GENERATED_PATH, renderGeneratedTypes } from '../sdk/scripts/generate.ts';
import { schemaToTs } from '../sdk/scripts/openapi-to-ts.ts';

const run = promisify(execFile);

describe('SDK types generated from the OpenAPI document', () => {
  it('sdk/src/generated/openapi.ts is what npm run sdk:generate writes now (fails when a route schema changed without regenerating)', async () => {
    const fresh = await renderGeneratedTypes();
    assert.ok(fresh === readFileSync(GENERATED_PATH, 'utf8'), 'sdk/src/generated/openapi.ts is stale: run npm run sdk:generate and commit it');
  });

  it('every route of the three faces (and the sandbox) is in the document with a typed success answer', async () => {
    const doc = await buildOpenApiDocument();
    const ops = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })));
    for (const prefix of ['/api/', '/cof/v1/', '/sandbox/v1/', '/authz/v1/', '/banking/v1/']) assert.ok(ops.some((o) => o.key.includes(` ${prefix}`)), prefix);
    const untyped = ops
      .filter((o) => /^\w+ \/(api|cof|sandbox|authz|banking)\//.test(o.key))
      .filter((o) => !Object.entries(o.op.responses ?? {}).some(([status, r]) => status.startsWith('2') && r.content?.['application/json']?.schema));
    assert.deepEqual(untyped.map((o) => o.key), [], 'routes whose success answer has no schema');
  });

  it('turns the JSON Schema TypeBox emits into TypeScript', () => {
    const t = schemaToTs({
      type: 'object',
      required: ['a', 'b'],
      properties: {
        a: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        b: { type: 'array', items: { enum: ['X', 'Y'] } },
        'c-d': { type: 'integer', description: 'doc' },
      },
      additionalProperties: false,
    });
    assert.equal(t, '{\n  a: string | null;\n  b: Array<"X" | "Y">;\n  /** doc */\n  "c-d"?: number;\n}');
    assert.equal(schemaToTs({ type: 'object', additionalProperties: { type: 'number' } }), '{\n  [key: string]: number;\n}');
    assert.equal(schemaToTs({ type: 'weird' }), 'unknown');
  });

  it('builds to sdk/dist-style ESM with declarations that import and run without TypeScript', async () => {
    // Inside the repo, so the build resolves `jose` from node_modules as an installed package would.
    const out = mkdtempSync(join('sdk', '.build-test-'));
    try {
      await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'sdk/tsconfig.build.json', '--outDir', out]);
      const sdk = (await import(pathToFileURL(resolve(out, 'index.js')).href)) as Record<string, unknown>;
      for (const name of ['MerchantClient', 'NetworkTokenClient', 'IssuerClient', 'TesseraApiError', 'verifyNotification', 'verifyWebhook']) assert.equal(typeof sdk[name], 'function', name);
      assert.match(readFileSync(join(out, 'index.d.ts'), 'utf8'), /MerchantClient/);
      assert.doesNotMatch(readFileSync(join(out, 'merchant.js'), 'utf8'), /from '\.\/[\w-]+\.ts'/, 'relative imports are rewritten to .js');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
