import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

/**
 * The Key Vault emulator's own PKCS#12 (RFC 7292) reader and writer, independent of the product's
 * (src/lib/certificates/pfx.ts and readPfx.ts): node-forge's `pkcs12FromAsn1` and `toPkcs12Asn1`,
 * which run every KDF, cipher and MAC themselves. The emulator reads what the product imports and
 * the product reads what the emulator serves, so a bug the product's writer and reader share (a MAC
 * over the wrong bytes, a KDF with the wrong password encoding, bags in the wrong place) fails a test
 * here instead of passing through a round trip of the same code.
 *
 * What Key Vault serves as the secret of a certificate imported from a PFX: the certificate and its
 * key as base64 PKCS#12 under the empty password (contentType application/x-pkcs12; the import's
 * password is not kept). Key Vault does not document the PKCS#12 algorithms it uses, so a reader must
 * take any layout; this writer uses one unlike the product's (which writes OpenSSL 3's default,
 * AES-256 under PBES2 and a SHA-256 MAC): the Windows-era layout of a pkcs8ShroudedKeyBag under
 * pbeWithSHAAnd3-KeyTripleDES-CBC, the certificate in a plain data bag, and a SHA-1 MAC, each with
 * 2048 iterations. node-forge's JavaScript crypto costs a few milliseconds a file; the emulator packs
 * a version's secret once.
 */

export class Pkcs12ReadError extends Error {
  override readonly name = 'Pkcs12ReadError';
}

export interface Pkcs12Contents {
  /** DER of the certificate that goes with the key (else the first certificate). */
  readonly certificate: Buffer;
  /** The first key bag's key; undefined for a PFX that holds only certificates. */
  readonly privateKey: KeyObject | undefined;
}

const derOf = (node: forge.asn1.Asn1): Buffer => Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');

/**
 * Opens a PFX with its password (checking the MAC, as Key Vault's import does: a wrong password is
 * refused). The empty password is tried in both of its encodings (no bytes, and the BMPString
 * terminator alone), as OpenSSL and Windows do.
 */
export function readPkcs12(pfx: Uint8Array, password: string): Pkcs12Contents {
  let root: forge.asn1.Asn1;
  try {
    root = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(pfx).toString('binary')), true);
  } catch (error) {
    throw new Pkcs12ReadError(`not DER: ${(error as Error).message}`);
  }
  const attempts: (string | null)[] = password === '' ? ['', null] : [password];
  let p12: forge.pkcs12.Pkcs12Pfx | undefined;
  let failure: unknown;
  for (const attempt of attempts) {
    try {
      // forge types the password as string; null is its documented "no password" (no bytes).
      p12 = forge.pkcs12.pkcs12FromAsn1(root, true, attempt as string);
      break;
    } catch (error) {
      failure = error;
    }
  }
  if (p12 === undefined) throw new Pkcs12ReadError(`cannot be opened: ${(failure as Error).message}`);

  const certificates: Buffer[] = [];
  let privateKey: KeyObject | undefined;
  try {
    for (const safe of p12.safeContents) {
      for (const bag of safe.safeBags) {
        if (bag.type === forge.pki.oids.certBag) {
          // forge models RSA certificates only; for others it keeps the certificate's ASN.1.
          certificates.push(bag.cert ? derOf(forge.pki.certificateToAsn1(bag.cert)) : derOf(bag.asn1));
        } else if (privateKey === undefined && (bag.type === forge.pki.oids.keyBag || bag.type === forge.pki.oids.pkcs8ShroudedKeyBag)) {
          // A decrypted key forge cannot model (not RSA) stays its PrivateKeyInfo ASN.1.
          privateKey = bag.key
            ? createPrivateKey(forge.pki.privateKeyToPem(bag.key))
            : createPrivateKey({ key: derOf(bag.asn1), format: 'der', type: 'pkcs8' });
        }
      }
    }
  } catch (error) {
    throw new Pkcs12ReadError(`a bag cannot be read: ${(error as Error).message}`);
  }
  if (certificates.length === 0) throw new Pkcs12ReadError('it holds no X.509 certificate');
  let parsed: X509Certificate[];
  try {
    parsed = certificates.map((der) => new X509Certificate(der));
  } catch (error) {
    throw new Pkcs12ReadError(`a certificate bag does not hold an X.509 certificate: ${(error as Error).message}`);
  }
  const matching = privateKey ? parsed.findIndex((x509) => keyMatches(x509, privateKey)) : -1;
  return { certificate: certificates[Math.max(matching, 0)]!, privateKey };
}

/** A PFX of one certificate and its key under `password` ('' for what Key Vault serves). */
export function writePkcs12(der: Buffer, privateKey: KeyObject, password: string): Promise<Buffer> {
  const certificate = forge.pki.certificateFromAsn1(forge.asn1.fromDer(der.toString('binary')));
  const key = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const p12 = forge.pkcs12.toPkcs12Asn1(key, certificate, password, { algorithm: '3des', count: 2048, generateLocalKeyId: true });
  return Promise.resolve(derOf(p12));
}

function keyMatches(certificate: X509Certificate, privateKey: KeyObject): boolean {
  try {
    return certificate.checkPrivateKey(privateKey);
  } catch {
    return false; // a key of another type
  }
}
