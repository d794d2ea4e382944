// The rule "every call of the container client goes through one gateway" (lib/runtime/client.ts),
// checked on the sources: nothing else runs `lxc`/`incus` (panes only build an argv, as data).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.ts';

const GATEWAY = path.join('lib', 'runtime', 'client.ts');

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sources(rel);
    return /\.m?ts$/.test(e.name) ? [rel] : [];
  });
}

/** A zx call whose command is the client (`$(...)\`${rt.bin} …\``), or a spawn of it by name. */
const CLIENT_CALL = [/(\)|\$)`\$\{[^}]*(\.bin|\.prefix)\b/, /spawn(Sync)?\(\s*['"](lxc|incus)['"]/, /(\)|\$)`(sudo )?(lxc|incus) /];

describe('runtime gateway', () => {
  it('no module but the gateway runs the lxc/incus client', () => {
    const offenders = ['lib', 'scripts', 'bench']
      .flatMap(sources)
      .filter((f) => f !== GATEWAY)
      .flatMap((f) =>
        fs
          .readFileSync(path.join(ROOT, f), 'utf8')
          .split('\n')
          .map((line, i) => ({ where: `${f}:${i + 1}`, line }))
          .filter(({ line }) => CLIENT_CALL.some((re) => re.test(line))),
      );
    expect(offenders).toEqual([]);
  });

  it('the check sees a direct call', () => {
    const samples = ['await $({ quiet: true })`${rt.prefix ?? []} ${rt.bin} image import`;', "spawnSync('lxc', ['list'])", 'await $`lxc list`'];
    for (const s of samples) expect(CLIENT_CALL.some((re) => re.test(s)), s).toBe(true);
  });
});
