import { LOG_LEVELS, type LogLevel } from "./config.ts";

export type LogFields = Record<string, string | number | boolean | bigint | undefined>;

/** logfmt to stderr: one line per event, greppable in journald, parseable by log shippers. */
export class Logger {
  private readonly threshold: number;
  private readonly write: (line: string) => void;

  constructor(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)) {
    this.threshold = LOG_LEVELS.indexOf(level);
    this.write = write;
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.threshold;
  }

  error(msg: string, fields?: LogFields): void {
    this.log("error", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log("warn", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log("info", msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.log("debug", msg, fields);
  }
  trace(msg: string, fields?: LogFields): void {
    this.log("trace", msg, fields);
  }

  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    let line = `ts=${new Date().toISOString()} level=${level} msg=${quote(msg)}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${quote(String(v))}`;
    }
    this.write(line + "\n");
  }
}

function quote(v: string): string {
  return /^[\w.:/@[\]+-]+$/.test(v) ? v : JSON.stringify(v);
}
