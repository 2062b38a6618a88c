import { createRequire } from 'node:module';
import type * as AzureFunctions from '@azure/functions';

/**
 * A stand-in for `@azure/functions-core`, the module the real Azure Functions Node worker injects
 * into the app's process. `@azure/functions` looks for it at its first registration; when found, it
 * hands every `app.http` / `app.timer` / `app.storageQueue` call to `registerFunction` with the
 * function's binding metadata and handler. Providing it here, the way the worker does (by
 * intercepting `require`), lets the local host receive exactly what Azure would, from the same
 * src/index.ts, with no second list of functions to keep in step.
 */

export interface BindingMetadata {
  readonly type: string;
  readonly direction: 'in' | 'out';
  readonly name: string;
  readonly [key: string]: unknown;
}

export interface FunctionMetadata {
  readonly name: string;
  readonly bindings: Readonly<Record<string, BindingMetadata>>;
}

export type FunctionHandler = (...args: unknown[]) => unknown;

export interface RegisteredFunction {
  readonly name: string;
  readonly trigger: BindingMetadata;
  readonly bindings: Readonly<Record<string, BindingMetadata>>;
  readonly handler: FunctionHandler;
}

/**
 * The classes an invocation is built from. The worker builds them with the programming model of the
 * app's own `@azure/functions`, so the host takes them from the copy the app resolves (localHost.ts).
 */
export type FunctionsLibrary = Pick<typeof AzureFunctions, 'HttpRequest' | 'HttpResponse' | 'InvocationContext'>;

export type CoreLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';

export interface FunctionsCoreOptions {
  readonly log: (level: CoreLogLevel, category: string, message: string) => void;
}

const registered: RegisteredFunction[] = [];
let installed = false;

/** Installs the stand-in; must run before src/index.ts is imported. Idempotent. */
export function installFunctionsCore(options: FunctionsCoreOptions): void {
  if (installed) return;
  installed = true;
  const coreApi = {
    version: '4.0.0-local-host',
    hostVersion: '4.0.0-local-host',
    setProgrammingModel(): void {},
    getProgrammingModel(): undefined {
      return undefined;
    },
    registerHook() {
      return { dispose() {} };
    },
    log: options.log,
    registerFunction(metadata: FunctionMetadata, handler: FunctionHandler) {
      const trigger = Object.values(metadata.bindings).find((b) => /trigger$/i.test(b.type));
      if (!trigger) throw new Error(`Function "${metadata.name}" has no trigger binding`);
      if (registered.some((f) => f.name === metadata.name)) throw new Error(`A function named "${metadata.name}" is already registered`);
      registered.push({ name: metadata.name, trigger, bindings: metadata.bindings, handler });
      return { dispose() {} };
    },
  };
  // The worker does the same: `@azure/functions` is CommonJS and reaches the core API through require().
  const require = createRequire(import.meta.url);
  const Module = require('node:module') as { prototype: { require: (id: string) => unknown } };
  const original = Module.prototype.require;
  Module.prototype.require = function (this: unknown, id: string) {
    if (id === '@azure/functions-core') return coreApi;
    return original.call(this, id);
  };
}

export function registeredFunctions(): readonly RegisteredFunction[] {
  return registered;
}
