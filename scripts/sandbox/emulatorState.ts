import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The emulators' state on disk (`.sandbox/state/{name}.json`), so the emulated tenant survives a
 * restart. Written whenever it changed (checked every second) and at shutdown; each file is replaced
 * atomically (write, then rename) so a crash leaves the previous snapshot, never half of one.
 * The files hold the emulators' private keys and secrets: sandbox data on the local disk only.
 */
export interface Snapshotting<T> {
  snapshot(): T;
  restore(snapshot: T): void;
}

export class EmulatorState {
  readonly #dir: string;
  readonly #members = new Map<string, Snapshotting<unknown>>();
  readonly #written = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Adds an emulator and restores it from its file when there is one; true when it was restored. */
  track<T>(name: string, emulator: Snapshotting<T>): boolean {
    this.#members.set(name, emulator);
    const file = this.#file(name);
    if (!existsSync(file)) return false;
    const text = readFileSync(file, 'utf8');
    emulator.restore(JSON.parse(text) as T);
    this.#written.set(name, text);
    return true;
  }

  /** Writes every snapshot that changed since it was last written. */
  save(): void {
    for (const [name, emulator] of this.#members) {
      const text = JSON.stringify(emulator.snapshot());
      if (this.#written.get(name) === text) continue;
      const file = this.#file(name);
      writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
      this.#written.set(name, text);
    }
  }

  saveEvery(ms: number): void {
    this.#timer = setInterval(() => this.save(), ms);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.save();
  }

  #file(name: string): string {
    return join(this.#dir, `${name}.json`);
  }
}

/** The sandbox's own small record: that the tenant was seeded, and the keys it handed out. */
export interface TenantRecord {
  readonly seededAt: string;
  /** The managed identity's X-IDENTITY-HEADER, kept so the restored authority knows it. */
  readonly identityHeader: string;
  readonly emailAccessKey: string;
}

export function readTenantRecord(stateDir: string): TenantRecord | undefined {
  const file = join(stateDir, 'tenant.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as TenantRecord) : undefined;
}

export function writeTenantRecord(stateDir: string, record: TenantRecord): void {
  writeFileSync(join(stateDir, 'tenant.json'), JSON.stringify(record, null, 2), { mode: 0o600 });
}
