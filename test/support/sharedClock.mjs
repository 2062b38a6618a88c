// A wall clock shared by every process of an end-to-end test and moved forward by the test: loaded
// with `node --import` (through NODE_OPTIONS, so the sandbox, the local host, Azurite, the consumer
// and entra-cert-sync all get it), it makes `Date` read the real time plus the offset in the JSON
// file SHARED_CLOCK_FILE names ({ "offsetMs": N }), re-read every 100 ms.
//
// Written here rather than taken from @sinonjs/fake-timers: its clock is per process and advances by
// timer ticks (it drifts apart between processes), and only the wall clock may move. Timers,
// performance.now() and TLS certificate checks keep real time, so retries, leases in seconds and
// poll intervals behave as they do in production; a jump is what a host asleep for that long sees.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { setInterval } from 'node:timers';

const file = process.env.SHARED_CLOCK_FILE;
if (file) {
  const RealDate = globalThis.Date;
  const read = () => {
    try {
      const { offsetMs } = JSON.parse(readFileSync(file, 'utf8'));
      return Number.isFinite(offsetMs) ? offsetMs : 0;
    } catch {
      return 0;
    }
  };
  let offsetMs = read();
  setInterval(() => (offsetMs = read()), 100).unref();

  function SharedDate(...args) {
    if (new.target === undefined) return new RealDate(RealDate.now() + offsetMs).toString();
    return Reflect.construct(RealDate, args.length === 0 ? [RealDate.now() + offsetMs] : args, new.target);
  }
  // One prototype: a date made by either constructor is `instanceof Date`, and subclasses still work.
  SharedDate.prototype = RealDate.prototype;
  SharedDate.now = () => RealDate.now() + offsetMs;
  SharedDate.parse = RealDate.parse;
  SharedDate.UTC = RealDate.UTC;
  Object.defineProperty(SharedDate, 'name', { value: 'Date' });
  globalThis.Date = SharedDate;
}
