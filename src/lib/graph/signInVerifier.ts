import type { CertificateSigner, SignInVerifier } from '../renewal/ports.js';
import { RetriableError } from '../errors.js';
import type { AppSignIn } from './graphClient.js';

/**
 * Proof before trust (§4): signs in as the app with the new certificate (client credentials with a
 * client assertion, through @azure/identity's ClientCertificateCredential against the configured
 * authority). A token means Entra knows the certificate. A refusal right after the certificate was
 * added is usually propagation (AADSTS700027), so every refusal is retriable: the caller's
 * verification window decides when to give up.
 */
export class AppSignInVerifier implements SignInVerifier {
  readonly #signIn: AppSignIn;

  constructor(signIn: AppSignIn) {
    this.#signIn = signIn;
  }

  async verify(appId: string, signer: CertificateSigner): Promise<void> {
    const session = this.#signIn(appId, signer);
    let token: { token: string } | null;
    try {
      token = await session.credential.getToken(session.scope);
    } catch (error) {
      throw new RetriableError(`Signing in as app ${appId} with the new certificate failed: ${(error as Error).message.split('\n')[0]}`, {
        cause: error,
      });
    }
    if (!token?.token) throw new RetriableError(`Signing in as app ${appId} with the new certificate returned no token`);
  }
}
