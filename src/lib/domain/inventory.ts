import { z } from 'zod';

/**
 * The tenant inventory (docs/http-api.md): every app registration the rotator may read, with its
 * credentials summarised. The port the use case reads the tenant through, and the view it answers.
 */

/** One app registration as the directory lists it: credential metadata only, never a key or secret. */
export interface TenantApplication {
  readonly appId: string;
  readonly objectId: string;
  readonly displayName: string;
  readonly signInAudience: string;
  readonly certificates: readonly { readonly endDateTime: string }[];
  readonly clientSecrets: readonly { readonly endDateTime: string }[];
  readonly owners: readonly {
    readonly id: string;
    readonly type: string;
    readonly displayName: string | null;
    /** Users only. */
    readonly userPrincipalName?: string;
  }[];
}

export interface TenantApplicationPage {
  readonly applications: readonly TenantApplication[];
  /** Opaque: where the directory's listing continues; absent on the last page. */
  readonly next: string | undefined;
}

export interface TenantApplications {
  /** One page of the tenant's app registrations, from the start or from `next`. */
  listApplications(next?: string): Promise<TenantApplicationPage>;
}

const isoDateTime = z.iso.datetime({ offset: true });

export const credentialSummarySchema = z
  .object({
    count: z.int().min(0),
    expired: z.int().min(0),
    /** The soonest end among those still valid; absent when none is. */
    earliestExpiry: isoDateTime.optional(),
  })
  .strict();

export type CredentialSummary = z.output<typeof credentialSummarySchema>;

export const inventoryItemSchema = z
  .object({
    appId: z.string(),
    objectId: z.string(),
    displayName: z.string(),
    signInAudience: z.string(),
    managed: z.boolean(),
    certificates: credentialSummarySchema,
    clientSecrets: credentialSummarySchema,
    /** Still signs in with a client secret: one that has not expired. */
    runsOnClientSecret: z.boolean(),
    /** As the directory expands them: the first 20. */
    owners: z.array(
      z
        .object({
          id: z.string(),
          type: z.string(),
          displayName: z.string().nullable(),
          /** Users only: where to reach the owner. */
          userPrincipalName: z.string().optional(),
        })
        .strict(),
    ),
  })
  .strict();

export type InventoryItem = z.output<typeof inventoryItemSchema>;

export interface InventoryFilter {
  /** `secret`: apps with a client secret; `certificate`: with a certificate; `none`: with neither. */
  readonly credential?: 'secret' | 'certificate' | 'none';
  /** Apps with a credential that has expired or expires within this many days. */
  readonly expiringWithinDays?: number;
  readonly managed?: boolean;
}
