// Where an executable is on PATH. Checked directly: zx would hide ENOENT behind a shell's 127.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

/** Path of the first executable `bin` on `envPath` (default PATH), or null. */
export function findOnPath(bin: string, envPath = process.env.PATH ?? ''): string | null {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, bin);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}
