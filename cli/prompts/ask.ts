import { checkbox, confirm, input, select } from "@inquirer/prompts";

/** A missing or wrong answer where nobody can be asked: names the flag that gives it. */
export class AnswerError extends Error {
  override readonly name = "AnswerError";
}

export type Check = (value: string) => true | string;

/** What a flag parser returns for a value it cannot take: why. */
export interface Invalid {
  invalid: string;
}

export function invalid(why: string): Invalid {
  return { invalid: why };
}

function isInvalid(v: unknown): v is Invalid {
  return typeof v === "object" && v !== null && "invalid" in v;
}

export interface Choice<T> {
  value: T;
  name: string;
  description?: string;
}

interface Question<T> {
  /** The flag that answers it, e.g. "--network-id". */
  flag: string;
  message: string;
  /** The flag's value, when given: then nothing is asked. */
  given?: string;
  default?: T;
}

/**
 * One way to get every answer: from its flag when given, else from the operator at a terminal,
 * else (`--yes`) its default. Without a terminal and without a default the answer is an error
 * that names the flag, so `init` never hangs in CI.
 */
export class Asker {
  readonly interactive: boolean;
  private readonly yes: boolean;
  private readonly out: (line: string) => void;

  constructor(opts: { interactive: boolean; yes: boolean; out?: (line: string) => void }) {
    this.interactive = opts.interactive && !opts.yes;
    this.yes = opts.yes;
    this.out = opts.out ?? ((l) => process.stdout.write(`${l}\n`));
  }

  say(line = ""): void {
    this.out(line);
  }

  private unattended<T>(q: { flag: string; message: string; default?: T }): T {
    if (q.default !== undefined && this.yes) return q.default;
    const why = this.yes ? "it has no default" : "there is no terminal to ask on";
    throw new AnswerError(
      `${q.message.replace(/[?:]\s*$/, "")}: no answer (${why}): pass ${q.flag}${q.default !== undefined ? ", or --yes to take the defaults" : ""}`,
    );
  }

  private checked(flag: string, value: string, check?: Check): string {
    const r = check?.(value) ?? true;
    if (r !== true) throw new AnswerError(`${flag} ${JSON.stringify(value)}: ${r}`);
    return value;
  }

  async text(q: Question<string> & { check?: Check; optional?: boolean }): Promise<string> {
    if (q.given !== undefined) return this.checked(q.flag, q.given, q.check);
    if (!this.interactive) return q.optional ? (q.default ?? "") : this.checked(q.flag, this.unattended(q), q.check);
    return input({
      message: q.message,
      default: q.default || undefined,
      validate: (v) => (q.optional && v === "" ? true : (q.check?.(v.trim()) ?? true)),
    }).then((v) => v.trim());
  }

  async choose<T>(q: Question<T> & { choices: Choice<T>[]; parse: (flagValue: string) => T | Invalid }): Promise<T> {
    if (q.given !== undefined) {
      const parsed = q.parse(q.given);
      if (isInvalid(parsed)) throw new AnswerError(`${q.flag} ${JSON.stringify(q.given)}: ${parsed.invalid}`);
      return parsed;
    }
    if (!this.interactive) return this.unattended(q);
    return select({ message: q.message, choices: q.choices, default: q.default, pageSize: 12 });
  }

  async many<T>(
    q: Question<T[]> & { choices: Choice<T>[]; parse: (flagValue: string) => T[] | Invalid },
  ): Promise<T[]> {
    if (q.given !== undefined) {
      const parsed = q.parse(q.given);
      if (isInvalid(parsed)) throw new AnswerError(`${q.flag} ${JSON.stringify(q.given)}: ${parsed.invalid}`);
      return parsed;
    }
    if (!this.interactive) return this.unattended(q);
    const chosen = new Set(q.default ?? []);
    return checkbox({
      message: q.message,
      choices: q.choices.map((c) => ({ ...c, checked: chosen.has(c.value) })),
      validate: (items) => (items.length > 0 ? true : "choose at least one (space toggles, enter confirms)"),
      pageSize: 12,
    });
  }

  async yesNo(q: Omit<Question<boolean>, "given"> & { given?: boolean }): Promise<boolean> {
    if (typeof q.given === "boolean") return q.given;
    if (!this.interactive) return this.unattended(q);
    return confirm({ message: q.message, default: q.default });
  }
}

/** Whether the operator pressed Ctrl-C (or closed the terminal) at a prompt. */
export function isPromptCancel(e: unknown): boolean {
  return e instanceof Error && (e.name === "ExitPromptError" || e.name === "AbortPromptError");
}
