import { readFile } from 'node:fs/promises';
import { replacePemFile, PREVIOUS_SUFFIX } from './atomicPemFile.js';
import { SyncFailure, type CertificateSource } from './certificateSource.js';
import { execAfterReplace } from './execAfterReplace.js';
import type { JsonLog } from './jsonLog.js';
import { isUnreadable, readPemBundle, readSecretValue, writePemBundle, type CertificateWithKey } from './pemBundle.js';
import { decideReplacement, factsOf } from './replaceDecision.js';
import { EXIT, type SyncOptions } from './syncOptions.js';

export interface CycleDependencies {
  readonly source: CertificateSource;
  readonly log: JsonLog;
  readonly now: () => Date;
  /** The environment the `--exec` command inherits. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the `--exec` command's output goes (stderr: stdout is the JSON log's). */
  readonly forwardExecOutput: (text: string) => void;
  /** Stops the network part of a cycle (SIGTERM); a file write, once begun, always finishes. */
  readonly stop: AbortSignal;
}

interface CurrentFile {
  readonly bytes: Buffer;
  readonly certificate: CertificateWithKey;
}

/**
 * One cycle: read the file, sign in with it, read the vault's latest version, decide, prove, replace,
 * run `--exec`. Returns the exit status (EXIT) and logs exactly one outcome event (replaced,
 * unchanged, rejected, deferred or error), plus `checked` and `exec` when they happen.
 */
export async function runSyncCycle(options: SyncOptions, dependencies: CycleDependencies): Promise<number> {
  const { log } = dependencies;
  const where = { vaultUrl: options.vaultUrl, name: options.name, file: options.file };
  const signal = AbortSignal.any([dependencies.stop, AbortSignal.timeout(options.timeoutInMs)]);
  try {
    const current = await readCurrentFile(options);
    const latest = await dependencies.source.readLatest(current && current.bytes.toString('utf8'), signal);
    const candidate = readSecretValue(latest.value, latest.contentType);
    if (isUnreadable(candidate)) {
      log.write('warn', 'rejected', `The vault's latest version cannot be used: ${candidate.unreadable}; the file is kept`, {
        ...where,
        version: latest.version,
        reason: 'unreadable',
      });
      return EXIT.rejected;
    }
    const facts = factsOf(candidate);
    const currentFacts = current && factsOf(current.certificate);
    const seen = {
      ...where,
      version: latest.version,
      thumbprint: facts.thumbprint,
      notBefore: facts.notBefore.toISOString(),
      notAfter: facts.notAfter.toISOString(),
      currentThumbprint: currentFacts?.thumbprint ?? null,
      currentNotAfter: currentFacts?.notAfter.toISOString() ?? null,
    };
    log.write('info', 'checked', "Read the vault's latest version", seen);

    const decision = decideReplacement(currentFacts, facts, dependencies.now());
    if (decision.action === 'unchanged') {
      log.write('info', 'unchanged', 'The file already holds the latest version', seen);
      return EXIT.ok;
    }
    if (decision.action === 'reject') {
      log.write('warn', 'rejected', decision.message, { ...seen, reason: decision.reason });
      return EXIT.rejected;
    }

    const content = writePemBundle(candidate);
    if (dependencies.source.proveSignIn) await dependencies.source.proveSignIn(content, signal);
    try {
      await replacePemFile(options.file, content, current?.bytes);
    } catch (error) {
      throw new SyncFailure('file', `Writing ${options.file} failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    log.write(
      'info',
      'replaced',
      `Replaced the file with the vault's latest version${current ? `; the old one is ${options.file}${PREVIOUS_SUFFIX}` : ''}`,
      {
        ...seen,
        previousFile: current ? options.file + PREVIOUS_SUFFIX : null,
      },
    );
    return options.exec === undefined ? EXIT.ok : await runExec(options, dependencies, facts.thumbprint, facts.notAfter);
  } catch (error) {
    const failure = error instanceof SyncFailure ? error : undefined;
    const deferred = failure?.kind === 'not-accepted';
    const message = error instanceof Error ? error.message : String(error);
    log.write(deferred ? 'warn' : 'error', deferred ? 'deferred' : 'error', message, { ...where, kind: failure?.kind ?? 'unexpected' });
    return EXIT.failed;
  }
}

async function readCurrentFile(options: SyncOptions): Promise<CurrentFile | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(options.file);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' && options.credential === 'default') return undefined;
    throw new SyncFailure(
      'file',
      code === 'ENOENT'
        ? `${options.file} does not exist: the certificate credential signs in with it. Put the app's current PEM there (an Admin can download one), or run with --credential default where this host has an identity that may read the secret.`
        : `Reading ${options.file} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const certificate = readPemBundle(bytes.toString('utf8'));
  if (isUnreadable(certificate)) {
    // Never overwritten: a path that does not hold a certificate and key may well be the wrong path.
    throw new SyncFailure(
      'file',
      `${options.file} is not a PEM certificate with its private key (${certificate.unreadable}); it is left as it is`,
    );
  }
  return { bytes, certificate };
}

async function runExec(options: SyncOptions, dependencies: CycleDependencies, thumbprint: string, notAfter: Date): Promise<number> {
  const command = options.exec!;
  const result = await execAfterReplace(
    command,
    {
      ...dependencies.env,
      ENTRA_CERT_SYNC_FILE: options.file,
      ENTRA_CERT_SYNC_THUMBPRINT: thumbprint,
      ENTRA_CERT_SYNC_NOT_AFTER: notAfter.toISOString(),
    },
    options.timeoutInMs,
    dependencies.forwardExecOutput,
  );
  const fields = { file: options.file, command, exitCode: result.exitCode, signal: result.signal };
  if (result.ok) {
    dependencies.log.write('info', 'exec', 'The --exec command succeeded', fields);
    return EXIT.ok;
  }
  const why = result.problem ?? (result.signal ? `killed by ${result.signal}` : `exit status ${String(result.exitCode)}`);
  dependencies.log.write('error', 'exec', `The file was replaced, but the --exec command failed (${why})`, fields);
  return EXIT.execFailed;
}
