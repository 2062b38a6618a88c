import type { AppView } from '../api';
import { shortDate } from '../format';

const DAY_MS = 24 * 3600 * 1000;
const ROW = 28;
const LABEL = 220;
const WIDTH = 960;

/**
 * Each app's current certificate as a bar from valid-from to valid-until, its renewal window (the
 * last renewBeforeDays) shaded, and today as a line. SVG attributes only: the page's policy allows
 * no inline style.
 */
export function Timeline({ apps, now }: { apps: readonly AppView[]; now: Date }) {
  const withCertificate = apps
    .filter((a) => a.state.notBefore !== undefined && a.state.notAfter !== undefined)
    .sort((a, b) => Date.parse(a.state.notAfter!) - Date.parse(b.state.notAfter!));
  if (withCertificate.length === 0) return <p>No managed app has a certificate yet.</p>;
  const start = Math.min(now.getTime(), ...withCertificate.map((a) => Date.parse(a.state.notBefore!)));
  const end = Math.max(now.getTime() + DAY_MS, ...withCertificate.map((a) => Date.parse(a.state.notAfter!)));
  const x = (t: number) => LABEL + ((t - start) / (end - start)) * (WIDTH - LABEL - 10);
  const height = withCertificate.length * ROW + 40;
  return (
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">Expiry timeline</h2>
      <p class="legend">
        <span class="key key-valid" /> valid <span class="key key-window" /> renewal window <span class="key key-today" /> today (
        {shortDate(now.toISOString())})
      </p>
      <svg class="timeline" viewBox={`0 0 ${WIDTH} ${height}`} width="100%" role="img" aria-label="Certificate validity per app">
        {withCertificate.map((app, i) => {
          const from = Date.parse(app.state.notBefore!);
          const until = Date.parse(app.state.notAfter!);
          const windowStart = Math.max(from, until - app.config.renewBeforeDays * DAY_MS);
          const y = 10 + i * ROW;
          return (
            <g key={app.appId}>
              <title>{`${app.displayName}: valid ${shortDate(app.state.notBefore)} to ${shortDate(app.state.notAfter)}, renewal window from ${shortDate(new Date(windowStart).toISOString())}`}</title>
              <text x={LABEL - 8} y={y + 15} text-anchor="end" class="label">
                {app.displayName.length > 28 ? `${app.displayName.slice(0, 27)}…` : app.displayName}
              </text>
              <rect x={x(from)} y={y + 3} width={Math.max(1, x(until) - x(from))} height={ROW - 8} class="bar-valid" />
              <rect x={x(windowStart)} y={y + 3} width={Math.max(1, x(until) - x(windowStart))} height={ROW - 8} class="bar-window" />
            </g>
          );
        })}
        <line x1={x(now.getTime())} x2={x(now.getTime())} y1={0} y2={height - 24} class="today" />
        <text x={x(start)} y={height - 6} class="axis">
          {shortDate(new Date(start).toISOString())}
        </text>
        <text x={WIDTH - 10} y={height - 6} text-anchor="end" class="axis">
          {shortDate(new Date(end).toISOString())}
        </text>
      </svg>
    </section>
  );
}
