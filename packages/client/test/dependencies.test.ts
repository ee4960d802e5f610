/**
 * The client library installs without the server's dependencies: its whole dependency closure (workspace and
 * npm packages, as installed) holds no LMDB, piscina, prom-client or node package.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SERVER_ONLY = [
  'lmdb',
  'piscina',
  'prom-client',
  'pino',
  '@flotilla/node',
  '@flotilla/storage-lmdb',
  '@flotilla/actors',
  '@flotilla/transport-ws',
];

/** Package name → its directory, for every package the client pulls in (following pnpm's symlinks). */
function closure(root: string): Map<string, string> {
  const seen = new Map<string, string>();
  const visit = (dir: string): void => {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    if (seen.has(manifest.name)) return;
    seen.set(manifest.name, dir);
    for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      // pnpm links a package's dependencies into its own node_modules, or into the store's shared one.
      const candidates = [join(dir, 'node_modules', dep), join(dir, '..', dep), join(dir, '..', '..', dep)];
      const found = candidates.find((c) => existsSync(join(c, 'package.json')));
      if (found) visit(realpathSync(found));
      else if (!manifest.optionalDependencies?.[dep])
        assert.fail(`${manifest.name}: dependency ${dep} not found`);
    }
  };
  visit(root);
  return seen;
}

test('the client library depends on the wire protocol only: no LMDB, piscina, prom-client or server package', () => {
  const packages = closure(dirname(dirname(fileURLToPath(import.meta.url))));
  assert.ok(
    packages.has('@flotilla/app') && packages.has('ws') && packages.has('zod'),
    [...packages.keys()].join(', '),
  );
  for (const name of SERVER_ONLY) assert.ok(!packages.has(name), `${name} is in the client's closure`);
});
