import { createDecipheriv, createHmac, createPrivateKey, pbkdf2Sync, timingSafeEqual, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { PKCS12_DIGEST_BYTES, pkcs12Kdf, type Pkcs12Digest } from './pkcs12Kdf.js';

/**
 * PKCS#12 (PFX) reading (RFC 7292) with every KDF, cipher and MAC in Node's native crypto; node-forge
 * parses the ASN.1 only. Synchronous, because the Key Vault emulator reads PFX files inside a
 * synchronous route handler; MAX_ITERATIONS bounds what that costs.
 */

export type PfxReadFailure = 'malformed' | 'password' | 'unsupported';

/**
 * Why a PFX could not be read. A wrong password and an altered file both fail the MAC, so both are
 * 'password', as in OpenSSL. The message never holds the password.
 */
export class PfxReadError extends Error {
  readonly reason: PfxReadFailure;

  constructor(reason: PfxReadFailure, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PfxReadError';
    this.reason = reason;
  }
}

/** Where this reader meets an algorithm Node cannot run; `macVerified`: the password was right. */
export class UnsupportedAlgorithm extends Error {
  macVerified = false;
}

/** DER of every X.509 certificate bag in file order, and the first key bag's key. */
export interface PfxBags {
  readonly certificates: Buffer[];
  readonly privateKey: KeyObject | undefined;
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha1: '1.2.840.113549.2.7',
} as const;

const PBKDF2_PRFS: Readonly<Record<string, string>> = {
  [OID.hmacWithSha1]: 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};

interface CipherSpec {
  readonly name: string;
  readonly keyBytes: number;
  readonly ivBytes: number;
}
const PBES2_CIPHERS: Readonly<Record<string, CipherSpec>> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyBytes: 16, ivBytes: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyBytes: 24, ivBytes: 16 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyBytes: 32, ivBytes: 16 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyBytes: 24, ivBytes: 8 },
};
/** PKCS#12 PBE (RFC 7292 Appendix C) with SHA-1; the RC2 and RC4 variants need OpenSSL's legacy provider. */
const PKCS12_PBE_CIPHERS: Readonly<Record<string, CipherSpec>> = {
  '1.2.840.113549.1.12.1.3': { name: 'des-ede3-cbc', keyBytes: 24, ivBytes: 8 },
  '1.2.840.113549.1.12.1.4': { name: 'des-ede-cbc', keyBytes: 16, ivBytes: 8 },
};
const MAC_DIGESTS: Readonly<Record<string, Pkcs12Digest>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
/** The most KDF iterations read: .NET's own import limit (exporters use 2,000-10,000; OpenSSL 2048). */
const MAX_ITERATIONS = 600_000;

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;
const UNIVERSAL = asn1.Class.UNIVERSAL;
const { Type } = asn1;
/** Context-specific [0]: forge types every tag number as the universal enum. */
const TAG_0 = 0 as forge.asn1.Type;

/** A password as given to a KDF: null is "no password" (zero bytes), distinct from '' in the PKCS#12 KDF. */
type Secret = string | null;

export const malformed = (message: string, cause?: unknown) =>
  new PfxReadError('malformed', `The PFX is malformed: ${message}`, cause === undefined ? undefined : { cause });

export function parseDer(bytes: Buffer, what: string): Asn1 {
  // The typings know only the boolean form; forge 1.x takes these options.
  const fromDer = asn1.fromDer as unknown as (
    input: forge.util.ByteBuffer,
    options: { strict: boolean; parseAllBytes: boolean; decodeBitStrings: boolean },
  ) => Asn1;
  try {
    return fromDer(forge.util.createBuffer(bytes.toString('binary')), { strict: true, parseAllBytes: true, decodeBitStrings: false });
  } catch (error) {
    throw malformed(`${what} is not valid DER`, error);
  }
}

function sequence(node: Asn1 | undefined, what: string, min = 0, max = Infinity): Asn1[] {
  if (node?.tagClass !== UNIVERSAL || node.type !== Type.SEQUENCE || !node.constructed || !Array.isArray(node.value)) {
    throw malformed(`${what} is not a SEQUENCE`);
  }
  const items = node.value;
  if (items.length < min || items.length > max) throw malformed(`${what} has ${items.length} fields`);
  return items;
}

function oidOf(node: Asn1 | undefined, what: string): string {
  if (node?.tagClass !== UNIVERSAL || node.type !== Type.OID || typeof node.value !== 'string') throw malformed(`${what} is not an OID`);
  return asn1.derToOid(node.value);
}

/** The content octets of a primitive, or of every chunk of a constructed (BER) string, concatenated. */
function contentOctets(node: Asn1, what: string): Buffer {
  if (typeof node.value === 'string') return Buffer.from(node.value, 'binary');
  return Buffer.concat(node.value.map((chunk) => octetString(chunk, what)));
}

