/**
 * The bank demo, short: a local 3-process cluster, transfers under load, a kill -9 of the leader node and its
 * restart; every transfer settles and money is conserved.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('the bank demo conserves money across a leader kill (JSON line, exit 0)', {
  timeout: 120_000,
}, async () => {
  const demo = fileURLToPath(new URL('../src/demo.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', demo, '--duration', '8', '--base-port', '7600'],
    { stdio: 'pipe' },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
  try {
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const line = stdout.split('\n').find((l) => l.startsWith('{"demo":"bank"'));
    assert.ok(line, `no JSON line; stderr: ${stderr}`);
    const result = JSON.parse(line) as Record<string, unknown>;
    assert.equal(result.conserved, true, line);
    assert.equal(result.lost, 0, line);
    assert.ok((result.node_kills as number) >= 1);
    assert.ok((result.acked as number) > 100, line);
    assert.equal(code, 0, stderr);
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
