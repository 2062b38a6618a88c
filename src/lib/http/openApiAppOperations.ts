import { appsQuerySchema, pageQuerySchema } from './apiSchemas.js';
import {
  appIdParameter,
  etagHeader,
  ifMatch,
  problem,
  queryParameters,
  secured,
  standard,
  unsupportedMedia,
  type OperationSpec,
} from './openApiOperationSpec.js';

/** The OpenAPI operations on managed apps: their config, state and history (tag `apps`). */

/** PUT and PATCH of a config: the preflight against app management policies (docs/renewal.md) adds a 400. */
const policyCap = problem(
  'The request is invalid; `errors` names each offending field. A `lifetimeDays` above the cap of the app management policy that binds the app is one, its message naming the policy and the cap.',
);

export const APP_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/apps',
    operationId: 'listApps',
    tag: 'apps',
    summary: 'List managed apps',
    description: 'Every managed app with its config and renewal state, a page at a time.',
    role: 'CertRotator.Reader',
    parameters: queryParameters(appsQuerySchema),
    responses: { 200: { description: 'One page of apps.', json: 'AppPage' }, 400: standard[400], ...secured },
  },
  {
    method: 'get',
    path: '/apps/{appId}',
    operationId: 'getApp',
    tag: 'apps',
    summary: "One app's config and state",
    description: 'The config and the renewal state; `state.verifiedAt` is set once a new certificate has signed in.',
    role: 'CertRotator.Reader',
    parameters: [appIdParameter],
    responses: {
      200: { description: 'The app.', json: 'AppView', headers: { ETag: etagHeader } },
      400: standard[400],
      404: standard[404],
      ...secured,
    },
  },
  {
    method: 'put',
    path: '/apps/{appId}',
    operationId: 'putApp',
    tag: 'apps',
    summary: 'Create or replace an app config',
    description:
      'Validates the whole config (docs/configuration.md); unknown fields are rejected. Creating reads the display name from Entra. `If-None-Match: *` creates only.',
    role: 'CertRotator.Admin',
    parameters: [
      appIdParameter,
      ifMatch,
      { name: 'If-None-Match', in: 'header', description: '`*`: create only, never replace.', schema: { type: 'string', const: '*' } },
    ],
    requestBody: {
      description: 'The config; omitted fields take their defaults.',
      mediaTypes: ['application/json'],
      schema: 'AppConfigInput',
    },
    responses: {
      200: { description: 'Replaced.', json: 'AppView', headers: { ETag: etagHeader } },
      201: {
        description: 'Created.',
        json: 'AppView',
        headers: { ETag: etagHeader, Location: { description: 'The app.', schema: { type: 'string' } } },
      },
      400: policyCap,
      404: problem('The app registration does not exist in the managed tenant.'),
      409: problem(
        'The Key Vault certificate name is taken, the rotator cannot manage this app registration, or an app management policy accepts only certificates from trusted certificate authorities (`detail` names the policy).',
      ),
      412: problem('If-Match (or If-None-Match) does not match the current version.'),
      413: problem('The body exceeds 64 KiB.'),
      415: problem('The body is not application/json.', unsupportedMedia),
      ...secured,
    },
  },
  {
    method: 'patch',
    path: '/apps/{appId}',
    operationId: 'patchApp',
    tag: 'apps',
    summary: 'Change some fields',
    description: 'RFC 7396 JSON merge patch onto the current config (`null` restores a default); the result is validated as a whole.',
    role: 'CertRotator.Admin',
    parameters: [appIdParameter, ifMatch],
    requestBody: {
      description: 'The fields to change, in the shape of the config.',
      mediaTypes: ['application/merge-patch+json', 'application/json'],
      schema: 'AppConfigInput',
    },
    responses: {
      200: { description: 'Updated.', json: 'AppView', headers: { ETag: etagHeader } },
      400: policyCap,
      404: standard[404],
      409: problem(
        'The Key Vault certificate name is taken, or an app management policy accepts only certificates from trusted certificate authorities (`detail` names the policy).',
      ),
      412: problem('If-Match does not match the current version.'),
      413: problem('The body exceeds 64 KiB.'),
      415: problem('The body is not a merge patch.', unsupportedMedia),
      ...secured,
    },
  },
  {
    method: 'delete',
    path: '/apps/{appId}',
    operationId: 'deleteApp',
    tag: 'apps',
    summary: 'Stop managing an app',
    description: 'Removes the config and state; the certificates stay on the app registration and in Key Vault, the history stays.',
    role: 'CertRotator.Admin',
    parameters: [appIdParameter, ifMatch],
    responses: {
      204: { description: 'No longer managed.' },
      400: standard[400],
      404: standard[404],
      412: problem('If-Match does not match the current version.'),
      ...secured,
    },
  },
  {
    method: 'get',
    path: '/apps/{appId}/history',
    operationId: 'listAppHistory',
    tag: 'apps',
    summary: 'Renewal and admin history',
    description: 'One row per renewal attempt or admin action (config writes, generations, key downloads, removals), newest first.',
    role: 'CertRotator.Reader',
    parameters: [appIdParameter, ...queryParameters(pageQuerySchema)],
    responses: { 200: { description: 'One page of history.', json: 'HistoryPage' }, 400: standard[400], 404: standard[404], ...secured },
  },
];
