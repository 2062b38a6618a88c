export type LogLevel = 'info' | 'warn' | 'error';
export type LogEvent = 'started' | 'checked' | 'replaced' | 'unchanged' | 'rejected' | 'deferred' | 'error' | 'exec' | 'stopped';
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface JsonLog {
  write(level: LogLevel, event: LogEvent, msg: string, fields?: LogFields): void;
}

/** Anything shaped like PEM armour: an error message quoting a file must not carry a key into a log. */
const PEM_ARMOUR = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g;

/**
 * One JSON object per line (time, level, event, msg, then the fields), the form journald, Azure
 * Monitor's agent and `jq` read. Fields are facts (thumbprints, dates, versions, paths), never key
 * material; PEM armour in any text is redacted all the same.
 */
export function createJsonLog(writeLine: (line: string) => void, now: () => Date = () => new Date()): JsonLog {
  return {
    write(level, event, msg, fields = {}) {
      const entry: Record<string, unknown> = { time: now().toISOString(), level, event, msg: redact(msg) };
      for (const [name, value] of Object.entries(fields)) {
        if (value !== undefined && !(name in entry)) entry[name] = typeof value === 'string' ? redact(value) : value;
      }
      writeLine(`${JSON.stringify(entry)}\n`);
    },
  };
}

function redact(text: string): string {
  return text.replace(PEM_ARMOUR, '[PEM redacted]');
}
