import { createInterface } from "node:readline/promises";

/** Asks on the terminal without echoing what is typed; undefined without a terminal. */
export async function askHidden(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const internal = rl as unknown as { _writeToOutput: (s: string) => void };
  const write = internal._writeToOutput.bind(rl);
  let muted = false;
  internal._writeToOutput = (s: string) => {
    if (!muted) write(s);
  };
  try {
    const answer = rl.question(question);
    muted = true;
    const value = await answer;
    process.stderr.write("\n");
    return value;
  } finally {
    rl.close();
  }
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
