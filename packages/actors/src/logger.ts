/**
 * The logging surface the runtime needs: a subset of pino's `Logger`, so an injected pino logger fits and the
 * default is a no-op (library code never writes to the console on its own).
 */
export interface Logger {
  child(bindings: Record<string, unknown>): Logger;
  debug(obj: object, message?: string): void;
  info(obj: object, message?: string): void;
  warn(obj: object, message?: string): void;
  error(obj: object, message?: string): void;
}

const noop = (): void => {};

export const silentLogger: Logger = {
  child: () => silentLogger,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
};
