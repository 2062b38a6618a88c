import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ApiClient } from './apiClient.js';
import { EXIT, UsageError, type CliIo } from './cliIo.js';

/**
 * A command of `entra-cert-rotator` over the HTTP API (docs/http-api.md), and what the commands
 * share: each reads its arguments, makes the calls, and prints a table (or the API's JSON with
 * --json). A private key is only ever written to a file of mode 0600, and its password to another
 * such file or stderr; nothing a command prints on stdout carries key material. The commands
 * themselves: appCommands.ts (one app) and fleetCommands.ts (many apps at once).
 */

export type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface CommandContext {
  readonly io: CliIo;
  readonly api: () => ApiClient;
  readonly args: readonly string[];
  readonly values: Values;
  readonly json: boolean;
}

export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly options: readonly string[];
  readonly summary: string;
  readonly run: (context: CommandContext) => Promise<number>;
}

export const text = (values: Values, name: string): string | undefined => values[name] as string | undefined;
export const list = (values: Values, name: string): string[] | undefined => values[name] as string[] | undefined;
export const enc = encodeURIComponent;

export function print(context: CommandContext, json: unknown, render: () => string): number {
  context.io.stdout(context.json ? `${JSON.stringify(json, null, 2)}\n` : render());
  return EXIT.ok;
}

export function wholeNumber(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${option} must be a whole number`);
  return Number(value);
}

/** Writes a secret file: 0600 from its creation, and never over an existing file unless --force. */
export function writeSecretFile(context: CommandContext, path: string, content: string | Buffer): string {
  const file = resolve(context.io.cwd, path);
  if (existsSync(file) && !context.values.force) throw new UsageError(`${file} exists: choose another file, or add --force to replace it`);
  writeFileSync(file, content, { mode: 0o600, flag: context.values.force ? 'w' : 'wx' });
  return file;
}

/** A password goes to its own 0600 file when asked, else to stderr: never to stdout beside the key. */
export function handOverPassword(context: CommandContext, password: string): void {
  const target = text(context.values, 'password-file');
  if (target) context.io.stderr(`password written to ${writeSecretFile(context, target, `${password}\n`)}\n`);
  else context.io.stderr(`PFX password (shown once): ${password}\n`);
}
