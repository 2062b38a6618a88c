import { randomUUID } from 'node:crypto';
import { format } from 'node:util';
import functions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenewalQueue } from '../../src/lib/domain/ports.js';
import { RetriableError } from '../../src/lib/errors.js';
import { invocationLog } from '../../src/lib/logging/invocationLog.js';
import { makeDue, startRenewalWorld, type RenewalWorld } from '../support/renewalWorld.js';
import { skipAllWhen } from '../support/skipWithReason.js';
import { skipWithoutBicep, type Json } from './armTemplate.js';
import { deployMain } from './deployedInfra.js';

/**
 * The log alerts of infra/modules/monitoring.bicep (as compiled) against the lines the code really
 * logs through the invocation's logger. Application Insights is not here to run KQL, so each query's
 * own terms are applied to the captured line: every `message startswith "…"` / `contains "…"`,
 * the JSON parsed at its `indexof(message, '…')` anchor, each `tostring(fields.x) == "…"`, and every
 * `fields.x` it reads present there. A query that no longer matches the code's line fails here.
 */

const skip = skipWithoutBicep();
const admin = { oid: 'c0ffee00-0000-4000-8000-000000000003', name: 'Ada Admin' };

function rules(): { name: string; properties: Json }[] {
  return deployMain()
    .resource('monitoring')
    .module()
    .resources()
    .filter((r) => r.type === 'Microsoft.Insights/scheduledQueryRules')
    .map((r) => ({ name: String(r.name), properties: r.properties() }));
}

const criterionOf = (suffix: string) => {
  const rule = rules().find((r) => r.name.endsWith(`-${suffix}`));
  if (!rule) throw new Error(`no alert rule ending in -${suffix}`);
  return ((rule.properties.criteria as Json).allOf as Json[])[0]!;
};
const queryOf = (suffix: string) => criterionOf(suffix).query as string;

/** The trace's fields as the query reads them, or undefined when the query's filters leave it out. */
function asQueryReads(query: string, message: string): Record<string, unknown> | undefined {
  const text = message.toLowerCase(); // startswith and contains are case-insensitive in KQL
  for (const [, term] of query.matchAll(/message startswith "([^"]+)"/g)) if (!text.startsWith(term!.toLowerCase())) return undefined;
  for (const [, term] of query.matchAll(/message contains "([^"]+)"/g)) if (!text.includes(term!.toLowerCase())) return undefined;
  const anchor = /indexof\(message, '([^']+)'\)/.exec(query)?.[1];
  if (anchor === undefined) throw new Error(`the query parses no JSON: ${query}`);
  const at = message.indexOf(anchor);
  if (at < 0) return undefined;
  const fields = JSON.parse(message.slice(at)) as Record<string, unknown>;
  for (const [, field, value] of query.matchAll(/tostring\(fields\.(\w+)\) == "([^"]*)"/g)) if (fields[field!] !== value) return undefined;
  for (const [, field] of query.matchAll(/fields\.(\w+)/g)) expect(fields, `the query reads fields.${field}`).toHaveProperty(field!);
  return fields;
}

/** An invocation's logger as the Functions worker writes it: its arguments joined by util.format into the trace's message. */
function invocationTraces() {
  const traces: { level: string; message: string }[] = [];
  const context = new functions.InvocationContext({
    invocationId: randomUUID(),
    functionName: 'alertQueries',
    logHandler: (level, ...args) => void traces.push({ level, message: format(...args) }),
  });
  return { log: invocationLog(context), traces };
}

