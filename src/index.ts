import { app } from '@azure/functions';
import { appHistory, appItem, appsCollection } from './functions/apps.js';
import { health } from './functions/health.js';
import { ALL_HTTP_METHODS } from './lib/http/route.js';

// Registration only: handlers live in src/functions/, one per trigger, and are exported by name so
// that tests and the local host call the very same functions.
app.setup({ enableHttpStream: false });

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'health', handler: health });
// Every method is registered so that a wrong one is answered 405 with Allow by the handler, not 404
// by the host. authLevel anonymous: the handlers validate Entra bearer tokens themselves (§5).
app.http('apps', { methods: [...ALL_HTTP_METHODS], authLevel: 'anonymous', route: 'apps', handler: appsCollection });
app.http('app', { methods: [...ALL_HTTP_METHODS], authLevel: 'anonymous', route: 'apps/{appId}', handler: appItem });
app.http('appHistory', { methods: [...ALL_HTTP_METHODS], authLevel: 'anonymous', route: 'apps/{appId}/history', handler: appHistory });
