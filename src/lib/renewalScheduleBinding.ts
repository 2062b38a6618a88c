/** The scheduler's default NCRONTAB (docs/configuration.md): every 15 minutes. */
export const DEFAULT_RENEWAL_SCHEDULE = '0 */15 * * * *';

/**
 * The timer binding's schedule. With RENEWAL_SCHEDULE set, the binding names it (`%RENEWAL_SCHEDULE%`,
 * resolved by the Functions host, so a change needs no redeploy); without it, the documented default
 * itself, so that the setting stays optional (docs/configuration.md): a `%…%` naming an unset setting stops the host.
 * A module of its own, importing nothing, because registration must stay light (cold start).
 */
export function renewalScheduleBinding(env: Readonly<Record<string, string | undefined>>): string {
  return env.RENEWAL_SCHEDULE?.trim() ? '%RENEWAL_SCHEDULE%' : DEFAULT_RENEWAL_SCHEDULE;
}
