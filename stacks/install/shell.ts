/**
 * Every string that reaches a remote shell goes through here: single quotes make the shell take it
 * literally, whatever it holds, so no path or value is ever interpreted.
 */
export function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** An argv as one shell command line, every word quoted. */
export function shellCommand(argv: readonly string[]): string {
  return argv.map(shq).join(" ");
}

/** Octal as chmod takes it, e.g. 0o600 -> "0600". */
export function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}