function octetString(node: Asn1 | undefined, what: string): Buffer {
  if (node?.tagClass !== UNIVERSAL || node.type !== Type.OCTETSTRING) throw malformed(`${what} is not an OCTET STRING`);
  return contentOctets(node, what);
}

function integer(node: Asn1 | undefined, what: string): number {
  if (node?.tagClass !== UNIVERSAL || node.type !== Type.INTEGER || typeof node.value !== 'string' || node.value.length === 0) {
    throw malformed(`${what} is not an INTEGER`);
  }
  const bytes = Buffer.from(node.value, 'binary');
  const unpadded = bytes[0] === 0 ? bytes.subarray(1) : bytes;
  if (bytes[0]! >= 0x80 || unpadded.length > 6) throw malformed(`${what} is out of range`);
  return unpadded.length === 0 ? 0 : unpadded.readUIntBE(0, unpadded.length);
}

function iterationCount(node: Asn1 | undefined, what: string): number {
  const count = integer(node, what);
  if (count < 1) throw malformed(`${what} is below 1`);
  if (count > MAX_ITERATIONS)
    throw new PfxReadError('unsupported', `The PFX asks for ${count} KDF iterations; at most ${MAX_ITERATIONS} are read`);
  return count;
}

/** `[0] EXPLICIT`: the one value inside a constructed context-specific tag 0. */
function explicit0(node: Asn1 | undefined, what: string): Asn1 {
  if (node?.tagClass !== asn1.Class.CONTEXT_SPECIFIC || node.type !== TAG_0 || !node.constructed || node.value.length !== 1) {
    throw malformed(`${what} is not a [0] EXPLICIT value`);
  }
  return (node.value as Asn1[])[0]!;
}

function algorithmIdentifier(node: Asn1 | undefined, what: string): { oid: string; parameters: Asn1 | undefined } {
  const [id, parameters] = sequence(node, what, 1, 2);
  return { oid: oidOf(id, `${what}'s algorithm`), parameters };
}

const der = (node: Asn1) => Buffer.from(asn1.toDer(node).getBytes(), 'binary');

/** The KDF inputs worth trying for a password: the PKCS#12 KDF tells '' from "no password", files carry either. */
export function passwordVariants(password: string): Secret[] {
  return password === '' ? ['', null] : [password];
}

export function privateKeyFromPkcs8(pkcs8: Buffer): KeyObject {
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
}

/**
 * MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }: an HMAC
 * over the AuthenticatedSafe's octets, keyed by the PKCS#12 KDF (purpose 3). For '' OpenSSL tries both
 * "no password" and the empty BMPString, and so does this; the one that verifies decrypts the bags.
 */
function verifyMac(macData: Asn1, content: Buffer, password: string): Secret {
  const [digestInfo, saltNode, iterationsNode] = sequence(macData, 'MacData', 2, 3);
  const [algorithm, digestNode] = sequence(digestInfo, "MacData's DigestInfo", 2, 2);
  const { oid } = algorithmIdentifier(algorithm, "the MAC's digest");
  const digest = MAC_DIGESTS[oid];
  if (digest === undefined) throw new UnsupportedAlgorithm(`MAC digest ${oid}`);
  const expected = octetString(digestNode, 'the MAC');
  const salt = octetString(saltNode, 'the MAC salt');
  const iterations = iterationsNode === undefined ? 1 : iterationCount(iterationsNode, 'the MAC iteration count');
  for (const secret of passwordVariants(password)) {
    const key = pkcs12Kdf(digest, secret, salt, 3, iterations, PKCS12_DIGEST_BYTES[digest]);
    const actual = createHmac(digest, key).update(content).digest();
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) return secret;
  }
  throw new PfxReadError('password', 'The PFX MAC does not verify: wrong password, or the file was altered');
}

interface DecryptionKey {
  readonly cipher: string;
  readonly key: Buffer;
  readonly iv: Buffer;
}

/** Reads the SafeContents of one file, decrypting with the password variants still in play. */
class SafeContentsReader {
  readonly certificates: Buffer[] = [];
  privateKey: KeyObject | undefined;
  /** Writers reuse one salt for several bags (ours does for PBES2): derive each key once per file. */
  readonly #derived = new Map<string, Buffer>();

  readonly #secrets: readonly Secret[];

  constructor(secrets: readonly Secret[]) {
    this.#secrets = secrets;
  }

