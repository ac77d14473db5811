/** How the transcript names what a message is about: "sample.py:3-7". */

interface LineRange {
  start: { line: number };
  end: { line: number; character: number };
}

export function describeLocation(uri: string, range?: LineRange): string {
  let name: string;
  try {
    const pathname = decodeURIComponent(new URL(uri).pathname);
    name =
      pathname
        .split('/')
        .filter((p) => p !== '')
        .at(-1) ?? uri;
  } catch {
    name = uri;
  }
  if (!range) {
    return name;
  }
  const first = range.start.line + 1;
  // A selection that ends at column 0 does not include that line.
  const last = range.end.character === 0 && range.end.line > range.start.line ? range.end.line : range.end.line + 1;
  return first === last ? `${name}:${first}` : `${name}:${first}-${last}`;
}

/** A reference as the panel links it: the path relative to its workspace folder (the file
 * name outside any folder) and its lines, e.g. "pkg/billing.py:1-3". `roots`: the workspace
 * folders' URIs. */
export function describeReference(uri: string, range: LineRange, roots: readonly string[]): string {
  const root = roots
    .map((r) => (r.endsWith('/') ? r : `${r}/`))
    .filter((r) => uri.startsWith(r))
    .sort((a, b) => b.length - a.length)[0];
  const lines = describeLocation(uri, range).replace(/^.*:(?=\d+(-\d+)?$)/, '');
  if (root === undefined) {
    return `${describeLocation(uri)}:${lines}`;
  }
  let relative = uri.slice(root.length);
  try {
    relative = decodeURIComponent(relative);
  } catch {
    // Keep it encoded.
  }
  return `${relative}:${lines}`;
}
