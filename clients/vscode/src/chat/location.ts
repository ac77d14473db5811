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
