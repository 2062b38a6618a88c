/**
 * What the dashboard benchmark installs in the page before its scripts run (an init script, through
 * the DevTools protocol, so the page's Content Security Policy still governs the page's own code).
 * A string: bench/ is type-checked without the DOM library.
 *
 * - `nextPaint()`: the time after the next frame is painted. A callback from requestAnimationFrame
 *   runs just before the frame's paint and a task queued from it runs after, the usual way to time
 *   "input to next paint" from script (web.dev/articles/inp's method, without DevTools).
 * - `interactions`: each click, and each key press that changed a field, with its event's timestamp
 *   (the input's time, before any handler) and the next paint after the handlers ran. Key presses
 *   are timed from keydown to the paint after their `input` event, which Chromium dispatches in a
 *   task of its own.
 * - `events`: Event Timing entries of interactions (durationThreshold 16 ms, the smallest the API
 *   allows), the browser's own INP-style figure for the same inputs.
 * - `longTasks`: every task over 50 ms (Long Tasks API).
 * - `scrollStep(dy)`: a scroll by `dy` to the first paint with a table row at the viewport's centre.
 * - `waitFor(name, value, since)`: the first time since `since` that the overview read `value`
 *   ("1000 of 1000 apps", with rows in its table) or the timeline had `value` bars, with the paint
 *   after; watched from the document's start, so a render that finished before the benchmark
 *   asked is still timed when it happened. Not the number of rows: the overview renders those near
 *   the viewport only.
 */
export const DASHBOARD_PROBE = `(() => {
  const probe = { longTasks: [], events: [], interactions: [], unsupported: [] };
  Object.defineProperty(window, '__benchProbe', { value: probe });
  const observe = (type, options, keep) => {
    try {
      new PerformanceObserver((list) => list.getEntries().forEach(keep)).observe({ type, buffered: true, ...options });
    } catch {
      probe.unsupported.push(type);
    }
  };
  observe('longtask', {}, (e) => probe.longTasks.push({ start: e.startTime, duration: e.duration }));
  observe('event', { durationThreshold: 16 }, (e) => {
    if (e.interactionId) probe.events.push({ name: e.name, start: e.startTime, duration: e.duration });
  });
  probe.nextPaint = () => new Promise((done) => requestAnimationFrame(() => setTimeout(() => done(performance.now()), 0)));
  let keydown;
  addEventListener('keydown', (e) => (keydown = e.timeStamp), { capture: true });
  addEventListener('input', () => {
    const start = keydown;
    probe.nextPaint().then((end) => probe.interactions.push({ type: 'key', start, end }));
  }, { capture: true });
  addEventListener('click', (e) => {
    const start = e.timeStamp;
    probe.nextPaint().then((end) => probe.interactions.push({ type: 'click', start, end }));
  }, { capture: true });
  probe.interactionsDone = (count) => new Promise((done) => {
    const check = () => (probe.interactions.length >= count ? done(probe.interactions[count - 1]) : setTimeout(check, 5));
    check();
  });
  // A scroll by dy: from the call to the first paint with a row of the table (not a spacer) at the
  // viewport's centre; null when the page cannot scroll that far (a short list).
  probe.scrollStep = (dy) => new Promise((done) => {
    const from = scrollY;
    const start = performance.now();
    scrollBy(0, dy);
    if (Math.abs(scrollY - from) < dy) return done(null);
    let frames = 0;
    const check = () => probe.nextPaint().then((end) => {
      const row = document.elementFromPoint(innerWidth / 2, innerHeight / 2)?.closest('tr');
      if ((row && !row.classList.contains('spacer')) || ++frames > 120) done({ type: 'scroll', start, end, frames });
      else check();
    });
    check();
  });
  // Every change of the overview (its "N of M apps" once rows are in its table: the two render
  // together) and of the number of timeline bars, from the first script on.
  const WATCHED = {
    overview: () =>
      document.querySelector('table.apps tbody tr:not(.spacer)') ? document.querySelector('.toolbar .count')?.textContent : undefined,
    timeline: () => String(document.querySelectorAll('svg.timeline > g').length),
  };
  const values = new Map();
  probe.changes = [];
  const waiters = [];
  const watched = () => {
    for (const [name, read] of Object.entries(WATCHED)) {
      const value = read();
      if (values.get(name) === value) continue;
      values.set(name, value);
      const change = { name, value, dom: performance.now() };
      probe.changes.push(change);
      probe.nextPaint().then((paint) => {
        change.paint = paint;
        for (const w of waiters.filter((w) => w.name === name && w.value === value && change.dom >= w.since)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.done(change);
        }
      });
    }
  };
  new MutationObserver(watched).observe(document, { childList: true, subtree: true, characterData: true });
  // The first time since 'since' (ms after navigation) that 'name' read 'value', once painted.
  probe.waitFor = (name, value, since = 0) => new Promise((done) => {
    const seen = probe.changes.find((c) => c.name === name && c.value === value && c.dom >= since && c.paint !== undefined);
    if (seen) done(seen);
    else waiters.push({ name, value, since, done });
  });
})();`;
