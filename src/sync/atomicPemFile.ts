import { randomBytes } from 'node:crypto';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The PEM file holds a private key: owner read/write only, whatever the umask. */
export const PEM_FILE_MODE = 0o600;
export const PREVIOUS_SUFFIX = '.previous';

const temporaryPrefix = (target: string) => `.${basename(target)}.sync-`;
const TEMPORARY_SUFFIX = '.tmp';

/**
 * Replaces the PEM file at `path` so that a reader, a crash or a power cut finds the old file or the
 * new one, whole, never a mix or a truncated file: the path itself is only ever changed by rename(2)
 * of a complete, fsynced file from the same directory, and the directory is fsynced after it.
 *
 * `previousContent` (what the path held) is kept as `{path}.previous` the same way, before the path
 * changes, so a crash between the two leaves the old certificate in both. Run as root, the new files
 * keep the owner and group of the file they replace, so the service that reads it still can.
 */
export async function replacePemFile(path: string, content: string, previousContent?: Buffer): Promise<void> {
  await removeLeftoverTemporaries(path);
  const owner = await ownerToKeep(path);
  if (previousContent !== undefined) await writeThenRename(path + PREVIOUS_SUFFIX, previousContent, owner);
  await writeThenRename(path, Buffer.from(content, 'utf8'), owner);
}

interface Owner {
  readonly uid: number;
  readonly gid: number;
}

async function ownerToKeep(path: string): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const { uid, gid } = await stat(path);
    return { uid, gid };
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}

async function writeThenRename(target: string, content: Buffer, owner: Owner | undefined): Promise<void> {
  const temporary = join(dirname(target), `${temporaryPrefix(target)}${randomBytes(8).toString('hex')}${TEMPORARY_SUFFIX}`);
  // 'wx': a fresh file of our own (never follows a planted symlink); the mode is set again below
  // because open's mode is filtered by the umask.
  const handle = await open(temporary, 'wx', PEM_FILE_MODE);
  try {
    try {
      await handle.chmod(PEM_FILE_MODE);
      if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(target));
}

/** Makes the rename itself durable: without it a power cut can bring back the old directory entry. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems (and platforms) cannot fsync a directory; the rename is still atomic there.
    if (!isCode(error, 'EINVAL') && !isCode(error, 'ENOTSUP') && !isCode(error, 'EISDIR') && !isCode(error, 'EPERM')) throw error;
  } finally {
    await handle.close();
  }
}

/** A run killed between writing and renaming leaves a temporary file holding a key: the next run removes it. */
async function removeLeftoverTemporaries(path: string): Promise<void> {
  const prefixes = [temporaryPrefix(path), temporaryPrefix(path + PREVIOUS_SUFFIX)];
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch (error) {
    if (isCode(error, 'ENOENT')) return;
    throw error;
  }
  for (const name of names) {
    if (name.endsWith(TEMPORARY_SUFFIX) && prefixes.some((prefix) => name.startsWith(prefix))) {
      await unlink(join(dirname(path), name)).catch(() => undefined);
    }
  }
}

function isCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | null)?.code === code;
}
