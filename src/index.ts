import { app } from '@azure/functions';
import { health } from './functions/health.js';

// Registration only: handlers live in src/functions/, one per trigger, and are exported by name so
// that tests and the local host call the very same functions.
app.setup({ enableHttpStream: false });

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'health', handler: health });
