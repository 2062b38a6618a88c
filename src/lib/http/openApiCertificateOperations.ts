import { deleteQuerySchema, downloadQuerySchema, generateQuerySchema, listQuerySchema } from './apiSchemas.js';
import {
  appIdParameter,
  certificateIdParameter,
  insufficientScope,
  noStore,
  problem,
  queryParameters,
  retryAfter,
  secured,
  standard,
  type OperationSpec,
} from './openApiOperationSpec.js';

/** The OpenAPI operations on the certificates of an app registration (tag `certificates`). */

export const CERTIFICATE_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/apps/{appId}/certificates',
    operationId: 'listCertificates',
    tag: 'certificates',
    summary: 'Certificates on the app registration',
    description:
      'Every certificate credential of the app registration, read from Microsoft Graph: `current` is the one the rotator deployed last (else the newest valid one); `managed` says whether the rotator created it.',
    role: 'CertRotator.Reader',
    parameters: [appIdParameter, ...queryParameters(listQuerySchema)],
    responses: { 200: { description: 'The certificates.', json: 'CertificateList' }, 400: standard[400], 404: standard[404], ...secured },
  },
  {
    method: 'post',
    path: '/apps/{appId}/certificates',
    operationId: 'generateCertificate',
    tag: 'certificates',
    summary: 'Deploy a new certificate now',
    description:
      'Generates a certificate, imports it into Key Vault (when enabled) and adds it to the app registration, then answers; the sign-in check follows in the background (watch `state.verifiedAt` on the app). The private key is in the response only when an Admin asks for it with `include` (an Operator asking gets 403, and nothing is deployed), and never again from this response. When Key Vault is disabled for the app, `privateKey.notice` says that the key exists only in this response and the email.',
    role: 'CertRotator.Operator',
    parameters: [appIdParameter, ...queryParameters(generateQuerySchema)],
    responses: {
      201: {
        description: 'Deployed; verification pending.',
        json: 'GeneratedCertificate',
        headers: {
          Location: { description: 'The new certificate (download URL).', schema: { type: 'string' } },
          Link: {
            description: 'The app, `rel="monitor"`: its `state.verifiedAt` is set when verification passes.',
            schema: { type: 'string' },
          },
          'Cache-Control': noStore,
        },
      },
      400: standard[400],
      404: standard[404],
      409: problem(
        'A renewal of the app holds its lease (retry after Retry-After seconds), or a precondition (self mode, email) is not met.',
        {
          'Retry-After': retryAfter,
        },
      ),
      ...secured,
    },
  },
  {
    method: 'get',
    path: '/apps/{appId}/certificates/{certificateId}',
    operationId: 'downloadCertificate',
    tag: 'certificates',
    summary: 'Download a certificate',
    description:
      "`format=cer` (Reader): the public certificate of any certificate on the app registration. `format=pem` (Admin): certificate and private key from Key Vault as a PEM file. `format=pfx` (Admin): a JSON body with the PFX in base64 under a fresh password and that password, shown once; for the raw file under a password of your own, POST …/export. Key downloads are recorded in the app's history with the caller.",
    role: 'CertRotator.Reader',
    parameters: [appIdParameter, certificateIdParameter, ...queryParameters(downloadQuerySchema)],
    responses: {
      200: {
        description: 'The file (cer, pem), or for format=pfx the PFX and its password as JSON.',
        json: 'PfxDownload',
        media: ['application/pkix-cert', 'application/x-pem-file'],
        headers: {
          'Content-Disposition': {
            description: '`attachment` with a file name from the app name and thumbprint (files only).',
            schema: { type: 'string' },
          },
          'Cache-Control': noStore,
        },
      },
      400: standard[400],
      403: problem('The token lacks CertRotator.Reader, or CertRotator.Admin for format=pem/pfx.', {
        'WWW-Authenticate': insufficientScope,
      }),
      404: standard[404],
      409: problem('The private key is not in Key Vault (Key Vault disabled for the app, or a certificate the rotator did not create).'),
      401: standard[401],
      503: standard[503],
    },
  },
  {
    method: 'post',
    path: '/apps/{appId}/certificates/{certificateId}/export',
    operationId: 'exportCertificatePfx',
    tag: 'certificates',
    summary: 'Export a certificate and its key as a PFX file under your own password',
    description:
      "The raw PKCS#12 file from Key Vault, encrypted under the password in the request body: a POST so that the password travels in the body, never in a URL or a header (which proxies and gateways log). Recorded in the app's history with the caller.",
    role: 'CertRotator.Admin',
    parameters: [appIdParameter, certificateIdParameter],
    requestBody: {
      description: 'The password for the file, and whether to use the legacy layout.',
      mediaTypes: ['application/json'],
      schema: 'PfxExportInput',
    },
    responses: {
      200: {
        description: 'The PFX file.',
        media: ['application/x-pkcs12'],
        headers: {
          'Content-Disposition': {
            description: '`attachment` with a file name from the app name and thumbprint.',
            schema: { type: 'string' },
          },
          'Cache-Control': noStore,
        },
      },
      400: standard[400],
      403: problem('The token lacks CertRotator.Admin.', { 'WWW-Authenticate': insufficientScope }),
      404: standard[404],
      409: problem('The private key is not in Key Vault (Key Vault disabled for the app, or a certificate the rotator did not create).'),
      413: problem('The body is larger than 64 KiB.'),
      415: problem('The body is not application/json.'),
      401: standard[401],
      503: standard[503],
    },
  },
  {
    method: 'delete',
    path: '/apps/{appId}/certificates/{certificateId}',
    operationId: 'deleteCertificate',
    tag: 'certificates',
    summary: 'Remove a certificate from the app registration',
    description:
      'Removes the credential (managed by the rotator or not), never the last valid one unless `force=true`; emits CertificateRemoved and records the caller in history. Key Vault keeps its versions.',
    role: 'CertRotator.Admin',
    parameters: [appIdParameter, certificateIdParameter, ...queryParameters(deleteQuerySchema)],
    responses: {
      200: { description: 'Removed.', json: 'RemovedCertificate' },
      400: standard[400],
      404: standard[404],
      409: problem('It is the last valid certificate (use force=true), or a renewal holds the lease (see Retry-After).', {
        'Retry-After': retryAfter,
      }),
      ...secured,
    },
  },
];
