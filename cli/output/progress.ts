/**
 * Per-server progress as plain lines ("[name] message"), which stay readable when several servers
 * are handled in parallel and when the output is a log file rather than a terminal.
 */
export class Progress {
  private readonly width: number;
  private readonly write: (line: string) => void;
  private readonly started = Date.now();

  constructor(names: string[], write: (line: string) => void = (l) => process.stderr.write(l)) {
    this.width = Math.max(0, ...names.map((n) => n.length));
    this.write = write;
  }

  line(server: string, message: string): void {
    const t = ((Date.now() - this.started) / 1000).toFixed(1).padStart(5);
    this.write(`${t}s [${server.padEnd(this.width)}] ${message}\n`);
  }

  note(message: string): void {
    this.write(`${message}\n`);
  }
}

/** Left-aligned columns for summaries. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return (
    rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).join("\n") + "\n"
  );
}
