/**
 * Plain-text tables for the terminal. Every cell is text from the API (display names come from
 * the tenant), so control characters are dropped: an ESC sequence in a name must not drive the
 * terminal.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function cell(value: unknown): string {
  if (value === undefined || value === null) return '-';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.replace(CONTROL, '');
}

export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => row.map(cell));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

/** Whole days from now to an ISO instant (negative once past); '-' without one. */
export function daysLeft(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '-';
  return String(Math.floor((Date.parse(iso) - now) / 86_400_000));
}
