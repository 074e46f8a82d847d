const HIDDEN = "<secret>";

/**
 * Text that must reach a server but never a log: printing, string conversion, JSON and
 * util.inspect all show "<secret>"; only reveal() gives the value, for the upload itself.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return HIDDEN;
  }

  toJSON(): string {
    return HIDDEN;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return HIDDEN;
  }
}

/** Replaces every occurrence of the given secret strings (empty ones ignored) with "<redacted>". */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.replaceAll(s, "<redacted>");
  return out;
}
