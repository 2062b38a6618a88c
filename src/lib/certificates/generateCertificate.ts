import { generateKeyPair as generateKeyPairCallback, hash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { ValidationError, type FieldIssue } from '../errors.js';
import { thumbprintsOf, type Thumbprints } from './thumbprints.js';

/** RSA modulus sizes docs/renewal.md allows; 2048 is the default. */
export const KEY_SIZES = [2048, 3072, 4096] as const;
export type KeySize = (typeof KEY_SIZES)[number];
export const DEFAULT_KEY_SIZE: KeySize = 2048;
export const MIN_LIFETIME_DAYS = 30;
export const MAX_LIFETIME_DAYS = 1095;
/** X.520 ub-common-name: a CN holds at most 64 characters. */
export const MAX_COMMON_NAME_LENGTH = 64;
/** notBefore is backdated by this much so that a relying party with a slow clock accepts it at once. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface RsaKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface CertificateRequest {
  /** The app's displayName; the CN is this, truncated to 64 characters. */
  readonly displayName: string;
  readonly lifetimeDays: number;
  readonly keySize?: number;
  /** Injected clock; defaults to the current time. */
  readonly now?: Date;
}

export interface GeneratedCertificate {
  /** The DER-encoded X.509 certificate. */
  readonly der: Buffer;
  /** Kept as a KeyObject so that it cannot be serialised by accident (JSON.stringify gives `{}`). */
  readonly privateKey: KeyObject;
  readonly subject: string;
  readonly commonName: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keySize: KeySize;
  readonly thumbprints: Thumbprints;
}

const generateKeyPairAsync = promisify(generateKeyPairCallback);

/**
 * A fresh RSA key pair from Node's native generator. It runs on the libuv thread pool, so the event
 * loop keeps serving requests while the prime search runs.
 */
export async function generateRsaKeyPair(keySize: number = DEFAULT_KEY_SIZE): Promise<RsaKeyPair> {
  const size = checkKeySize(keySize);
  return generateKeyPairAsync('rsa', { modulusLength: size, publicExponent: 0x10001 });
}

/** Generates a new key and a certificate for it (docs/renewal.md). The key is never reused. */
export async function generateCertificate(request: CertificateRequest): Promise<GeneratedCertificate> {
  const issues = validateRequest(request);
  if (issues.length > 0) throw new ValidationError(issues);
  const keyPair = await generateRsaKeyPair(request.keySize ?? DEFAULT_KEY_SIZE);
  return createSelfSignedCertificate(keyPair, request);
}

/**
 * Truncates a display name to the 64 characters a CN may hold, cutting between user-perceived
 * characters (grapheme clusters), so an emoji or a combining accent is never split in half.
 */
export function commonNameFor(displayName: string): string {
  const trimmed = displayName.trim();
  if ([...trimmed].length <= MAX_COMMON_NAME_LENGTH) return trimmed;
  let out = '';
  let count = 0;
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(trimmed)) {
    const length = [...segment].length;
    if (count + length > MAX_COMMON_NAME_LENGTH) break;
    out += segment;
    count += length;
  }
  return out.trimEnd();
}

function checkKeySize(keySize: number): KeySize {
  if (!(KEY_SIZES as readonly number[]).includes(keySize)) {
    throw ValidationError.forField('keySize', `must be one of ${KEY_SIZES.join(', ')} (got ${String(keySize)})`);
  }
  return keySize as KeySize;
}

function validateRequest(request: CertificateRequest): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (typeof request.displayName !== 'string' || request.displayName.trim() === '') {
    issues.push({ path: 'displayName', message: 'must not be empty: it becomes the certificate subject CN' });
  }
  if (!Number.isInteger(request.lifetimeDays) || request.lifetimeDays < MIN_LIFETIME_DAYS || request.lifetimeDays > MAX_LIFETIME_DAYS) {
    issues.push({
      path: 'lifetimeDays',
      message: `must be a whole number of days from ${MIN_LIFETIME_DAYS} to ${MAX_LIFETIME_DAYS} (got ${String(request.lifetimeDays)})`,
    });
  }
  const keySize = request.keySize ?? DEFAULT_KEY_SIZE;
  if (!(KEY_SIZES as readonly number[]).includes(keySize)) {
    issues.push({ path: 'keySize', message: `must be one of ${KEY_SIZES.join(', ')} (got ${String(keySize)})` });
  }
  if (request.now !== undefined && Number.isNaN(request.now.getTime())) issues.push({ path: 'now', message: 'must be a valid date' });
  return issues;
}

/** A random positive 16-byte serial: top bit clear (positive), first byte non-zero (minimal DER). */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

const toBinary = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('binary');

const { asn1 } = forge;
// Public in node-forge 1.x but missing from @types/node-forge: the options form of fromDer, and the
// extensions encoder.
const pki = forge.pki as typeof forge.pki & { certificateExtensionsToAsn1(extensions: unknown[]): forge.asn1.Asn1 };
const fromDer = asn1.fromDer as unknown as (bytes: string, options: { decodeBitStrings: boolean }) => forge.asn1.Asn1;
const UNIVERSAL = asn1.Class.UNIVERSAL;
const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14';
const OID_COMMON_NAME = '2.5.4.3';

