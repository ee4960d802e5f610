/**
 * Runs an example's demo script as its own process (bounded in time, killed by pid when over) and returns its
 * exit code, its `{"demo":…}` JSON line parsed, and its output for a failing assertion's message.
 */
import { spawn } from 'node:child_process';

export interface DemoRun {
  readonly code: number | null;
  readonly result: Record<string, unknown> | undefined;
  readonly line: string | undefined;
  readonly stderr: string;
}

export async function runDemo(script: string, args: readonly string[], timeoutMs: number): Promise<DemoRun> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], {
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const line = stdout.split('\n').find((l) => l.startsWith('{"demo":'));
    return { code, line, result: line ? (JSON.parse(line) as Record<string, unknown>) : undefined, stderr };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
