import type { UserConsoleLog } from 'vitest';
import type { Reporter, TestModule, Vitest } from 'vitest/node';

/** A stack frame as V8 prints it: "    at fn (file:line:col)" or "    at file:line:col". */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

/**
 * Fails the run when a test printed a stack trace to stderr (issue 22.7, "a quiet run"): an
 * expected fault is asserted where it is logged (ApiHarness keeps what handlers log, the local host
 * takes a hostLog), so a trace on stderr is either a regression of that or a real error nobody
 * looked at. Only what the tests' own console sends (vitest's onUserConsoleLog) is judged, never a
 * child process's output, and a trace is recognised by its frames, so the check needs no timing.
 */
export default class QuietRunReporter implements Reporter {
  readonly #traces: { where: string; content: string }[] = [];
  #vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.#vitest = vitest;
  }

  onUserConsoleLog(log: UserConsoleLog): void {
    if (log.type !== 'stderr' || !STACK_FRAME.test(log.content)) return;
    this.#traces.push({ where: this.#where(log.taskId), content: log.content });
  }

  onTestRunEnd(_modules: readonly TestModule[]): void {
    if (this.#traces.length === 0) return;
    const shown = this.#traces.map(({ where, content }) => `  ✗ ${where}\n${indent(content.split('\n').slice(0, 6).join('\n'))}`);
    process.stderr.write(
      `\nQuiet run (issue 22.7): ${this.#traces.length} stack trace(s) printed to stderr. Capture and assert what a test expects to be logged:\n${shown.join('\n')}\n`,
    );
    process.exitCode = 1;
  }

  #where(taskId: string | undefined): string {
    const entity = taskId === undefined ? undefined : this.#vitest?.state.getReportedEntityById(taskId);
    if (!entity) return 'outside any test';
    if (entity.type === 'module') return entity.relativeModuleId;
    return `${entity.module.relativeModuleId} > ${entity.fullName}`;
  }
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => `      ${line}`)
    .join('\n');