/** DER header of a SEQUENCE whose contents are `length` bytes long. */
function derSequenceHeader(length: number): Buffer {
  if (length < 0x80) return Buffer.from([0x30, length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x30, 0x80 | bytes.length, ...bytes]);
}

let cachedExtensions: forge.asn1.Asn1[] | undefined;
/**
 * basicConstraints CA:false, keyUsage digitalSignature + keyEncipherment (critical),
 * extendedKeyUsage clientAuth: the same for every certificate, so forge encodes them once.
 */
function standardExtensions(): forge.asn1.Asn1[] {
  if (!cachedExtensions) {
    const scratch = pki.createCertificate();
    scratch.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', clientAuth: true },
    ]);
    const wrapped = pki.certificateExtensionsToAsn1(scratch.extensions);
    cachedExtensions = ((wrapped.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[]).slice();
  }
  return cachedExtensions;
}
const sha256WithRsa = () =>
  asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(OID_SHA256_WITH_RSA).getBytes()),
    asn1.create(UNIVERSAL, asn1.Type.NULL, false, ''),
  ]);
/** X.509 validity times: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
const time = (date: Date) =>
  date.getUTCFullYear() < 2050
    ? asn1.create(UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));

/**
 * Builds and signs the self-signed certificate for an existing key pair.
 *
 * node-forge builds the ASN.1 (it is the well-kept library for that), but the slow parts of its
 * certificate API are left out: its RSA signing runs in JavaScript (about a third of a key
 * generation), and its SubjectPublicKeyInfo and key identifier come from parsing the key into
 * BigIntegers and hashing in JavaScript. So the TBSCertificate is assembled from forge's ASN.1
 * pieces around the SubjectPublicKeyInfo Node exports, the key identifier is hashed natively, and
 * Node's crypto signs.
 */
export function createSelfSignedCertificate(keyPair: RsaKeyPair, request: CertificateRequest): GeneratedCertificate {
  const issues = validateRequest({ ...request, keySize: keyPair.privateKey.asymmetricKeyDetails?.modulusLength ?? request.keySize });
  if (keyPair.privateKey.asymmetricKeyType !== 'rsa') issues.push({ path: 'privateKey', message: 'must be an RSA key' });
  if (issues.length > 0) throw new ValidationError(issues);
  const keySize = keyPair.privateKey.asymmetricKeyDetails!.modulusLength as KeySize;

  const commonName = commonNameFor(request.displayName);
  const now = request.now ?? new Date();
  // Whole seconds: X.509 UTCTime has no fractions, and the stored state must match the certificate.
  const notBefore = new Date(Math.floor((now.getTime() - CLOCK_SKEW_MS) / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + request.lifetimeDays * DAY_MS);
  const serialNumber = randomSerialHex();

  const spki = fromDer(toBinary(keyPair.publicKey.export({ type: 'spki', format: 'der' })), { decodeBitStrings: false });
  // RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value (its first
  // byte is the unused-bits count, not part of the key).
  const subjectPublicKey = (spki.value as forge.asn1.Asn1[])[1]!.value as string;
  const keyIdentifier = hash('sha1', Buffer.from(subjectPublicKey.slice(1), 'binary'), 'buffer');

  const cn = asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(UNIVERSAL, asn1.Type.SET, true, [
      asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(OID_COMMON_NAME).getBytes()),
        asn1.create(UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(commonName)),
      ]),
    ]),
  ]);
  const subjectKeyIdentifier = asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(OID_SUBJECT_KEY_IDENTIFIER).getBytes()),
    asn1.create(
      UNIVERSAL,
      asn1.Type.OCTETSTRING,
      false,
      asn1.toDer(asn1.create(UNIVERSAL, asn1.Type.OCTETSTRING, false, keyIdentifier.toString('binary'))).getBytes(),
    ),
  ]);
  const tbs = asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [asn1.create(UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(2).getBytes())]),
    asn1.create(UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(serialNumber)),
    sha256WithRsa(),
    cn,
    asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [time(notBefore), time(notAfter)]),
    cn,
    spki,
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [
      asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [...standardExtensions(), subjectKeyIdentifier]),
    ]),
  ]);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, keyPair.privateKey);
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }, joined as DER
  // rather than encoding the TBSCertificate a second time.
  const tail = Buffer.from(
    asn1.toDer(sha256WithRsa()).getBytes() +
      asn1.toDer(asn1.create(UNIVERSAL, asn1.Type.BITSTRING, false, `\0${signature.toString('binary')}`)).getBytes(),
    'binary',
  );
  const der = Buffer.concat([derSequenceHeader(tbsDer.length + tail.length), tbsDer, tail]);

  return {
    der,
    privateKey: keyPair.privateKey,
    subject: `CN=${commonName}`,
    commonName,
    serialNumber: serialNumber.toUpperCase(),
    notBefore,
    notAfter,
    keySize,
    thumbprints: thumbprintsOf(der),
  };
}
