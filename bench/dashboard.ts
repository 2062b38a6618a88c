import { existsSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { CHROMIUM, startDashboardBrowser } from '../test/support/dashboardBrowser.js';
import { importManagedFleet } from '../test/support/managedFleet.js';
import type { SandboxProcess } from '../test/support/sandboxProcess.js';
import { DASHBOARD_PROBE } from './dashboardProbe.js';
import { machine, median, percentile, printResult, round } from './stats.js';

/**
 * The dashboard (web/, issue 21.3) with 1,000 managed apps against the same page with 10, in one run:
 * `npm run sandbox` on free ports, apps imported into its table, Debian's chromium (playwright-core)
 * signed in as a Reader through the authority's pick-a-user page. Per run (a fresh document each):
 *  - load: navigation to the overview's rows painted, and from the last /api/apps page's response
 *    end to that paint (the page's own work once the data is there);
 *  - sort: a click on each column's header, input to next paint;
 *  - filter: typing a word into the filter and deleting it again, each key press to next paint;
 *  - scroll: 800 px at a time down the list, to the paint with a row (not a spacer) mid-screen;
 *  - timeline: the click on "Timeline" to its bars painted, and back to the overview's rows painted.
 * Timed in the page (dashboardProbe.ts): the event's timestamp to the paint after the handlers;
 * Event Timing's INP-style duration for the same inputs and the Long Tasks API's tasks beside it.
 *
 * Goal: sort and filter under 100 ms at 1,000 apps (p95 of every interaction measured): RAIL's
 * response goal, "complete a transition initiated by user input within 100 ms" (web.dev/articles/rail);
 * web.dev's INP "good" threshold is 200 ms at the 75th percentile (web.dev/articles/inp), so the goal
 * keeps a margin for machines slower than this one. The overview's render once the data has arrived,
 * and the timeline's, under 1 s: RAIL's 100-1000 ms, where "loading pages or changing views" still
 * feels continuous and past which users lose focus; the fetch itself is the API's, reported beside.
 */
const SIZES = (process.env.BENCH_DASHBOARD_SIZES ?? '10,1000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 5);
const GOAL = { interactionMs: 100, viewMs: 1000 };
const FILTER_WORD = 'payments';
const SORT_LABELS = ['App', 'Days left', 'Next renewal', 'Last outcome', 'Verified', 'Days left'];
/** Each key press waits for its paint, then this long, so that one measurement never overlaps the next. */
const PAUSE_MS = 60;
const SCROLL_STEPS = 8;
const SCROLL_STEP_PX = 800;

interface Timed {
  readonly type: string;
  readonly start: number;
  readonly end: number;
}
interface Change {
  readonly dom: number;
  readonly paint: number;
}
interface Span {
  readonly start: number;
  readonly duration: number;
}
interface Measured {
  /** Milliseconds, one per measured render or interaction. */
  readonly ms: number[];
  /** Event Timing's duration for the same inputs (16 where the browser reported none: under its smallest threshold). */
  readonly eventTimingMs: number[];
  /** Long tasks within the measured windows. */
  readonly longTasks: Span[];
}

const phase = (): Measured => ({ ms: [], eventTimingMs: [], longTasks: [] });

/** Managed apps as the API lists them to a Reader. */
async function countApps(sandbox: SandboxProcess): Promise<number> {
  let count = 0;
  let next: string | undefined = '/api/apps?pageSize=100';
  const origin = new URL(sandbox.info.apiBaseUrl).origin;
  while (next !== undefined) {
    const response = await fetch(`${origin}${next}`, { headers: { authorization: `Bearer ${sandbox.info.tokens.Reader}` } });
    if (!response.ok) throw new Error(`GET ${next} answered ${response.status}: ${await response.text()}`);
    const page = (await response.json()) as { items: unknown[]; nextLink?: string };
    count += page.items.length;
    next = page.nextLink;
  }
  return count;
}

const probe = <T>(page: Page, expression: string): Promise<T> => page.evaluate<T>(`window.__benchProbe.${expression}`);
const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** One run on a fresh document: load, sorts, filter key presses, timeline and back. */
async function oneRun(page: Page, dashboardUrl: string, apps: number, into: Record<string, Measured>): Promise<void> {
  const windows: [string, number, number][] = [];
  await page.goto(dashboardUrl);
  const loaded = await probe<Change>(page, `waitFor('overview', '${apps} of ${apps} apps')`);
  const dataEnd = await page.evaluate<number>(
    `Math.max(...performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === '/api/apps').map((e) => e.responseEnd))`,
  );
  into.load!.ms.push(loaded.paint);
  into.renderAfterData!.ms.push(loaded.paint - dataEnd);
  into.fetch!.ms.push(dataEnd);
  windows.push(['load', 0, loaded.paint], ['renderAfterData', dataEnd, loaded.paint]);

  let interactions = 0;
  const interact = async (name: string, act: () => Promise<void>) => {
    await act();
    const timed = await probe<Timed>(page, `interactionsDone(${++interactions})`);
    into[name]!.ms.push(timed.end - timed.start);
    windows.push([name, timed.start, timed.end]);
    await pause(PAUSE_MS);
    return timed;
  };
  const head = page.locator('table.apps thead');
  for (const label of SORT_LABELS) await interact('sort', () => head.getByRole('button', { name: label, exact: true }).click());

  const filter = page.getByRole('searchbox');
  await filter.focus();
  let lastKey: Timed | undefined;
  for (const key of [...FILTER_WORD, ...Array<string>(FILTER_WORD.length).fill('Backspace')]) {
    lastKey = await interact('filter', () => page.keyboard.press(key));
  }
  await probe(page, `waitFor('overview', '${apps} of ${apps} apps', ${lastKey!.start})`);

  // Page by page down the list and back to the top; a list that fits the screen does not scroll.
  for (let step = 0; step < SCROLL_STEPS; step++) {
    const timed = await probe<(Timed & { frames: number }) | null>(page, `scrollStep(${SCROLL_STEP_PX})`);
    if (timed === null) break;
    into.scroll!.ms.push(timed.end - timed.start);
    windows.push(['scroll', timed.start, timed.end]);
    await pause(PAUSE_MS);
  }
  await page.evaluate('window.scrollTo(0, 0)');

  const nav = page.getByRole('navigation', { name: 'Views' });
  const toTimeline = await interact('timelineClick', () => nav.getByRole('link', { name: 'Timeline' }).click());
  const bars = await probe<Change>(page, `waitFor('timeline', '${apps}', ${toTimeline.start})`);
  into.timeline!.ms.push(bars.paint - toTimeline.start);
  windows.push(['timeline', toTimeline.start, bars.paint]);
  const toOverview = await interact('overviewClick', () => nav.getByRole('link', { name: 'Overview' }).click());
  const rows = await probe<Change>(page, `waitFor('overview', '${apps} of ${apps} apps', ${toOverview.start})`);
  into.overviewFromMemory!.ms.push(rows.paint - toOverview.start);
  windows.push(['overviewFromMemory', toOverview.start, rows.paint]);

  // Event Timing entries arrive after their paint.
  await pause(300);
  const events = await probe<Span[]>(page, 'events');
  const longTasks = await probe<Span[]>(page, 'longTasks');
  for (const [name, start, end] of windows) {
    const target = into[name]!;
    target.longTasks.push(...longTasks.filter((t) => t.start < end && t.start + t.duration > start));
    if (name === 'sort' || name === 'filter') {
      // The input's own entries (a click's pointerdown and pointerup come a moment before it).
      const own = events.filter((e) => e.start >= start - 50 && e.start <= end).map((e) => e.duration);
      target.eventTimingMs.push(Math.max(16, ...own));
    }
  }
}

function summary(values: readonly number[]) {
  return values.length === 0
    ? undefined
    : { median: round(median(values), 1), p95: round(percentile(values, 95), 1), max: round(Math.max(...values), 1), n: values.length };
}

function longTaskSummary(tasks: readonly Span[]) {
  const unique = [...new Map(tasks.map((t) => [`${t.start}`, t])).values()];
  return {
    count: unique.length,
    totalMs: round(
      unique.reduce((sum, t) => sum + t.duration, 0),
      0,
    ),
    maxMs: round(Math.max(0, ...unique.map((t) => t.duration)), 0),
  };
}

async function measureSize(page: Page, dashboardUrl: string, apps: number) {
  const names = [
    'load',
    'fetch',
    'renderAfterData',
    'sort',
    'filter',
    'scroll',
    'timelineClick',
    'timeline',
    'overviewClick',
    'overviewFromMemory',
  ];
  const into = Object.fromEntries(names.map((n) => [n, phase()]));
  // A first run warms the browser's caches and the host's code paths; it is not counted.
  await oneRun(page, dashboardUrl, apps, Object.fromEntries(names.map((n) => [n, phase()])));
  for (let run = 0; run < RUNS; run++) await oneRun(page, dashboardUrl, apps, into);
  const domNodes = {
    overview: await page.evaluate<number>(`document.getElementsByTagName('*').length`),
    timeline: await (async () => {
      await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Timeline' }).click();
      await probe(page, `waitFor('timeline', '${apps}')`);
      return page.evaluate<number>(`document.getElementsByTagName('*').length`);
    })(),
  };
  const pick = (name: string, withEvents = false) => ({
    ...summary(into[name]!.ms),
    ...(withEvents ? { eventTiming: summary(into[name]!.eventTimingMs) } : {}),
    longTasks: longTaskSummary(into[name]!.longTasks),
  });
  return {
    apps,
    load: pick('load'),
    fetch: summary(into.fetch!.ms),
    renderAfterData: pick('renderAfterData'),
    sort: pick('sort', true),
    filter: pick('filter', true),
    scroll: pick('scroll'),
    timeline: pick('timeline'),
    overviewFromMemory: pick('overviewFromMemory'),
    domNodes,
  };
}

type SizeResult = Awaited<ReturnType<typeof measureSize>>;

function report(result: SizeResult): void {
  const line = (name: string, s: { median?: number; p95?: number; longTasks?: { count: number; maxMs: number } } | undefined) =>
    `  ${name.padEnd(20)} median ${String(s?.median ?? '—').padStart(7)} ms   p95 ${String(s?.p95 ?? '—').padStart(7)} ms` +
    (s?.longTasks ? `   long tasks ${s.longTasks.count} (max ${s.longTasks.maxMs} ms)` : '');
  console.log(`${result.apps} apps (DOM elements: overview ${result.domNodes.overview}, timeline ${result.domNodes.timeline})`);
  for (const name of ['load', 'fetch', 'renderAfterData', 'sort', 'filter', 'scroll', 'timeline', 'overviewFromMemory'] as const) {
    console.log(line(name, result[name]));
  }
  console.log(line('sort (Event Timing)', result.sort.eventTiming));
  console.log(line('filter (Event Timing)', result.filter.eventTiming));
}

export async function benchDashboard(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    // Skipped, not failed, so that \`npm run bench\` (all of them) still runs the others.
    console.log(`${CHROMIUM} is missing (Debian: apt-get install chromium); the dashboard benchmark is skipped.`);
    printResult({ benchmark: 'dashboard', skipped: `${CHROMIUM} is missing`, ...machine() });
    return;
  }
  // Yearly: no renewal runs while the page is measured.
  const world = await startDashboardBrowser({ prefix: 'ecr-bench-dashboard-', env: { SANDBOX_RENEWAL_SCHEDULE: '0 0 0 1 1 *' } });
  const { sandbox } = world;
  try {
    const page = await world.signIn('Reader');
    // From the next navigation on: every run starts on a fresh document.
    await page.context().addInitScript(DASHBOARD_PROBE);
    const sizes: SizeResult[] = [];
    let managed = await countApps(sandbox);
    for (const size of [...SIZES].sort((a, b) => a - b)) {
      const started = Date.now();
      await importManagedFleet(sandbox, managed, size - managed);
      managed = await countApps(sandbox);
      if (managed !== size) throw new Error(`${managed} apps listed, ${size} expected`);
      console.log(`Seeded ${size} apps in ${Date.now() - started} ms; ${RUNS} runs after a warm-up run`);
      sizes.push(await measureSize(page, sandbox.info.dashboardUrl, size));
      report(sizes.at(-1)!);
    }
    const [baseline, largest] = [sizes[0]!, sizes.at(-1)!];
    const ratio = (f: (s: SizeResult) => number | undefined) => round((f(largest) ?? NaN) / (f(baseline) ?? NaN), 2);
    const goalMet =
      largest.sort.p95! < GOAL.interactionMs &&
      largest.filter.p95! < GOAL.interactionMs &&
      largest.renderAfterData.p95! < GOAL.viewMs &&
      largest.timeline.p95! < GOAL.viewMs;
    printResult({
      benchmark: 'dashboard',
      goal: {
        sortAndFilterP95Ms: GOAL.interactionMs,
        renderAfterDataAndTimelineP95Ms: GOAL.viewMs,
        basis: 'RAIL: response 100 ms, a view 100-1000 ms (web.dev/articles/rail); INP good <= 200 ms (web.dev/articles/inp)',
      },
      runs: RUNS,
      sizes,
      ratioToBaseline: {
        baselineApps: baseline.apps,
        apps: largest.apps,
        renderAfterData: ratio((s) => s.renderAfterData.median),
        sort: ratio((s) => s.sort.median),
        filter: ratio((s) => s.filter.median),
        timeline: ratio((s) => s.timeline.median),
        load: ratio((s) => s.load.median),
      },
      goalMet,
      ...machine(),
    });
  } finally {
    await world.close();
  }
}
