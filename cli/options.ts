import { type Command, InvalidArgumentError, Option } from "commander";

/** What every command gets from the program's global options. */
export interface GlobalOptions {
  stateDir: string;
}

/** How a command file adds itself to the program: its options, its help, its action. */
export type Register = (program: Command, globals: () => GlobalOptions) => void;

export function configOption(): Option {
  return new Option(
    "-c, --config <file>",
    "deployment config (default: ./drasyl-deploy.yaml, else the built-in local sandbox)",
  );
}

export function portArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new InvalidArgumentError("must be a port number 1-65535");
  return n;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
