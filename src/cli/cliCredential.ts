import { AzureCliCredential, DeviceCodeCredential } from '@azure/identity';

/**
 * The CLI's one adapter of @azure/identity: an access token for the rotator's API, from the Azure
 * CLI's sign-in (`az login`) or a device code the user completes in a browser (the prompt goes to
 * stderr, so stdout stays the command's output).
 */
export interface CredentialChoice {
  readonly method: 'azure-cli' | 'device-code';
  /** The API's scope, such as `api://{api-app-id}/.default`. */
  readonly scope: string;
  readonly tenantId?: string;
  /** device-code: a public client app registration allowed to ask for the API's scope. */
  readonly clientId?: string;
}

export async function tokenFromIdentity(
  choice: CredentialChoice,
  prompt: (message: string) => void,
): Promise<{ token: string; expiresOnTimestamp: number }> {
  const credential =
    choice.method === 'azure-cli'
      ? new AzureCliCredential({ tenantId: choice.tenantId })
      : new DeviceCodeCredential({
          tenantId: choice.tenantId,
          clientId: choice.clientId,
          userPromptCallback: (info) => prompt(`${info.message}\n`),
        });
  const token = await credential.getToken(choice.scope);
  return { token: token.token, expiresOnTimestamp: token.expiresOnTimestamp };
}
