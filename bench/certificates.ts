import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { encodeCer, encodePemBundle } from '../src/lib/certificates/encode.js';
import { createSelfSignedCertificate, type RsaKeyPair } from '../src/lib/certificates/generateCertificate.js';
import { encodePfx, writePfx } from '../src/lib/certificates/pfx.js';
import { readPfx } from '../src/lib/certificates/readPfx.js';
import { machine, median, printResult, round } from './stats.js';

/**
 * What a certificate costs beyond its key: build + sign, PFX, PEM bundle, CER, thumbprints, given an
 * already generated key, beside bare RSA-2048 key generation in the same process (the physical
 * floor, whose time varies with the prime search). Goal: overheadRatio <= 0.15, with native
 * primitives only.
 *
 * Apart from the overhead, reading the PFX back: `readPfx` (native) against node-forge's PKCS#12
 * reader on the same files, the default (AES-256, SHA-256 MAC) and the legacy (3DES, SHA-1 MAC)
 * layout, to judge whether the library is fast enough to replace our reader.
 */
const COUNT = Number(process.env.BENCH_CERTIFICATES ?? 200);
const WARMUP = 10;
const OPENSSL_RUNS = Number(process.env.BENCH_OPENSSL_RUNS ?? 20);
/** node-forge reads a file in tens of milliseconds: one in ten certificates is enough. */
const FORGE_READ_EVERY = 10;

const generateKeyPairAsync = promisify(generateKeyPair);

export async function benchCertificates(): Promise<void> {
  const keygenMs: number[] = [];
  const keys: RsaKeyPair[] = [];
  for (let index = 0; index < COUNT + WARMUP; index++) {
    const start = performance.now();
    const pair = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
    const elapsed = performance.now() - start;
    if (index >= WARMUP) keygenMs.push(elapsed);
    keys.push(pair);
  }

  const overheadMs: number[] = [];
  const parts = { buildMs: [] as number[], pfxMs: [] as number[], pemMs: [] as number[] };
  const reads = { ours: [] as number[], forge: [] as number[], oursLegacy: [] as number[], forgeLegacy: [] as number[] };
  for (let index = 0; index < keys.length; index++) {
    const t0 = performance.now();
    const cert = createSelfSignedCertificate(keys[index]!, { displayName: `Benchmark app ${index}`, lifetimeDays: 365 });
    const t1 = performance.now();
    const pfx = await encodePfx(cert.der, cert.privateKey);
    const t2 = performance.now();
    const pem = encodePemBundle(cert.der, cert.privateKey);
    const cer = encodeCer(cert.der, 'pem');
    const t3 = performance.now();
    if (pfx.pfx.length === 0 || pem.length === 0 || cer.length === 0) throw new Error('empty output');
    const read = timed(() => readPfx(pfx.pfx, pfx.password), cert.der);
    if (index < WARMUP) continue;
    overheadMs.push(t3 - t0);
    parts.buildMs.push(t1 - t0);
    parts.pfxMs.push(t2 - t1);
    parts.pemMs.push(t3 - t2);
    reads.ours.push(read);
    if (index % FORGE_READ_EVERY !== 0) continue;
    reads.forge.push(timed(() => readWithForge(pfx.pfx, pfx.password), cert.der));
    const legacy = await writePfx(cert.der, cert.privateKey, pfx.password, { legacy: true });
    reads.oursLegacy.push(timed(() => readPfx(legacy, pfx.password), cert.der));
    reads.forgeLegacy.push(timed(() => readWithForge(legacy, pfx.password), cert.der));
  }

  const dir = mkdtempSync(join(tmpdir(), 'ecr-bench-'));
  const opensslMs: number[] = [];
  try {
    for (let run = 0; run < OPENSSL_RUNS; run++) {
      const start = performance.now();
      execFileSync(
        'sh',
        [
          '-c',
          'openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 -subj "/CN=Benchmark app" -keyout "$0/key.pem" -out "$0/cert.pem" 2>/dev/null' +
            ' && openssl pkcs12 -export -inkey "$0/key.pem" -in "$0/cert.pem" -out "$0/cert.pfx" -passout pass:benchmark-password-1234567',
          dir,
        ],
        { stdio: 'ignore' },
      );
      opensslMs.push(performance.now() - start);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const keygenMedianMs = median(keygenMs);
  const overheadMedianMs = median(overheadMs);
  const result = {
    benchmark: 'certificates',
    certificates: COUNT,
    keygenMedianMs: round(keygenMedianMs),
    overheadMedianMs: round(overheadMedianMs),
    overheadRatio: round(overheadMedianMs / keygenMedianMs, 4),
    buildMedianMs: round(median(parts.buildMs)),
    pfxMedianMs: round(median(parts.pfxMs)),
    pemMedianMs: round(median(parts.pemMs)),
    readMedianMs: round(median(reads.ours)),
    forgeReadMedianMs: round(median(reads.forge)),
    readRatio: round(median(reads.ours) / keygenMedianMs, 4),
    forgeReadRatio: round(median(reads.forge) / keygenMedianMs, 4),
    legacyReadMedianMs: round(median(reads.oursLegacy)),
    forgeLegacyReadMedianMs: round(median(reads.forgeLegacy)),
    forgeReads: reads.forge.length,
    opensslPipelineMedianMs: round(median(opensslMs)),
    opensslRuns: OPENSSL_RUNS,
    ...machine(),
  };
  console.log(`certificates: ${COUNT} certificates after ${WARMUP} warm-up, node ${process.version}`);
  console.log(`  RSA-2048 key generation (crypto.generateKeyPair), median: ${result.keygenMedianMs} ms`);
  console.log(`  everything else (build+sign, PFX, PEM, CER, thumbprints), median: ${result.overheadMedianMs} ms`);
  console.log(`    build+sign ${result.buildMedianMs} ms, PFX ${result.pfxMedianMs} ms, PEM+CER ${result.pemMedianMs} ms`);
  console.log(`  overheadRatio (goal <= 0.15): ${result.overheadRatio}`);
  console.log(
    `  reading the PFX back, median: readPfx ${result.readMedianMs} ms (legacy ${result.legacyReadMedianMs}), node-forge ${result.forgeReadMedianMs} ms (legacy ${result.forgeLegacyReadMedianMs}), ${result.forgeReads} files each`,
  );
  console.log(
    `  for information, openssl req -x509 -newkey rsa:2048 && openssl pkcs12 -export, median of ${OPENSSL_RUNS}: ${result.opensslPipelineMedianMs} ms`,
  );
  printResult(result);
}

/** Milliseconds `read` takes; it must return the certificate the file was written with. */
function timed(read: () => { certificate: Buffer }, certificateDer: Buffer): number {
  const start = performance.now();
  const { certificate } = read();
  const elapsed = performance.now() - start;
  if (!certificate.equals(certificateDer)) throw new Error('the PFX read back holds another certificate');
  return elapsed;
}

/** The alternative to `readPfx`: node-forge's PKCS#12 reader, its bags turned into what `readPfx` returns. */
function readWithForge(pfx: Buffer, password: string): { certificate: Buffer; privateKey: KeyObject } {
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(pfx.toString('binary')), false, password);
  const bags = p12.safeContents.flatMap((contents) => contents.safeBags);
  const cert = bags.find((bag) => bag.cert)?.cert;
  const key = bags.find((bag) => bag.key)?.key;
  if (!cert || !key) throw new Error('node-forge found no certificate or key');
  return {
    certificate: Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary'),
    privateKey: createPrivateKey(forge.pki.privateKeyToPem(key)),
  };
}
