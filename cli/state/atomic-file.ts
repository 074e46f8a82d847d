import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Temp file (created 0600 or tighter, never world-readable in between) + fsync + rename + fsync of
 * the directory, then read back: a crash leaves the old file or the new one, never half of either,
 * and a write the disk did not keep is an error rather than a silent loss.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const fd = openSync(tmp, "wx", mode);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  renameSync(tmp, file);
  syncDir(dirname(file));
  if (!Buffer.from(bytes).equals(readFileSync(file))) throw new Error(`${file} does not read back as written: check the disk`);
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
