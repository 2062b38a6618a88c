import { idempotencyKeySchema, inventoryQuerySchema } from './apiSchemas.js';
import {
  problem,
  queryParameters,
  retryAfter,
  secured,
  standard,
  unsupportedMedia,
  type OperationSpec,
  type ParameterSpec,
} from './openApiOperationSpec.js';

/** The OpenAPI operations across the fleet: bulk rotations and the tenant's inventory (tags `rotations`, `inventory`). */

const rotationIdParameter: ParameterSpec = {
  name: 'rotationId',
  in: 'path',
  description: 'The rotation id that POST /api/rotations answered with (its Location).',
  schema: { type: 'string', format: 'uuid' },
};

export const FLEET_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'post',
    path: '/rotations',
    operationId: 'startRotation',
    tag: 'rotations',
    summary: 'Start a bulk rotation',
    description:
      'Renews every managed app the selector takes (criteria combine; `all` stands alone), once each however often the request is retried with the same `Idempotency-Key`: a retry answers 202 with the same rotation, the same key with another body 422. A scheduled renewal deployed after the rotation was asked for counts as its renewal (no second certificate). Apps with management off or without a certificate yet are skipped, saying why. History rows and events of its renewals carry `rotationId` and `reason`; `EntraCertRotator.RotationCompleted` is published once every app is verified, failed or skipped.',
    role: 'CertRotator.Admin',
    parameters: [
      {
        name: 'Idempotency-Key',
        in: 'header',
        description: 'Required. A value of your own (a new UUID) for this rotation; send the same one when you retry.',
        required: true,
        schema: idempotencyKeySchema,
      },
    ],
    requestBody: { description: 'Which apps, and why.', mediaTypes: ['application/json'], schema: 'RotationRequest' },
    responses: {
      202: {
        description: 'Started (or, for a retry, already started): follow it at Location.',
        json: 'RotationView',
        headers: { Location: { description: '/api/rotations/{rotationId}', schema: { type: 'string' } } },
      },
      400: standard[400],
      409: problem('An earlier request with this key is still starting the rotation; retry after Retry-After.', {
        'Retry-After': retryAfter,
      }),
      413: problem('Request body too large.'),
      415: problem('Not application/json.', unsupportedMedia),
      422: problem('The Idempotency-Key was used before with another request.'),
      ...secured,
    },
  },
  {
    method: 'get',
    path: '/rotations',
    operationId: 'listRotations',
    tag: 'rotations',
    summary: 'Bulk rotations, newest first',
    description: 'Every rotation with its counts per stage (the apps of each are at its own URL).',
    role: 'CertRotator.Reader',
    responses: { 200: { description: 'The rotations.', json: 'RotationList' }, 400: standard[400], ...secured },
  },
  {
    method: 'get',
    path: '/rotations/{rotationId}',
    operationId: 'getRotation',
    tag: 'rotations',
    summary: 'A bulk rotation and its progress',
    description:
      'Counts per stage (queued, deployed, verified, failed, skipped), the apps still open and the failed ones (the first 200 of each), and `completedAt` once every app is settled.',
    role: 'CertRotator.Reader',
    parameters: [rotationIdParameter],
    responses: { 200: { description: 'The rotation.', json: 'RotationView' }, 400: standard[400], 404: standard[404], ...secured },
  },
  {
    method: 'get',
    path: '/inventory',
    operationId: 'listInventory',
    tag: 'inventory',
    summary: 'Every app registration of the tenant',
    description:
      "The managed tenant's app registrations as Microsoft Graph lists them to the rotator (the whole tenant with Application.Read.All; only the apps it owns with Application.ReadWrite.OwnedBy), each with its certificates and client secrets summarised (count, expired, the soonest expiry of the valid ones), `runsOnClientSecret`, its owners (the first 20) and whether the rotator manages it. One Graph request per page of 100, none per app. JSON comes a page at a time (a filtered page may hold fewer items, even none, with a continuationToken); `Accept: text/csv` answers the whole tenant as one CSV file.",
    role: 'CertRotator.Reader',
    parameters: queryParameters(inventoryQuerySchema),
    responses: {
      200: {
        description: 'One page (JSON), or every page (CSV).',
        json: 'InventoryPage',
        media: ['text/csv'],
        headers: {
          'Content-Disposition': { description: 'With CSV: `attachment; filename="inventory.csv"`.', schema: { type: 'string' } },
        },
      },
      400: standard[400],
      ...secured,
    },
  },
];
