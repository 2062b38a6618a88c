import { createCipheriv, createHmac, hash, pbkdf2, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { ValidationError } from '../errors.js';
import { pkcs12Kdf } from './pkcs12Kdf.js';

/**
 * PKCS#12 (PFX) encoding (RFC 7292), byte for byte in the layout OpenSSL 3's `pkcs12 -export` writes:
 * an AuthenticatedSafe of an encrypted certificate bag and a shrouded key bag, then a MAC.
 *
 * - default: PBES2 with PBKDF2-HMAC-SHA256 (2048 iterations) and AES-256-CBC for both bags, and a
 *   SHA-256 MAC; what current OpenSSL, .NET, Java and the Azure SDKs read.
 * - legacy: pbeWithSHAAnd3-KeyTripleDES-CBC for both bags and a SHA-1 MAC, for Windows hosts older
 *   than Server 2019 1809 that cannot read AES-protected PFX files.
 *
 * node-forge's `toPkcs12Asn1` pins the MAC to SHA-1 and encrypts in JavaScript, so the structure is
 * assembled with forge's ASN.1 and every cipher, KDF and MAC runs in Node's native crypto.
 */

export const PFX_ITERATIONS = 2048;
/**
 * Iterations of a PFX that only carries a new key into Key Vault's import, in the same TLS request as
 * its password. Iterations slow down guessing a weak password; this one is 192 random bits that
 * travel beside the file, so the 2 x 2048 rounds would buy nothing and cost each renewal ~1 ms of CPU
 * (and the vault as much again to open it). 1 is what `openssl pkcs12 -noiter -nomaciter` writes.
 * Files for people and hosts keep OpenSSL's 2048 (docs/renewal.md).
 */
export const IMPORT_PFX_ITERATIONS = 1;
/** A PFX password carries at least 128 bits; a generated one carries 192 (24 random bytes). */
export const MIN_PFX_PASSWORD_LENGTH = 22;
const SALT_BYTES = 8;
const pbkdf2Async = promisify(pbkdf2);

export interface PfxLayoutOptions {
  /** 3DES + SHA-1 MAC instead of AES-256 + SHA-256 MAC. */
  readonly legacy?: boolean;
  /** The bag's friendlyName: the name Windows shows in the certificate store. */
  readonly friendlyName?: string;
  /** KDF iterations of the bags and the MAC; default PFX_ITERATIONS (see IMPORT_PFX_ITERATIONS). */
  readonly iterations?: number;
}

export interface PfxOptions extends PfxLayoutOptions {
  /** Defaults to a fresh random password; a given one must have at least 22 printable ASCII characters. */
  readonly password?: string;
}

export interface EncodedPfx {
  readonly pfx: Buffer;
  /** Shown once to whoever asked; never stored. */
  readonly password: string;
}

/** 24 random bytes, base64url: 32 characters, 192 bits, safe in a header, a URL and a shell. */
export function generatePfxPassword(): string {
  return randomBytes(24).toString('base64url');
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  certBag: '1.2.840.113549.1.12.10.1.3',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  friendlyName: '1.2.840.113549.1.9.20',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  pbeWithSha1And3DesCbc: '1.2.840.113549.1.12.1.3',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;
const UNIVERSAL = asn1.Class.UNIVERSAL;
const { Type } = asn1;
const bin = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('binary');
const seq = (...items: Asn1[]) => asn1.create(UNIVERSAL, Type.SEQUENCE, true, items);
const set = (...items: Asn1[]) => asn1.create(UNIVERSAL, Type.SET, true, items);
const oid = (value: string) => asn1.create(UNIVERSAL, Type.OID, false, asn1.oidToDer(value).getBytes());
const octets = (bytes: Uint8Array) => asn1.create(UNIVERSAL, Type.OCTETSTRING, false, bin(bytes));
const int = (value: number) => asn1.create(UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(value).getBytes());
const nul = () => asn1.create(UNIVERSAL, Type.NULL, false, '');
const explicit0 = (item: Asn1) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [item]);
const der = (item: Asn1) => Buffer.from(asn1.toDer(item).getBytes(), 'binary');

interface Encryption {
  readonly algorithm: Asn1;
  readonly encrypt: (plain: Buffer) => Buffer;
}

/**
 * PBES2: one PBKDF2 derivation, then a fresh IV for each bag. Both bags name the same salt, which any
 * reader treats like two (each bag carries its own parameters); the derivation is the costliest
 * native step of a PFX, so it runs once, on libuv's thread pool.
 */
async function pbes2Aes256(password: string, iterations: number): Promise<() => Encryption> {
  const salt = randomBytes(SALT_BYTES);
  // PBES2 takes the password as its bytes (OpenSSL passes the UTF-8 string as is).
  const key = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  return () => {
    const iv = randomBytes(16);
    return {
      algorithm: seq(
        oid(OID.pbes2),
        seq(
          seq(oid(OID.pbkdf2), seq(octets(salt), int(iterations), seq(oid(OID.hmacWithSha256), nul()))),
          seq(oid(OID.aes256Cbc), octets(iv)),
        ),
      ),
      encrypt: (plain) => {
        const cipher = createCipheriv('aes-256-cbc', key, iv);
        return Buffer.concat([cipher.update(plain), cipher.final()]);
      },
    };
  };
}

/** The PKCS#12 PBE derives the IV from the salt too, so each bag gets its own salt and derivations. */
function pbeSha1TripleDes(password: string, iterations: number): Promise<() => Encryption> {
  return Promise.resolve(() => {
    const salt = randomBytes(SALT_BYTES);
    const key = pkcs12Kdf('sha1', password, salt, 1, iterations, 24);
    const iv = pkcs12Kdf('sha1', password, salt, 2, iterations, 8);
    return {
      algorithm: seq(oid(OID.pbeWithSha1And3DesCbc), seq(octets(salt), int(iterations))),
      encrypt: (plain) => {
        const cipher = createCipheriv('des-ede3-cbc', key, iv);
        return Buffer.concat([cipher.update(plain), cipher.final()]);
      },
    };
  });
}

function bagAttributes(localKeyId: Buffer, friendlyName: string | undefined): Asn1 {
  const attributes = [seq(oid(OID.localKeyId), set(octets(localKeyId)))];
  if (friendlyName !== undefined) {
    // forge writes a BMPSTRING's JS string as UTF-16BE code units itself.
    attributes.push(seq(oid(OID.friendlyName), set(asn1.create(UNIVERSAL, Type.BMPSTRING, false, friendlyName))));
  }
  return set(...attributes);
}

function checkPassword(password: string): void {
  if (password.length < MIN_PFX_PASSWORD_LENGTH || !/^[\x21-\x7e]+$/.test(password)) {
    throw ValidationError.forField(
      'password',
      `must have at least ${MIN_PFX_PASSWORD_LENGTH} printable ASCII characters without spaces (128 bits or more); leave it out to get a random one`,
    );
  }
}

/**
 * The PFX layout without the password policy of `encodePfx`: for readers' tests, and for the Key
 * Vault emulator, which serves a certificate's secret as a PFX under the EMPTY password as Key Vault
 * does. '' is written as RFC 7292's empty BMPString (the two-byte terminator) in the MAC and the
 * 3DES bags, and as no bytes in PBES2; OpenSSL's `-passin pass:` reads both layouts.
 *
 * Asynchronous because the PBKDF2 derivation runs on libuv's thread pool while the MAC key is
 * derived on this thread: the two are independent, and this way a PFX costs about the time of the
 * slower one rather than their sum.
 */
export async function writePfx(
  certificateDer: Buffer,
  privateKey: KeyObject,
  password: string,
  options: PfxLayoutOptions = {},
): Promise<Buffer> {
  const legacy = options.legacy === true;
  const iterations = options.iterations ?? PFX_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`PFX iterations must be a positive integer, not ${iterations}`);
  const newEncryption = legacy ? pbeSha1TripleDes : pbes2Aes256;
  const pendingEncryption = newEncryption(password, iterations);
  const macDigest = legacy ? 'sha1' : 'sha256';
  const macSalt = randomBytes(SALT_BYTES);
  const macKey = pkcs12Kdf(macDigest, password, macSalt, 3, iterations, legacy ? 20 : 32);
  const encryptionForBag = await pendingEncryption;
  const certEncryption = encryptionForBag();
  const keyEncryption = encryptionForBag();
  // OpenSSL's localKeyId pairs the key with its certificate: the certificate's SHA-1 digest.
  const localKeyId = hash('sha1', certificateDer, 'buffer');
  const attributes = () => bagAttributes(localKeyId, options.friendlyName);

  // Certificates: a SafeContents of one CertBag, encrypted as a whole (EncryptedData).
  const certBag = seq(oid(OID.certBag), explicit0(seq(oid(OID.x509Certificate), explicit0(octets(certificateDer)))), attributes());
  const certContentInfo = seq(
    oid(OID.encryptedData),
    explicit0(
      seq(
        int(0),
        seq(
          oid(OID.data),
          certEncryption.algorithm,
          asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, bin(certEncryption.encrypt(der(seq(certBag))))),
        ),
      ),
    ),
  );

  // The key: a plain SafeContents holding one pkcs8ShroudedKeyBag (EncryptedPrivateKeyInfo).
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const keyBag = seq(
    oid(OID.pkcs8ShroudedKeyBag),
    explicit0(seq(keyEncryption.algorithm, octets(keyEncryption.encrypt(pkcs8)))),
    attributes(),
  );
  const keyContentInfo = seq(oid(OID.data), explicit0(octets(der(seq(keyBag)))));

  const authenticatedSafe = der(seq(certContentInfo, keyContentInfo));

  const mac = createHmac(macDigest, macKey).update(authenticatedSafe).digest();
  const macData = seq(seq(seq(oid(legacy ? OID.sha1 : OID.sha256), nul()), octets(mac)), octets(macSalt), int(iterations));

  return der(seq(int(3), seq(oid(OID.data), explicit0(octets(authenticatedSafe))), macData));
}

/** A PFX for a person or a host: under a given password that passes the policy, or a fresh random one. */
export async function encodePfx(certificateDer: Buffer, privateKey: KeyObject, options: PfxOptions = {}): Promise<EncodedPfx> {
  const password = options.password ?? generatePfxPassword();
  checkPassword(password);
  return { pfx: await writePfx(certificateDer, privateKey, password, options), password };
}
