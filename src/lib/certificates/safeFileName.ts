/** A file name from an app's display name: letters, digits, dot, dash and underscore only. */
export function safeFileName(displayName: string): string {
  const name = displayName
    .normalize('NFKD')
    .replace(/[^\w.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 80);
  return name === '' ? 'certificate' : name;
}
