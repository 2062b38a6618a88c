import type { Reporter, TestCase, TestModule } from 'vitest/node';

/**
 * Lists every skipped test after the run with why it was skipped (the note given to
 * `ctx.skip(note)`), so a run that checked less than usual says so in its summary instead of in a
 * count alone. A skip without a note is listed as such: give it one.
 */
export default class SkipReasonReporter implements Reporter {
  readonly #skipped: { name: string; note: string | undefined }[] = [];

  onTestCaseResult(testCase: TestCase): void {
    const result = testCase.result();
    if (result.state !== 'skipped' || testCase.options.mode === 'todo') return;
    this.#skipped.push({ name: `${testCase.module.relativeModuleId} > ${testCase.fullName}`, note: result.note });
  }

  onTestRunEnd(_modules: readonly TestModule[]): void {
    if (this.#skipped.length === 0) return;
    const lines = this.#skipped.map(({ name, note }) => `  ↓ ${name}\n      ${note ?? 'no reason given (skip with ctx.skip(reason))'}`);
    process.stdout.write(`\nSkipped ${this.#skipped.length} test(s):\n${lines.join('\n')}\n`);
  }
}
