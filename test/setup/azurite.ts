import type { TestProject } from 'vitest/node';
import { startAzurite } from '../emulators/azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the run's in-memory Azurite; tests isolate by table-name prefix. */
    storageConnectionString: string;
  }
}

/** Vitest globalSetup: one in-memory Azurite for the whole run, stopped after it. */
export default async function setup(project: TestProject) {
  const azurite = await startAzurite();
  project.provide('storageConnectionString', azurite.connectionString);
  return () => azurite.stop();
}
