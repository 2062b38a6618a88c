import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The dashboard's bundle (README, Dashboard): Preact through Vite's own JSX transform, built into
 * dist/web, which the Function App serves under /api/ui/ (src/lib/ui/dashboardSite.ts). Nothing is
 * inlined into the page: the Content-Security-Policy allows no inline script or style.
 */
export default defineConfig({
  root: fileURLToPath(new URL('web/', import.meta.url)),
  base: '/api/ui/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // An inlined asset would be a data: URL the policy refuses, and the module-preload polyfill is
    // code the page does not need (every browser the dashboard targets has modulepreload).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
});