  /** AuthenticatedSafe ::= SEQUENCE OF ContentInfo, each plain (data) or password-encrypted (encryptedData). */
  readAuthenticatedSafe(octets: Buffer): void {
    for (const contentInfo of sequence(parseDer(octets, 'the AuthenticatedSafe'), 'the AuthenticatedSafe')) {
      const [typeNode, content] = sequence(contentInfo, 'a ContentInfo', 1, 2);
      const type = oidOf(typeNode, "a ContentInfo's type");
      if (type === OID.data) {
        if (content === undefined) continue;
        this.#readSafeContents(parseDer(octetString(explicit0(content, 'data'), 'data'), 'a SafeContents'));
      } else if (type === OID.encryptedData) {
        this.#readEncryptedData(explicit0(content, 'encryptedData'));
      } else {
        // envelopedData (public-key privacy mode) and anything newer.
        throw new UnsupportedAlgorithm(`ContentInfo type ${type}`);
      }
    }
  }

  /**
   * EncryptedData ::= SEQUENCE { version, EncryptedContentInfo ::= SEQUENCE { contentType,
   * contentEncryptionAlgorithm, encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL } }
   */
  #readEncryptedData(node: Asn1): void {
    const [, info] = sequence(node, 'EncryptedData', 2, 3);
    const [, algorithm, encrypted] = sequence(info, 'EncryptedContentInfo', 2, 3);
    if (encrypted === undefined) return;
    if (encrypted.tagClass !== asn1.Class.CONTEXT_SPECIFIC || encrypted.type !== TAG_0) {
      throw malformed('encryptedContent is not [0] IMPLICIT');
    }
    const plain = this.#decrypt(algorithm, contentOctets(encrypted, 'encryptedContent'), (bytes) =>
      parseDer(bytes, 'a decrypted SafeContents'),
    );
    this.#readSafeContents(plain);
  }

  /** SafeContents ::= SEQUENCE OF SafeBag { bagId, bagValue [0] EXPLICIT, bagAttributes SET OPTIONAL }. */
  #readSafeContents(node: Asn1): void {
    for (const bag of sequence(node, 'a SafeContents')) {
      const [idNode, valueNode] = sequence(bag, 'a SafeBag', 2, 3);
      const id = oidOf(idNode, "a SafeBag's type");
      const value = explicit0(valueNode, "a SafeBag's value");
      if (id === OID.certBag) {
        const [certId, certValue] = sequence(value, 'a CertBag', 2, 2);
        // sdsiCertificate bags are skipped, as OpenSSL does.
        if (oidOf(certId, "a CertBag's type") === OID.x509Certificate) {
          this.certificates.push(octetString(explicit0(certValue, "a CertBag's value"), "a CertBag's value"));
        }
      } else if (id === OID.keyBag) {
        try {
          this.privateKey ??= privateKeyFromPkcs8(der(value));
        } catch (error) {
          throw malformed('a key bag does not hold a PKCS#8 private key', error);
        }
      } else if (id === OID.pkcs8ShroudedKeyBag && this.privateKey === undefined) {
        // EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData OCTET STRING }
        const [algorithm, encrypted] = sequence(value, 'an EncryptedPrivateKeyInfo', 2, 2);
        this.privateKey = this.#decrypt(algorithm, octetString(encrypted, 'an encrypted key'), privateKeyFromPkcs8);
      } else if (id === OID.safeContentsBag) {
        this.#readSafeContents(value);
      }
      // crlBag, secretBag and later key bags carry nothing a caller asks for.
    }
  }

  /**
   * Decrypts with each password variant in play until one yields what `accept` takes: a wrong key
   * shows as bad padding or, one time in 256, as garbage that does not parse.
   */
  #decrypt<R>(algorithmNode: Asn1 | undefined, ciphertext: Buffer, accept: (plain: Buffer) => R): R {
    const keyFor = this.#scheme(algorithmNode);
    let failure: unknown;
    for (const secret of this.#secrets) {
      const { cipher, key, iv } = keyFor(secret);
      let plain: Buffer;
      try {
        const decipher = createDecipheriv(cipher, key, iv);
        plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch (error) {
        failure = error;
        continue;
      }
      try {
        return accept(plain);
      } catch (error) {
        failure = error;
      }
    }
    throw new PfxReadError('password', 'A bag of the PFX does not decrypt: wrong password', { cause: failure });
  }

  #scheme(node: Asn1 | undefined): (secret: Secret) => DecryptionKey {
    const { oid, parameters } = algorithmIdentifier(node, 'an encryption algorithm');
    if (oid === OID.pbes2) return this.#pbes2(parameters);
    const pbe = PKCS12_PBE_CIPHERS[oid];
    if (pbe === undefined) throw new UnsupportedAlgorithm(`encryption ${oid}`);
    // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
    const [saltNode, iterationsNode] = sequence(parameters, 'pkcs-12PbeParams', 2, 2);
    const salt = octetString(saltNode, 'a PBE salt');
    const iterations = iterationCount(iterationsNode, 'a PBE iteration count');
    return (secret) => ({
      cipher: pbe.name,
      key: this.#memo(`p12:${pbe.keyBytes}:1:${secret === null}`, salt, iterations, () =>
        pkcs12Kdf('sha1', secret, salt, 1, iterations, pbe.keyBytes),
      ),
      iv: this.#memo(`p12:${pbe.ivBytes}:2:${secret === null}`, salt, iterations, () =>
        pkcs12Kdf('sha1', secret, salt, 2, iterations, pbe.ivBytes),
      ),
    });
  }

  /**
   * PBES2-params ::= SEQUENCE { keyDerivationFunc, encryptionScheme }, with PBKDF2-params ::=
   * SEQUENCE { salt OCTET STRING, iterationCount, keyLength OPTIONAL, prf DEFAULT hmacWithSHA1 }.
   * The password goes in as its UTF-8 bytes, as OpenSSL passes it.
   */
  #pbes2(parameters: Asn1 | undefined): (secret: Secret) => DecryptionKey {
    const [kdfNode, schemeNode] = sequence(parameters, 'PBES2-params', 2, 2);
    const kdf = algorithmIdentifier(kdfNode, 'the PBES2 key derivation');
    if (kdf.oid !== OID.pbkdf2) throw new UnsupportedAlgorithm(`PBES2 key derivation ${kdf.oid}`);
    const [saltNode, iterationsNode, ...rest] = sequence(kdf.parameters, 'PBKDF2-params', 2, 4);
    if (saltNode?.type !== Type.OCTETSTRING) throw new UnsupportedAlgorithm('PBKDF2 salt from another source');
    const salt = octetString(saltNode, 'the PBKDF2 salt');
    const iterations = iterationCount(iterationsNode, 'the PBKDF2 iteration count');
    let keyLength: number | undefined;
    let prfOid: string = OID.hmacWithSha1;
    for (const field of rest) {
      if (field.tagClass === UNIVERSAL && field.type === Type.INTEGER) keyLength = integer(field, 'the PBKDF2 key length');
      else prfOid = algorithmIdentifier(field, 'the PBKDF2 PRF').oid;
    }
    const prf = PBKDF2_PRFS[prfOid];
    if (prf === undefined) throw new UnsupportedAlgorithm(`PBKDF2 PRF ${prfOid}`);

    const scheme = algorithmIdentifier(schemeNode, 'the PBES2 encryption scheme');
    const cipher = PBES2_CIPHERS[scheme.oid];
    if (cipher === undefined) throw new UnsupportedAlgorithm(`PBES2 cipher ${scheme.oid}`);
    if (keyLength !== undefined && keyLength !== cipher.keyBytes)
      throw malformed(`PBKDF2 key length ${keyLength} does not fit ${cipher.name}`);
    const iv = octetString(scheme.parameters, `the ${cipher.name} IV`);
    if (iv.length !== cipher.ivBytes) throw malformed(`the ${cipher.name} IV has ${iv.length} bytes`);
    return (secret) => ({
      cipher: cipher.name,
      // '' and "no password" are the same zero bytes here.
      key: this.#memo(`pbkdf2:${prf}:${cipher.keyBytes}`, salt, iterations, () =>
        pbkdf2Sync(Buffer.from(secret ?? '', 'utf8'), salt, iterations, cipher.keyBytes, prf),
      ),
      iv,
    });
  }

  #memo(kind: string, salt: Buffer, iterations: number, derive: () => Buffer): Buffer {
    const id = `${kind}:${iterations}:${salt.toString('hex')}`;
    let key = this.#derived.get(id);
    if (key === undefined) {
      key = derive();
      this.#derived.set(id, key);
    }
    return key;
  }
}

/** PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL } */
export function readPfxNatively(root: Asn1, password: string): PfxBags {
  const [versionNode, authSafe, macData] = sequence(root, 'the PFX', 2, 3);
  const version = integer(versionNode, 'the PFX version');
  if (version !== 3) throw new UnsupportedAlgorithm(`PFX version ${version}`);
  const [typeNode, content] = sequence(authSafe, 'the authSafe ContentInfo', 2, 2);
  const type = oidOf(typeNode, "the authSafe's type");
  // signedData would be public-key integrity mode, which neither this reader nor node-forge reads.
  if (type !== OID.data) throw new UnsupportedAlgorithm(`authSafe type ${type}`);
  const octets = octetString(explicit0(content, 'the authSafe content'), 'the authSafe content');
  const secrets = macData === undefined ? passwordVariants(password) : [verifyMac(macData, octets, password)];
  const reader = new SafeContentsReader(secrets);
  try {
    reader.readAuthenticatedSafe(octets);
  } catch (error) {
    if (error instanceof UnsupportedAlgorithm) error.macVerified = macData !== undefined;
    throw error;
  }
  return { certificates: reader.certificates, privateKey: reader.privateKey };
}
