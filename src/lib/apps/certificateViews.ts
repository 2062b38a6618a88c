import { z } from 'zod';
import { appIdSchema } from '../domain/appConfig.js';

/** What the certificate routes answer, as zod schemas: the OpenAPI document is generated from them. */

const isoDateTime = z.iso.datetime({ offset: true });

export const certificateStatusSchema = z.enum(['current', 'valid', 'expired', 'not yet valid']);

/** One certificate on the app registration, as GET /certificates lists it. */
export const appCertificateViewSchema = z
  .object({
    keyId: z.string(),
    displayName: z.string().nullable(),
    /** SHA-1, upper-case hex: what Entra shows and `x5t` uses. */
    thumbprint: z.string(),
    thumbprintSha256: z.string().optional(),
    validFrom: isoDateTime,
    validUntil: isoDateTime,
    status: certificateStatusSchema,
    /** Added by this rotator, which may remove it by itself once expired. */
    managed: z.boolean(),
  })
  .strict();
export type AppCertificateView = z.output<typeof appCertificateViewSchema>;

export const certificateListSchema = z.object({ appId: appIdSchema, items: z.array(appCertificateViewSchema) }).strict();
export type CertificateList = z.output<typeof certificateListSchema>;

/** DELETE's answer: what was removed. */
export const removedCertificateSchema = z.object({ removed: appCertificateViewSchema }).strict();

/** Where the private key of a new certificate lives, said plainly. */
export const privateKeyPlacementSchema = z
  .object({
    storedIn: z.array(z.enum(['key-vault', 'email'])),
    notice: z.string(),
  })
  .strict();

/** A PFX and its one-time password, in a JSON body: the password never travels in a header. */
export const pfxMaterialSchema = z
  .object({
    fileName: z.string(),
    base64: z.string(),
    password: z.string(),
    encryption: z.enum(['aes-256-cbc', '3des-legacy']),
  })
  .strict();

/** GET /certificates/{certificateId}?format=pfx: the PFX from Key Vault under a fresh password. */
export const pfxDownloadSchema = z.object({ thumbprint: z.string(), pfx: pfxMaterialSchema }).strict();

export const generatedCertificateSchema = z
  .object({
    appId: appIdSchema,
    renewalId: z.string(),
    keyId: z.string(),
    thumbprint: z.string(),
    thumbprintSha256: z.string().optional(),
    notBefore: isoDateTime,
    notAfter: isoDateTime,
    /** The sign-in check runs in the background; the app's `state.verifiedAt` is set when it passes. */
    verification: z.literal('pending'),
    links: z
      .object({
        /** GET it to watch `state.verifiedAt`. */
        app: z.string(),
        history: z.string(),
        /** The public certificate (format=cer). */
        certificate: z.string(),
      })
      .strict(),
    keyVault: z.object({ certificateId: z.string(), version: z.string() }).strict().nullable(),
    privateKey: privateKeyPlacementSchema,
    /** What the caller should know besides: here, that the app's scheduled renewals are off. */
    notices: z.array(z.object({ code: z.literal('scheduled-renewal-disabled'), detail: z.string() }).strict()).optional(),
    /** Only with ?include=pfx: shown once, never stored. */
    pfx: pfxMaterialSchema.optional(),
    /** Only with ?include=pem: certificate and PKCS#8 private key in one PEM file. */
    pem: z.object({ fileName: z.string(), bundle: z.string() }).strict().optional(),
  })
  .strict();
export type GeneratedCertificate = z.output<typeof generatedCertificateSchema>;
