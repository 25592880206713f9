import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalize } from '../src/domain/jcs.ts';
import { BatchReader } from '../src/services/batch-reader.ts';

describe('RFC 8785 canonical JSON', () => {
  it('sorts keys by UTF-16 code units and serializes numbers as ECMAScript does (RFC 8785 §3.2.3 example)', () => {
    const input = JSON.parse('{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}');
    assert.equal(
      canonicalize(input),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    assert.equal(canonicalize({ '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, 'ö': 4, '1': 5 }), '{"\\r":2,"1":5,"ö":4,"€":1,"😀":3}');
  });

  it('refuses what JSON cannot hold', () => {
    assert.throws(() => canonicalize(Number.NaN));
    assert.throws(() => canonicalize(undefined));
  });
});

describe('the streaming batch-file reader', () => {
  const doc = { signature: 'p..s', header: { batchId: 'B1', x: [1, { y: '}"]' }] }, records: [{ rowId: 1, s: 'é"{\\' }, { rowId: 2, n: -1.5e3 }, 3, 'str', null] };
  const text = Buffer.from(JSON.stringify(doc, null, 2));

  for (const size of [1, 3, 64, text.length]) {
    it(`yields every top-level field and record whatever the chunk size (${size} bytes)`, () => {
      const reader = new BatchReader();
      const events = [];
      for (let i = 0; i < text.length; i += size) events.push(...reader.push(text.subarray(i, i + size)));
      events.push(...reader.end());
      assert.deepEqual(events, [
        { kind: 'field', key: 'signature', value: 'p..s' },
        { kind: 'field', key: 'header', value: doc.header },
        { kind: 'field', key: 'records', value: undefined },
        ...doc.records.map((value) => ({ kind: 'record', value })),
      ]);
    });
  }

  for (const bad of ['{"records": [1,', '{"a":1}x', '[1]', '{"records": {}}', '{"records": [{"a":}]}', '']) {
    it(`refuses malformed input ${JSON.stringify(bad)} with invalid_json`, () => {
      assert.throws(
        () => {
          const r = new BatchReader();
          r.push(Buffer.from(bad));
          r.end();
        },
        (e: { code?: string }) => e.code === 'invalid_json',
      );
    });
  }
});
