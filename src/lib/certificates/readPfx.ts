import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import {
  PfxReadError,
  UnsupportedAlgorithm,
  malformed,
  parseDer,
  passwordVariants,
  privateKeyFromPkcs8,
  readPfxNatively,
  type PfxBags,
  type PfxReadFailure,
} from './readPfxNatively.js';

/**
 * Reading a PFX (RFC 7292): natively (`readPfxNatively`) where Node runs the file's algorithms, with
 * node-forge's reader for the rest, then choosing the certificate that goes with the key.
 *
 * Why not node-forge's reader for every file: it runs PBKDF2, the PKCS#12 KDF, SHA and the ciphers in
 * JavaScript, about 40 ms a file of OpenSSL's default layout (`npm run bench -- certificates`), where
 * the native reader takes a few milliseconds.
 */

export { PfxReadError, type PfxReadFailure };

export interface PfxContents {
  /** DER of the certificate whose public key matches the private key; else of the first certificate. */
  readonly certificate: Buffer;
  /** DER of every X.509 certificate bag, in file order. */
  readonly certificates: Buffer[];
  /** The first key bag's key; undefined for a PFX that holds only certificates. */
  readonly privateKey: KeyObject | undefined;
}

const der = (node: forge.asn1.Asn1) => Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');

/**
 * Why a fallback: Node's OpenSSL 3 has no RC2 or RC4 without the legacy provider, and old Windows and
 * BouncyCastle exports (and OpenSSL's own `-legacy`) encrypt the certificate bag with RC2-40.
 * node-forge runs RC2 in JavaScript; such files are rare, so its cost is paid only for them.
 */
function readWithForge(root: forge.asn1.Asn1, password: string, unsupported: UnsupportedAlgorithm): PfxBags {
  const failures: unknown[] = [];
  for (const secret of passwordVariants(password)) {
    let p12: forge.pkcs12.Pkcs12Pfx;
    try {
      p12 = forge.pkcs12.pkcs12FromAsn1(root, false, secret ?? undefined);
    } catch (error) {
      failures.push(error);
      continue;
    }
    return fromForge(p12);
  }
  // forge names what it cannot run; anything else it trips on decrypts to garbage: a wrong password
  // when nothing vouched for the password, a broken file when the MAC did.
  const messages = failures.map((failure) => (failure instanceof Error ? failure.message : String(failure)));
  const reason: PfxReadFailure = messages.some((message) => /unsupported/i.test(message))
    ? 'unsupported'
    : unsupported.macVerified
      ? 'malformed'
      : 'password';
  const explanation = {
    unsupported: `The PFX uses an algorithm this reader does not support (${unsupported.message})`,
    malformed: `The PFX does not decode after its MAC verified (${unsupported.message})`,
    password: 'The PFX does not decrypt: wrong password',
  }[reason];
  throw new PfxReadError(reason, explanation, { cause: failures.at(-1) });
}

function fromForge(p12: forge.pkcs12.Pkcs12Pfx): PfxBags {
  const certificates: Buffer[] = [];
  let privateKey: KeyObject | undefined;
  try {
    for (const bag of p12.safeContents.flatMap((contents) => contents.safeBags)) {
      if (bag.type === forge.pki.oids.certBag) {
        // forge keeps the ASN.1 only of certificates it cannot model (non-RSA keys).
        certificates.push(bag.cert ? der(forge.pki.certificateToAsn1(bag.cert)) : der(bag.asn1));
      } else if (privateKey === undefined && (bag.type === forge.pki.oids.keyBag || bag.type === forge.pki.oids.pkcs8ShroudedKeyBag)) {
        privateKey = bag.key ? createPrivateKey(forge.pki.privateKeyToPem(bag.key)) : privateKeyFromPkcs8(der(bag.asn1));
      }
    }
  } catch (error) {
    throw malformed('a bag node-forge decrypted does not hold a certificate or a key', error);
  }
  return { certificates, privateKey };
}

export function readPfx(pfx: Uint8Array, password: string): PfxContents {
  const root = parseDer(Buffer.from(pfx.buffer, pfx.byteOffset, pfx.byteLength), 'the PFX');
  let read: PfxBags;
  try {
    read = readPfxNatively(root, password);
  } catch (error) {
    if (!(error instanceof UnsupportedAlgorithm)) throw error;
    read = readWithForge(root, password, error);
  }
  const { certificates, privateKey } = read;
  if (certificates.length === 0) throw malformed('it holds no X.509 certificate');
  const parsed = certificates.map((bytes) => {
    try {
      return new X509Certificate(bytes);
    } catch (error) {
      throw malformed('a certificate bag does not hold an X.509 certificate', error);
    }
  });
  const matching = privateKey === undefined || parsed.length === 1 ? -1 : parsed.findIndex((x509) => keyMatches(x509, privateKey));
  return { certificate: certificates[Math.max(matching, 0)]!, certificates, privateKey };
}

function keyMatches(certificate: X509Certificate, privateKey: KeyObject): boolean {
  try {
    return certificate.checkPrivateKey(privateKey);
  } catch {
    return false; // a key of another type
  }
}
