import { execFileSync } from 'node:child_process';
import { generateKeyPair } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encodeCer, encodePemBundle } from '../src/lib/certificates/encode.js';
import { createSelfSignedCertificate, type RsaKeyPair } from '../src/lib/certificates/generateCertificate.js';
import { encodePfx } from '../src/lib/certificates/pfx.js';
import { median, printResult, round } from './stats.js';

/**
 * What a certificate costs beyond its key: build + sign, PFX, PEM bundle, CER, thumbprints, given an
 * already generated key, beside bare RSA-2048 key generation in the same process (the physical
 * floor, whose time varies with the prime search). Goal: overheadRatio <= 0.05.
 */
const COUNT = Number(process.env.BENCH_CERTIFICATES ?? 200);
const WARMUP = 10;
const OPENSSL_RUNS = Number(process.env.BENCH_OPENSSL_RUNS ?? 20);

const generateKeyPairAsync = promisify(generateKeyPair);

export async function benchCertificates(): Promise<void> {
  const keygenMs: number[] = [];
  const keys: RsaKeyPair[] = [];
  for (let i = 0; i < COUNT + WARMUP; i++) {
    const start = performance.now();
    const pair = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
    const elapsed = performance.now() - start;
    if (i >= WARMUP) keygenMs.push(elapsed);
    keys.push(pair);
  }

  const overheadMs: number[] = [];
  const parts = { buildMs: [] as number[], pfxMs: [] as number[], pemMs: [] as number[] };
  for (let i = 0; i < keys.length; i++) {
    const t0 = performance.now();
    const cert = createSelfSignedCertificate(keys[i]!, { displayName: `Benchmark app ${i}`, lifetimeDays: 365 });
    const t1 = performance.now();
    const pfx = await encodePfx(cert.der, cert.privateKey);
    const t2 = performance.now();
    const pem = encodePemBundle(cert.der, cert.privateKey);
    const cer = encodeCer(cert.der, 'pem');
    const t3 = performance.now();
    if (pfx.pfx.length === 0 || pem.length === 0 || cer.length === 0) throw new Error('empty output');
    if (i < WARMUP) continue;
    overheadMs.push(t3 - t0);
    parts.buildMs.push(t1 - t0);
    parts.pfxMs.push(t2 - t1);
    parts.pemMs.push(t3 - t2);
  }

  const dir = mkdtempSync(join(tmpdir(), 'ecr-bench-'));
  const opensslMs: number[] = [];
  try {
    for (let i = 0; i < OPENSSL_RUNS; i++) {
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
    opensslPipelineMedianMs: round(median(opensslMs)),
    opensslRuns: OPENSSL_RUNS,
    node: process.version,
  };
  console.log(`certificates: ${COUNT} certificates after ${WARMUP} warm-up, node ${process.version}`);
  console.log(`  RSA-2048 key generation (crypto.generateKeyPair), median: ${result.keygenMedianMs} ms`);
  console.log(`  everything else (build+sign, PFX, PEM, CER, thumbprints), median: ${result.overheadMedianMs} ms`);
  console.log(`    build+sign ${result.buildMedianMs} ms, PFX ${result.pfxMedianMs} ms, PEM+CER ${result.pemMedianMs} ms`);
  console.log(`  overheadRatio (goal <= 0.05): ${result.overheadRatio}`);
  console.log(
    `  for information, openssl req -x509 -newkey rsa:2048 && openssl pkcs12 -export, median of ${OPENSSL_RUNS}: ${result.opensslPipelineMedianMs} ms`,
  );
  printResult(result);
}
