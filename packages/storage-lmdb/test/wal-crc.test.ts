/**
 * CRC-32C of the WAL records: the published check value and the iSCSI test vectors (RFC 3720 B.4), and
 * continuing a CRC over a split buffer gives the CRC of the whole.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c } from '../src/index.ts';

const bytes = (f: (i: number) => number, n = 32) => Uint8Array.from({ length: n }, (_, i) => f(i));

describe('crc32c', () => {
  it('matches the known vectors', () => {
    assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(bytes(() => 0)), 0x8a9136aa);
    assert.equal(crc32c(bytes(() => 0xff)), 0x62a8ab43);
    assert.equal(crc32c(bytes((i) => i)), 0x46dd794e);
    assert.equal(crc32c(bytes((i) => 31 - i)), 0x113fdb5c);
  });

  it('continues a CRC across a split at any point, and on subranges', () => {
    const data = bytes((i) => (i * 131 + 7) & 0xff, 1000);
    const whole = crc32c(data);
    for (const k of [0, 1, 7, 8, 9, 500, 999, 1000]) {
      assert.equal(crc32c(data, k, data.length, crc32c(data, 0, k)), whole, `split at ${k}`);
    }
    assert.equal(crc32c(data, 100, 200), crc32c(data.subarray(100, 200)));
    const flipped = Uint8Array.from(data);
    flipped[613] = (flipped[613] as number) ^ 0x10;
    assert.notEqual(crc32c(flipped), whole, 'a single flipped bit changes the CRC');
  });
});
