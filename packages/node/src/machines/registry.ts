/**
 * The machine kinds a thread can run: the node's built-ins (the catalog, the KV store) plus the application
 * loaded by module reference — the way actor kinds are — so the same definitions run on the main thread and
 * on every host thread. Each thread imports an app module once.
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AnyMachine, type AppDefinition, defineApp, isAppDefinition, mergeApps } from '@flotilla/app';
import { InvalidConfigError } from '@flotilla/core';
import { KvMachine, MemoryKvMachine } from '@flotilla/kv';
import { CatalogMachine } from '../cluster/catalog.ts';

/** Where a thread finds the application: a module (URL or absolute path) and its export (default `app`). */
export interface AppRef {
  readonly module: string;
  readonly export?: string;
}

/** Where the built-in KV keeps its entries: the LMDB store (may outgrow memory) or memory (faster). */
export type KvState = 'store' | 'memory';

/** The kinds every node has. */
export function builtinApp(kvState: KvState = 'store'): AppDefinition {
  return defineApp({ machines: [CatalogMachine, kvState === 'store' ? KvMachine : MemoryKvMachine] });
}

export class Registry {
  constructor(readonly app: AppDefinition) {}

  machine(kind: string): AnyMachine | undefined {
    return this.app.machines.get(kind);
  }

  has(kind: string): boolean {
    return this.app.machines.has(kind);
  }

  get kinds(): string[] {
    return [...this.app.machines.keys()].sort();
  }
}

const loaded = new Map<string, Promise<Registry>>();

function specifier(module: string): string {
  return isAbsolute(module) ? pathToFileURL(module).href : module;
}

/** The registry of this thread for `ref` (built-ins only without one); imported once per thread. */
export function loadRegistry(ref: AppRef | undefined, kvState: KvState = 'store'): Promise<Registry> {
  const key = `${kvState}|${ref === undefined ? '' : `${ref.module}#${ref.export ?? 'app'}`}`;
  let registry = loaded.get(key);
  if (registry === undefined) {
    const builtin = builtinApp(kvState);
    registry = importApp(ref).then(
      (app) => new Registry(app === undefined ? builtin : mergeApps(builtin, app)),
    );
    loaded.set(key, registry);
    registry.catch(() => loaded.delete(key));
  }
  return registry;
}

async function importApp(ref: AppRef | undefined): Promise<AppDefinition | undefined> {
  if (ref === undefined) return undefined;
  const name = ref.export ?? 'app';
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(specifier(ref.module))) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidConfigError('app.module', `cannot import ${ref.module}: ${(error as Error).message}`);
  }
  const app = namespace[name];
  if (!isAppDefinition(app))
    throw new InvalidConfigError('app.export', `${ref.module} has no export ${name} made by defineApp`);
  return app;
}
