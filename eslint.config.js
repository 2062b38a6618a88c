// Type-checked ESLint (typescript-eslint's recommendedTypeChecked) with Prettier owning formatting.
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'dist-tools/',
      'dist-infra/',
      'coverage/',
      '.sandbox/',
      '.scratch/',
      'node_modules/',
      '**/*.js',
      '!eslint.config.js',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // @azure/functions is webpack-bundled CommonJS: under Node's ESM loader (the Functions worker,
      // the local host) only some named exports exist (`app` does; these classes do not), so a named
      // value import works in vitest and crashes in Azure. Types are fine; values come from the default export.
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@azure/functions',
              importNames: ['HttpRequest', 'HttpResponse', 'InvocationContext'],
              allowTypeImports: true,
              message:
                "Import the type only, and take the class from the default export: `import functions from '@azure/functions'; const { HttpResponse } = functions;`",
            },
          ],
        },
      ],
      // Handlers never read the environment; config.ts and the composition root are the exceptions.
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read settings through src/lib/config.ts (composition root only).' },
      ],
    },
  },
  {
    files: ['src/lib/composition.ts', 'tools/**', 'test/**', 'bench/**', 'scripts/**', '*.config.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: [
      'eslint.config.js',
      '.dependency-cruiser.mjs',
      'test/support/sharedClock.mjs',
      'scripts/check-node.mjs',
      'scripts/sandbox-env.mjs',
    ],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
