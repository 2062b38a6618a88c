/**
 * The layers of src/ (DEVELOPERS.md "How the code is laid out"), checked by test/architecture.test.ts
 * and by `npx depcruise src --config .dependency-cruiser.mjs`:
 *
 *   base        errors.ts, certificates/ (pure), domain/ (config, state, ports, identifiers)
 *   policy      renewal/decide/ (pure renewal decisions)
 *   adapters    tables/, graph/, keyvault/, authorization/, email/, eventgrid/, queue/, azureErrors.ts: one per service,
 *               the only importers (with the root) of the Azure service SDKs
 *   use cases   renewal/ (outside decide/), apps/, access/, rotations/, inventory/: depend on ports, never on an adapter
 *   interface   http/, then functions/ (one file per trigger), composition.ts and config.ts (the root, with
 *               serviceClients.ts and readinessProbes.ts split off it)
 *   entry       index.ts (registration only)
 *   sync        sync/: the entra-cert-sync command, its own composition root (cli.ts) with its one
 *               adapter (vaultCertificateSource.ts); the Functions app never imports it
 *   cli         cli/: the entra-cert-rotator admin command over the HTTP API, its own root (cli.ts)
 *               with its one adapter (cliCredential.ts, @azure/identity); nothing else imports it
 */
const ADAPTERS = '^src/lib/(tables|graph|keyvault|authorization|email|eventgrid|queue)/|^src/lib/azureErrors\\.ts$';
const USE_CASES = '^src/lib/(apps/|access/|rotations/|inventory/|renewal/(?!decide/))';
const ROOT = '^src/lib/(composition|config|serviceClients|readinessProbes)\\.ts$';
const SYNC_ADAPTER = '^src/sync/vaultCertificateSource\\.ts$';
const CLI_ADAPTER = '^src/cli/cliCredential\\.ts$';
/** The Azure service SDKs: only their adapters (and the composition root that builds them) import them. */
const SERVICE_SDKS =
  '(^|/)node_modules/(@azure/(data-tables|storage-queue|storage-blob|keyvault-[a-z]+|arm-authorization|communication-email|eventgrid|identity|msal-node)|@microsoft/microsoft-graph-client)/';

/** @type {import('dependency-cruiser').IConfiguration['forbidden']} */
export const forbidden = [
  {
    name: 'no-circular',
    comment: 'A cycle means two modules are one idea, or an idea is in the wrong place.',
    severity: 'error',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'base-imports-only-base',
    comment: 'errors.ts, certificates/ and domain/ are the bottom layer: pure, importing nothing above them.',
    severity: 'error',
    from: { path: '^src/lib/(domain/|certificates/|errors\\.ts$)' },
    to: { path: '^src/', pathNot: '^src/lib/(domain/|certificates/|errors\\.ts$)' },
  },
  {
    name: 'policy-is-pure',
    comment: 'Renewal decisions read the domain and the clock they are given; nothing else.',
    severity: 'error',
    from: { path: '^src/lib/renewal/decide/' },
    to: { path: '^src/', pathNot: '^src/lib/(domain/|certificates/|errors\\.ts$|renewal/decide/)' },
  },
  {
    name: 'use-cases-never-import-adapters',
    comment: 'Use cases depend on the ports in domain/; the composition root hands them the adapters.',
    severity: 'error',
    from: { path: USE_CASES },
    to: { path: `${ADAPTERS}|${ROOT}|^src/lib/http/|^src/functions/` },
  },
  {
    name: 'adapters-never-import-use-cases',
    comment: 'An adapter implements a port; it knows nothing of who calls it.',
    severity: 'error',
    from: { path: ADAPTERS },
    to: { path: `${USE_CASES}|${ROOT}|^src/lib/http/|^src/functions/` },
  },
  {
    name: 'http-never-imports-adapters',
    comment: 'The HTTP layer speaks to use cases; adapters come from the composition root.',
    severity: 'error',
    from: { path: '^src/lib/http/' },
    to: { path: `${ADAPTERS}|${ROOT}|^src/functions/` },
  },
  {
    name: 'handlers-never-build-adapters',
    comment: 'Handlers (and the registration in index.ts) get their use cases from composition.ts; they never import an adapter.',
    severity: 'error',
    from: { path: '^src/(functions/|index\\.ts$)' },
    to: { path: ADAPTERS },
  },
  {
    name: 'only-adapters-reach-service-sdks',
    comment: "An Azure service SDK is an adapter's business: nothing else in src/ imports one, not even for a type.",
    severity: 'error',
    from: { path: '^src/', pathNot: `${ADAPTERS}|${ROOT}|${SYNC_ADAPTER}|${CLI_ADAPTER}` },
    to: { path: SERVICE_SDKS },
  },
  {
    name: 'the-app-never-imports-the-sync',
    comment: 'entra-cert-sync runs on hosts outside Azure; the Functions app does not depend on it.',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/sync/' },
    to: { path: '^src/sync/' },
  },
  {
    name: 'the-sync-stays-out-of-the-app',
    comment: 'The sync reuses pure code (certificates/, domain/) and error helpers, never the app use cases, handlers or root.',
    severity: 'error',
    from: { path: '^src/sync/' },
    to: { path: `${USE_CASES}|${ROOT}|^src/lib/http/|^src/functions/|^src/index\\.ts$` },
  },
  {
    name: 'nothing-imports-the-cli',
    comment: "entra-cert-rotator is a client of the HTTP API, run on admins' machines; neither the app nor the sync depends on it.",
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/cli/' },
    to: { path: '^src/cli/' },
  },
  {
    name: 'the-cli-speaks-http-only',
    comment:
      'The CLI knows the API by its wire format: it imports none of the app, not even a schema, so it works against any deployed version.',
    severity: 'error',
    from: { path: '^src/cli/' },
    to: { path: '^src/(lib|functions|sync)/|^src/index\\.ts$' },
  },
  {
    name: 'only-handlers-reach-the-root',
    comment: 'Only handlers (and index.ts) see composition.ts; the library below it never does.',
    severity: 'error',
    from: { path: '^src/lib/', pathNot: ROOT },
    to: { path: `${ROOT}|^src/functions/|^src/index\\.ts$` },
  },
  {
    name: 'src-stands-alone',
    comment: 'The deploy package is src/ only: the local host, tests, benchmarks and scripts stay outside it.',
    severity: 'error',
    from: { path: '^src/' },
    to: { path: '^(tools|test|bench|scripts)/' },
  },
];

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a cycle through types is still two ideas tangled.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
