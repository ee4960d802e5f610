/**
 * Finds actor classes by module + export on the thread that runs them (each thread imports a module once).
 * A missing module, export or non-class is a `SpawnError` (supervisors stop, rather than restart, on it).
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorText, SpawnError } from './errors.ts';
import type { ActorKind, AnyActorClass } from './protocol.ts';

export class ClassLoader {
  private readonly loaded = new Map<string, AnyActorClass>();
  private readonly loading = new Map<string, Promise<AnyActorClass>>();

  /** The class if this thread already loaded it (synchronous spawn), otherwise a promise of it. */
  resolve(kind: ActorKind<AnyActorClass>, path: string): AnyActorClass | Promise<AnyActorClass> {
    return this.loaded.get(keyOf(kind)) ?? this.load(kind, path);
  }

  load(kind: ActorKind<AnyActorClass>, path: string): Promise<AnyActorClass> {
    const key = keyOf(kind);
    const cached = this.loaded.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.loading.get(key);
    if (pending === undefined) {
      pending = importClass(kind, path).then(
        (cls) => {
          this.loaded.set(key, cls);
          this.loading.delete(key);
          return cls;
        },
        (error: unknown) => {
          this.loading.delete(key);
          throw error;
        },
      );
      this.loading.set(key, pending);
    }
    return pending;
  }
}

function keyOf(kind: ActorKind<AnyActorClass>): string {
  return `${kind.module}#${kind.exportName}`;
}

/** Absolute file paths become file URLs; URLs and package specifiers are imported as given. */
function specifierOf(module: string): string {
  return isAbsolute(module) ? pathToFileURL(module).href : module;
}

async function importClass(kind: ActorKind<AnyActorClass>, path: string): Promise<AnyActorClass> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(specifierOf(kind.module))) as Record<string, unknown>;
  } catch (error) {
    throw new SpawnError(path, `cannot import ${kind.module}: ${errorText(error)}`);
  }
  const exported = namespace[kind.exportName];
  if (typeof exported !== 'function') {
    throw new SpawnError(path, `${kind.module} has no class export named ${kind.exportName}`);
  }
  return exported as AnyActorClass;
}
