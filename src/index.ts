import { app } from '@azure/functions';
import { health } from './functions/health.js';
import { ROUTE_METHODS } from './lib/http/httpMethods.js';
import { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME } from './lib/domain/renewalQueueName.js';
import { renewalScheduleBinding } from './lib/renewalScheduleBinding.js';

// Registration only: handlers live in src/functions/, one per trigger, and are exported by name so
// that tests and the local host call the very same functions.
app.setup({ enableHttpStream: false });

/**
 * A handler whose module is imported on its first invocation. The handler modules reach the
 * composition root, which imports every Azure SDK; importing them here would make every cold start
 * pay for all of them (several times the load of an empty app, measured by `npm run bench --
 * coldstart`) before the host even knows which function it is starting for. Each function pays for
 * what it uses, once.
 */
function loadOnFirstCall<A extends unknown[], R>(load: () => Promise<(...args: A) => R>): (...args: A) => Promise<Awaited<R>> {
  let handler: Promise<(...args: A) => R> | undefined;
  return async (...args): Promise<Awaited<R>> => {
    handler ??= load().catch((error: unknown) => {
      handler = undefined;
      throw error;
    });
    return await (
      await handler
    )(...args);
  };
}

app.http('health', { methods: [...ROUTE_METHODS.health], authLevel: 'anonymous', route: 'health', handler: health });
// Each route is registered for the methods it serves only (ROUTE_METHODS): the host refuses any
// other before a handler loads. authLevel anonymous: the handlers validate Entra bearer tokens themselves (docs/http-api.md).
app.http('apps', {
  methods: [...ROUTE_METHODS.apps],
  authLevel: 'anonymous',
  route: 'apps',
  handler: loadOnFirstCall(async () => (await import('./functions/apps.js')).appsCollection),
});
app.http('app', {
  methods: [...ROUTE_METHODS.app],
  authLevel: 'anonymous',
  route: 'apps/{appId}',
  handler: loadOnFirstCall(async () => (await import('./functions/apps.js')).appItem),
});
app.http('appHistory', {
  methods: [...ROUTE_METHODS.appHistory],
  authLevel: 'anonymous',
  route: 'apps/{appId}/history',
  handler: loadOnFirstCall(async () => (await import('./functions/apps.js')).appHistory),
});

app.http('appCertificates', {
  methods: [...ROUTE_METHODS.appCertificates],
  authLevel: 'anonymous',
  route: 'apps/{appId}/certificates',
  handler: loadOnFirstCall(async () => (await import('./functions/certificates.js')).appCertificates),
});
// {certificateId}: a thumbprint (GET) or a keyId (DELETE), either accepted by both (one template, one name).
app.http('appCertificate', {
  methods: [...ROUTE_METHODS.appCertificate],
  authLevel: 'anonymous',
  route: 'apps/{appId}/certificates/{certificateId}',
  handler: loadOnFirstCall(async () => (await import('./functions/certificates.js')).appCertificate),
});
// POST, not GET: the caller's PFX password travels in the body, never in a URL or a header.
app.http('appCertificateExport', {
  methods: [...ROUTE_METHODS.appCertificateExport],
  authLevel: 'anonymous',
  route: 'apps/{appId}/certificates/{certificateId}/export',
  handler: loadOnFirstCall(async () => (await import('./functions/certificates.js')).appCertificateExport),
});
// Bulk rotations (docs/http-api.md): start and list; one rotation's progress.
app.http('rotations', {
  methods: [...ROUTE_METHODS.rotations],
  authLevel: 'anonymous',
  route: 'rotations',
  handler: loadOnFirstCall(async () => (await import('./functions/rotations.js')).rotationsCollection),
});
app.http('rotation', {
  methods: [...ROUTE_METHODS.rotation],
  authLevel: 'anonymous',
  route: 'rotations/{rotationId}',
  handler: loadOnFirstCall(async () => (await import('./functions/rotations.js')).rotationItem),
});
// The tenant inventory: every app registration with its credentials summarised.
app.http('inventory', {
  methods: [...ROUTE_METHODS.inventory],
  authLevel: 'anonymous',
  route: 'inventory',
  handler: loadOnFirstCall(async () => (await import('./functions/inventory.js')).inventoryCollection),
});
app.http('openApiDocument', {
  methods: [...ROUTE_METHODS.openApiDocument],
  authLevel: 'anonymous',
  route: 'openapi.json',
  handler: loadOnFirstCall(async () => (await import('./functions/openApi.js')).openApiDocument),
});
// The dashboard (README, Dashboard): static files under /api/ui/, the API's own origin (src/lib/ui/dashboardSite.ts says why there).
app.http('dashboard', {
  methods: [...ROUTE_METHODS.dashboard],
  authLevel: 'anonymous',
  route: 'ui/{*path}',
  handler: loadOnFirstCall(async () => (await import('./functions/dashboard.js')).dashboard),
});

// The renewal pipeline (docs/renewal.md): the scheduler feeds the queue; the worker runs one stage per message.
// Storage queue messages are base64 JSON (the default messageEncoding); host.json sets the retry rules.
app.timer('renewalScheduler', {
  // The registration, not a handler, reads this one setting: the binding is fixed at start-up.
  // eslint-disable-next-line no-restricted-properties
  schedule: renewalScheduleBinding(process.env),
  handler: loadOnFirstCall(async () => (await import('./functions/renewalScheduler.js')).renewalScheduler),
});
app.storageQueue('renewalWorker', {
  queueName: RENEWAL_QUEUE_NAME,
  connection: 'AzureWebJobsStorage',
  handler: loadOnFirstCall(async () => (await import('./functions/renewalWorker.js')).renewalWorker),
});
// The same worker on the confirm stages' queue (renewalQueueName.ts says why it is apart): its own
// function, so the host gives it its own batch slots; a deploy queued before this split still runs its
// confirm from `renewal-requests`, which the worker above handles as any stage.
app.storageQueue('renewalConfirmer', {
  queueName: RENEWAL_CONFIRM_QUEUE_NAME,
  connection: 'AzureWebJobsStorage',
  handler: loadOnFirstCall(async () => (await import('./functions/renewalWorker.js')).renewalWorker),
});