describe('the log alerts read the lines the code logs', () => {
  skipAllWhen(skip);
  let world: RenewalWorld;
  const lines = { renewalFailed: '', tickFailed: '', daysLeft: '', tickSummary: '' };
  let failingApp = '';
  const renewalId = randomUUID();

  beforeAll(async () => {
    if (skip) return;
    world = await startRenewalWorld();
    // The error text carries braces of its own, as Graph's JSON errors do.
    const cause = 'Graph refused the write: {"error":{"code":"Request_BadRequest"}}';
    const { app } = await world.createManagedApp();
    const worker = invocationTraces();
    await world
      .service()
      .recordFailure({ appId: app.config.appId, renewalId, stage: 'deploy', trigger: 'scheduled' }, new Error(cause), worker.log);
    lines.renewalFailed = worker.traces.find((t) => t.message.startsWith('renewal failed'))!.message;

    // A due app whose renewal request the queue refuses: the tick logs the failure and goes on.
    const { app: due } = await world.createManagedApp();
    failingApp = due.config.appId;
    const service = world.service();
    await service.generate(failingApp, admin);
    await world.drain(service);
    await makeDue(world, failingApp);
    const queue: RenewalQueue = {
      enqueue: (message, options) =>
        message.appId === failingApp
          ? Promise.reject(new RetriableError('Queue Storage is unavailable (503) {"code":"ServerBusy"}'))
          : world.renewalQueue.enqueue(message, options),
    };
    const timer = invocationTraces();
    const report = await world.scheduler(service, { queue }).tick({ log: timer.log });
    lines.tickFailed = timer.traces.find((t) => t.message.startsWith('scheduler: ') && t.message.includes(failingApp))!.message;
    lines.daysLeft = timer.traces.find((t) => t.message.startsWith(`certificate days left: app ${failingApp}`))!.message;
    // src/functions/renewalScheduler.ts's summary line of the same tick.
    lines.tickSummary = `scheduler tick: ${JSON.stringify(report)}`;
  }, 120_000);
  afterAll(() => world?.close());

  it('renewal-failed reads the failure line of the renewal use case, braces in its error and all', () => {
    const fields = asQueryReads(queryOf('renewal-failed'), lines.renewalFailed);
    expect(fields).toMatchObject({ renewalId, stage: 'deploy', outcome: 'failed' });
    expect(fields!.error).toContain('{"error":{"code":"Request_BadRequest"}}');
  });

  it("tick-failures reads the scheduler's per-app failure line, with the app, stage and cause", () => {
    const fields = asQueryReads(queryOf('tick-failures'), lines.tickFailed);
    expect(fields!.renewalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fields).toEqual({
      appId: failingApp,
      renewalId: fields!.renewalId,
      stage: 'due renewal',
      outcome: 'failed',
      cause: 'Queue Storage is unavailable (503) {"code":"ServerBusy"}',
    });
  });

  it("neither takes the other's line, the days-left line or the tick's summary", () => {
    expect(asQueryReads(queryOf('renewal-failed'), lines.tickFailed)).toBeUndefined();
    expect(asQueryReads(queryOf('tick-failures'), lines.renewalFailed)).toBeUndefined();
    for (const other of [lines.daysLeft, lines.tickSummary]) {
      expect(asQueryReads(queryOf('renewal-failed'), other), other).toBeUndefined();
      expect(asQueryReads(queryOf('tick-failures'), other), other).toBeUndefined();
    }
  });

  it('no alert reads custom dimensions, which the Node.js worker never sets', () => {
    for (const rule of rules()) expect(JSON.stringify(rule.properties.criteria), rule.name).not.toContain('customDimensions');
  });

  it('tick-failures fires per app once its ticks failed 3 times in an hour, counted in distinct ticks', () => {
    expect(queryOf('tick-failures')).toMatch(/\| summarize failedTicks = dcount\(operation_Id\), .* by appId\s*$/);
    expect(criterionOf('tick-failures')).toMatchObject({
      metricMeasureColumn: 'failedTicks',
      timeAggregation: 'Maximum',
      operator: 'GreaterThanOrEqual',
      threshold: 3,
      dimensions: [{ name: 'appId', operator: 'Include', values: ['*'] }],
    });
    const rule = rules().find((r) => r.name.endsWith('-tick-failures'))!;
    expect(rule.properties).toMatchObject({ enabled: true, windowSize: 'PT1H', evaluationFrequency: 'PT15M', autoMitigate: true });
  });
});
