import { existsSync, readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { formatFieldPath } from "../../stacks/config-fields.ts";
import { configSchema, type DeployConfig } from "./schema.ts";

export const DEFAULT_CONFIG_FILE = "drasyl-deploy.yaml";

/** Names the file, the field and what is expected, so the fix is obvious. */
export class ConfigFileError extends Error {
  override readonly name = "ConfigFileError";
}

/** The built-in default: a three-region sandbox on this machine, no cloud account needed. */
export const SANDBOX_CONFIG: DeployConfig = configSchema.parse({
  deployment: "sandbox",
  targets: [{ kind: "local", regions: ["lab-1", "lab-2", "lab-3"] }],
});

export function formatIssues(file: string, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.map((i) => `  ${formatFieldPath(i.path)}: ${i.message}`);
  return `${file} is not a valid drasyl-deploy configuration:\n${lines.join("\n")}`;
}

export function parseConfig(text: string, file: string): DeployConfig {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigFileError(`${file} is not valid YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
  }
  const result = configSchema.safeParse(doc.toJS());
  if (!result.success) throw new ConfigFileError(formatIssues(file, result.error.issues));
  return result.data;
}

/** The given file, else ./drasyl-deploy.yaml, else the built-in sandbox. */
export function loadDeployConfig(file: string | undefined): { config: DeployConfig; source: string } {
  const path = file ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (path === undefined) return { config: SANDBOX_CONFIG, source: "built-in sandbox (3 local lab servers)" };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigFileError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return { config: parseConfig(text, path), source: path };
}
