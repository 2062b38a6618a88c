import { app } from '@azure/functions';
import { appHistory, appItem, appsCollection } from './functions/apps.js';
import { appCertificate, appCertificates } from './functions/certificates.js';
import { health } from './functions/health.js';
import { openApiDocument } from './functions/openApi.js';
import { renewalScheduler } from './functions/renewalScheduler.js';
import { renewalWorker } from './functions/renewalWorker.js';
import { ALL_HTTP_METHODS } from './lib/http/route.js';
import { RENEWAL_QUEUE_NAME } from './lib/queue/renewalQueue.js';

// Registration only: handlers live in src/functions/, one per trigger, and are exported by name so
// that tests and the local host call the very same functions.
app.setup({ enableHttpStream: false });

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'health', handler: health });
// Every method is registered so that a wrong one is answered 405 with Allow by the handler, not 404
// by the host. authLevel anonymous: the handlers validate Entra bearer tokens themselves (§5).
app.http('apps', { methods: [...ALL_HTTP_METHODS], authLevel: 'anonymous', route: 'apps', handler: appsCollection });
app.http('app', { methods: [...ALL_HTTP_METHODS], authLevel: 'anonymous', route: 'apps/{appId}', handler: appItem });
app.http('appHistory', { methods: [...ALL_HTTP_METHODS], authLevel: 'anonymous', route: 'apps/{appId}/history', handler: appHistory });
app.http('appCertificates', {
  methods: [...ALL_HTTP_METHODS],
  authLevel: 'anonymous',
  route: 'apps/{appId}/certificates',
  handler: appCertificates,
});
// {certificateId}: a thumbprint (GET) or a keyId (DELETE), either accepted by both (one template, one name).
app.http('appCertificate', {
  methods: [...ALL_HTTP_METHODS],
  authLevel: 'anonymous',
  route: 'apps/{appId}/certificates/{certificateId}',
  handler: appCertificate,
});
app.http('openApiDocument', { methods: [...ALL_HTTP_METHODS], authLevel: 'anonymous', route: 'openapi.json', handler: openApiDocument });

// The renewal pipeline (§4): the scheduler feeds the queue; the worker runs one stage per message.
// Storage queue messages are base64 JSON (the default messageEncoding); host.json sets the retry rules.
app.timer('renewalScheduler', { schedule: '%RENEWAL_SCHEDULE%', handler: renewalScheduler });
app.storageQueue('renewalWorker', { queueName: RENEWAL_QUEUE_NAME, connection: 'AzureWebJobsStorage', handler: renewalWorker });
