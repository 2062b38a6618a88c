import { ConfidentialClientApplication } from '@azure/msal-node';
import { encodeCer } from '../certificates/encode.js';
import { thumbprintsOf } from '../certificates/thumbprints.js';
import { RetriableError } from '../errors.js';
import type { CertificateSigner, SignInVerifier } from '../renewal/ports.js';

export interface AppSignInVerifierOptions {
  /** The managed apps' tenant (MANAGED_TENANT_ID). */
  readonly tenantId: string;
  /** AZURE_AUTHORITY_HOST, no trailing slash. */
  readonly authorityHost: string;
  /** What the token is asked for: `{GRAPH_BASE_URL}/.default`. */
  readonly scope: string;
}

/**
 * Proof before trust (§4): signs in as the app with the new certificate, through @azure/msal-node's
 * client credentials flow with a client assertion (PS256 with `x5t#S256`). A token means Entra
 * knows the certificate. A refusal right after the certificate was added is usually propagation
 * (AADSTS700027), so every refusal is retriable: the caller's verification window decides when to
 * give up.
 *
 * msal-node rather than ClientCertificateCredential: each verification is a new client for a new
 * certificate, and a new client would read the authority's OpenID metadata again every time; here
 * the metadata is read once per process and handed to each client, so a renewal's sign-in is the
 * one token request it needs.
 */
export class AppSignInVerifier implements SignInVerifier {
  readonly #options: AppSignInVerifierOptions;
  #metadata: Promise<string> | undefined;

  constructor(options: AppSignInVerifierOptions) {
    this.#options = { ...options, authorityHost: options.authorityHost.replace(/\/+$/, '') };
  }

  get #authority(): string {
    return `${this.#options.authorityHost}/${this.#options.tenantId}`;
  }

  async verify(appId: string, signer: CertificateSigner): Promise<void> {
    let token: string | undefined;
    try {
      const client = new ConfidentialClientApplication({
        auth: {
          clientId: appId,
          authority: this.#authority,
          // A known authority with its metadata given: no instance discovery, no metadata request.
          knownAuthorities: [new URL(this.#options.authorityHost).host],
          authorityMetadata: await this.#authorityMetadata(),
          clientCertificate: {
            thumbprintSha256: thumbprintsOf(signer.der).sha256,
            privateKey: signer.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
            x5c: encodeCer(signer.der, 'pem').toString('ascii'),
          },
        },
      });
      token = (await client.acquireTokenByClientCredential({ scopes: [this.#options.scope], skipCache: true }))?.accessToken;
    } catch (error) {
      throw new RetriableError(`Signing in as app ${appId} with the new certificate failed: ${firstLine(error)}`, { cause: error });
    }
    if (!token) throw new RetriableError(`Signing in as app ${appId} with the new certificate returned no token`);
  }

  /** The authority's OpenID metadata, read once per process (and again only after a failure). */
  #authorityMetadata(): Promise<string> {
    this.#metadata ??= (async () => {
      const response = await fetch(`${this.#authority}/v2.0/.well-known/openid-configuration`);
      if (!response.ok) throw new Error(`the authority's OpenID metadata answered HTTP ${response.status}`);
      return await response.text();
    })().catch((error: unknown) => {
      this.#metadata = undefined;
      throw error;
    });
    return this.#metadata;
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
