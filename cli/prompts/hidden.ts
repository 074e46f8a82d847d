import { createInterface } from "node:readline/promises";

/**
 * Asks on the terminal without echoing what is typed (raw mode, nothing of the answer is written
 * anywhere); undefined without a terminal. Ctrl-C aborts the command.
 */
export function askHidden(question: string): Promise<string | undefined> {
  const input = process.stdin;
  if (!input.isTTY || !process.stderr.isTTY) return Promise.resolve(undefined);
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let answer = "";
    const done = (): void => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") {
          done();
          resolve(answer);
          return;
        }
        if (ch === "\u0003") {
          done();
          reject(new Error("interrupted: nothing done"));
          return;
        }
        if (ch === "\u007f" || ch === "\b") answer = answer.slice(0, -1);
        else if (ch >= " ") answer += ch;
      }
    };
    input.setEncoding("utf8");
    input.setRawMode(true);
    input.resume();
    input.on("data", onData);
  });
}

/** A yes/no question on the terminal; false without one. */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
