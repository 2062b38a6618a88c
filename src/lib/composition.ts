import { loadSettings, type Settings } from './config.js';

/**
 * The composition root: the one place that reads the environment, builds SDK clients and adapters,
 * and hands them to the use cases. Everything is built lazily on first use, so a cold start pays only
 * for what the first invocation needs, and a bad setting fails that invocation with a message naming
 * the setting rather than crashing the host at import.
 */
let settings: Settings | undefined;

export function getSettings(): Settings {
  settings ??= loadSettings(process.env);
  return settings;
}
