import { useMemo, useRef, useState } from 'preact/hooks';
import type { AppView } from '../api';
import { shortDate, TONE_LABEL } from '../format';
import { filterRows, overviewRows, sortRows, type SortKey, type StatusFilter } from '../overviewModel';
import { useWindowRows } from '../useWindowRows';

const COLUMNS: readonly [SortKey, string][] = [
  ['displayName', 'App'],
  ['daysLeft', 'Days left'],
  ['nextRenewal', 'Next renewal'],
  ['lastOutcome', 'Last outcome'],
  ['verified', 'Verified'],
];

/**
 * Every managed app: days left (coloured and said in words), next renewal, last outcome, verified.
 * The table renders the rows near the viewport only (useWindowRows); aria-rowcount and
 * aria-rowindex tell assistive technology how many there are and where each shown row sits.
 */
export function Overview({ apps, now }: { apps: readonly AppView[]; now: Date }) {
  const [text, setText] = useState('');
  const [status, setStatus] = useState<StatusFilter>('all');
  const [sort, setSort] = useState<{ key: SortKey; ascending: boolean }>({ key: 'daysLeft', ascending: true });
  const rows = useMemo(() => overviewRows(apps, now), [apps, now]);
  const shown = useMemo(() => sortRows(filterRows(rows, text, status), sort.key, sort.ascending), [rows, text, status, sort]);
  const body = useRef<HTMLTableSectionElement>(null);
  const visible = useWindowRows(shown.length, (index) => shown[index]!.appId, body);

  return (
    <section aria-labelledby="overview-title">
      <h2 id="overview-title">Managed apps</h2>
      <div class="toolbar">
        <label>
          Filter <input type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder="name or app id" />
        </label>
        <label>
          Show{' '}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as StatusFilter)}>
            <option value="all">all</option>
            <option value="attention">in or past the renewal window</option>
            <option value="failed">last renewal failed</option>
            <option value="unverified">not verified</option>
          </select>
        </label>
        <span class="count" role="status">
          {shown.length} of {rows.length} apps
        </span>
      </div>
      <table class="apps" aria-rowcount={shown.length + 1}>
        <thead>
          <tr aria-rowindex={1}>
            {COLUMNS.map(([key, label]) => (
              <th key={key} scope="col" aria-sort={sort.key === key ? (sort.ascending ? 'ascending' : 'descending') : 'none'}>
                <button
                  type="button"
                  class="sort"
                  onClick={() => setSort((s) => ({ key, ascending: s.key === key ? !s.ascending : true }))}
                >
                  {label}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody ref={body}>
          {visible.before > 0 && <Spacer height={visible.before} />}
          {visible.items.map(({ index }) => {
            const row = shown[index]!;
            return (
              <tr key={row.appId} ref={visible.measure} data-index={index} aria-rowindex={index + 2}>
                <td>
                  <a href={`#/apps/${row.appId}`}>{row.displayName}</a>
                  {!row.enabled && <span class="tag">renewal off</span>}
                </td>
                <td>
                  <span class={`days tone-${row.tone}`} title={TONE_LABEL[row.tone]}>
                    {row.daysLeft ?? '—'}
                    <span class="visually-hidden"> ({TONE_LABEL[row.tone]})</span>
                  </span>
                </td>
                <td>{shortDate(row.nextRenewal)}</td>
                <td>{row.lastOutcome ?? '—'}</td>
                <td>{row.verified ? 'yes' : 'no'}</td>
              </tr>
            );
          })}
          {visible.after > 0 && <Spacer height={visible.after} />}
        </tbody>
      </table>
    </section>
  );
}

/**
 * The height of the rows not rendered. Set through the CSSOM, which the page's policy (style-src
 * 'self') allows where it would refuse a style attribute in markup.
 */
function Spacer({ height }: { height: number }) {
  return (
    <tr class="spacer" aria-hidden="true">
      <td colSpan={COLUMNS.length} style={{ height: `${height}px` }} />
    </tr>
  );
}
