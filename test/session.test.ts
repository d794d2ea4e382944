import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { statePaths } from '../lib/project/root.ts';
import { acquireLock, clearSession, readSession, waitForLock, writeSession } from '../lib/project/session.ts';
import { NODE, ROOT, tmpDir } from './helpers.ts';

describe('session lock', () => {
  it('refuses a second holder while the first is alive, and is free again after release', () => {
    const paths = statePaths(tmpDir());
    const release = acquireLock(paths, 'up');
    // Pretend another live process (our parent) holds it.
    fs.writeFileSync(paths.lock, JSON.stringify({ pid: process.ppid, command: 'up', since: 'then' }));
    expect(() => acquireLock(paths, 'down')).toThrow(/Another isollm command \(`isollm up`, pid \d+/);
    fs.rmSync(paths.lock);
    release();
    const again = acquireLock(paths, 'down');
    expect(JSON.parse(fs.readFileSync(paths.lock, 'utf8')).command).toBe('down');
    again();
    expect(fs.existsSync(paths.lock)).toBe(false);
  });

  it('takes over a lock left by a process that died', () => {
    const paths = statePaths(tmpDir());
    fs.mkdirSync(paths.dir, { recursive: true });
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(paths.lock, JSON.stringify({ pid: dead, command: 'up', since: 'then' }));
    const release = acquireLock(paths, 'up');
    expect(JSON.parse(fs.readFileSync(paths.lock, 'utf8')).pid).toBe(process.pid);
    release();
  });
});

describe('lock whose holder died and whose pid another process got', () => {
  // Real pid reuse: in a pid namespace of its own, a holder takes the lock and is killed, and the
  // next process is made to get its pid (ns_last_pid). Needs root (CI runs as root).
  const canReuse = process.getuid?.() === 0 && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
  it.skipIf(!canReuse)('is taken over: the pid runs with another start time', () => {
    const paths = statePaths(tmpDir());
    const lib = (f: string) => JSON.stringify(path.join(ROOT, 'lib/project', f));
    const code = `import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
const { acquireLock } = await import(${lib('session.ts')});
const { statePaths } = await import(${lib('root.ts')});
const paths = statePaths(${JSON.stringify(path.dirname(paths.dir))});
const holderCode = 'const { acquireLock } = await import(' + ${JSON.stringify(lib('session.ts'))} + '); const { statePaths } = await import(' + ${JSON.stringify(lib('root.ts'))} + '); acquireLock(statePaths(' + ${JSON.stringify(JSON.stringify(path.dirname(paths.dir)))} + '), "up"); process.kill(process.pid, "SIGKILL");';
const dead = spawnSync(process.execPath, ['--input-type=module', '-e', holderCode]).pid;
const record = JSON.parse(fs.readFileSync(paths.lock, 'utf8'));
let other;
for (let i = 0; i < 5; i++) {
  fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(dead - 1));
  other = spawn('sleep', ['30']);
  if (other.pid === dead) break;
  other.kill();
}
let taken;
try { acquireLock(paths, 'down')(); taken = 'taken'; } catch (err) { taken = err.message; }
other.kill();
console.log(JSON.stringify({ dead, reused: other.pid, record, taken }));`;
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', NODE, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.reused).toBe(out.dead);
    expect(out.taken).toBe('taken');
    expect(out.record).toMatchObject({ pid: out.dead, command: 'up', start: expect.stringMatching(/^\d+$/) });
  });

  it('records start time and boot, and a record whose start or boot is another is stale; one without them is judged by its pid', () => {
    const paths = statePaths(tmpDir());
    const release = acquireLock(paths, 'up');
    const own = JSON.parse(fs.readFileSync(paths.lock, 'utf8'));
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    expect(own.start).toBe(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    expect(own.boot).toBe(fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    release();
    // A live process (not this one: our own pid is always ours to take over).
    const live = spawn('sleep', ['30']);
    onTestFinished(() => void live.kill());
    const liveStat = fs.readFileSync(`/proc/${live.pid}/stat`, 'utf8');
    const start = liveStat.slice(liveStat.lastIndexOf(')') + 2).split(' ')[19];
    const holds = (record: object) => {
      fs.writeFileSync(paths.lock, JSON.stringify({ pid: live.pid, command: 'up', since: 'then', ...record }));
      try {
        acquireLock(paths, 'down')();
        return false;
      } catch (err) {
        expect((err as Error).message).toMatch(/Another isollm command \(`isollm up`/);
        return true;
      } finally {
        fs.rmSync(paths.lock, { force: true });
      }
    };
    expect(holds({ start, boot: own.boot })).toBe(true);
    expect(holds({})).toBe(true); // an older isollm's record
    expect(holds({ start: String(Number(start) + 1), boot: own.boot })).toBe(false);
    expect(holds({ start, boot: 'another-boot' })).toBe(false);
  });
});

// Another isollm process holding the base lock: it takes it, says so on stdout, holds it until killed
// or for `holdMs`.
function holder(file: string, holdMs: number) {
  const code = `const { waitForLock } = await import(${JSON.stringify(path.join(ROOT, 'lib/project/session.ts'))});
const release = await waitForLock(${JSON.stringify(file)}, 'worker add');
console.log('held');
setTimeout(() => { release(); console.log('released'); }, ${holdMs});`;
  const child = spawn(NODE, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const said = (line: string) => new Promise<void>((resolve) => child.stdout.on('data', (d) => String(d).includes(line) && resolve()));
  return { child, held: said('held'), released: said('released'), exited: new Promise((r) => child.on('exit', r)) };
}

describe('base lock (waiting)', () => {
  it('waits while another live process holds it, saying who, then takes it', async () => {
    const file = path.join(tmpDir(), '.isollm', 'base.lock');
    const other = holder(file, 1500);
    await other.held;
    const waited: string[] = [];
    const started = Date.now();
    const release = await waitForLock(file, 'up', { onWait: (h) => waited.push(`${h?.command} ${h?.pid}`) });
    expect(Date.now() - started).toBeGreaterThan(1000);
    expect(waited).toEqual([`worker add ${other.child.pid}`]);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid, command: 'up' });
    release();
    expect(fs.existsSync(file)).toBe(false);
    await other.exited;
  });

  it('takes over the lock of a holder that was killed (no release ran)', async () => {
    const file = path.join(tmpDir(), '.isollm', 'base.lock');
    const other = holder(file, 60_000);
    await other.held;
    other.child.kill('SIGKILL');
    await other.exited;
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(other.child.pid);
    const release = await waitForLock(file, 'up', { timeoutMs: 5_000 });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(process.pid);
    release();
  });

  it('is re-entrant within one process: free only when the outermost holder releases', async () => {
    const file = path.join(tmpDir(), '.isollm', 'base.lock');
    const outer = await waitForLock(file, 'up');
    const inner = await waitForLock(file, 'worker reset');
    inner();
    inner();
    expect(fs.existsSync(file)).toBe(true);
    outer();
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('session lock being written', () => {
  it('is not taken over while fresh and unreadable, but is once it is old', () => {
    const paths = statePaths(tmpDir());
    fs.mkdirSync(paths.dir, { recursive: true });
    fs.writeFileSync(paths.lock, '');
    expect(() => acquireLock(paths, 'up')).toThrow(/Another isollm command is starting/);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(paths.lock, old, old);
    acquireLock(paths, 'up')();
  });
});

describe('session.json', () => {
  it('round-trips and clears; a torn file reads as no session', () => {
    const paths = statePaths(tmpDir());
    expect(readSession(paths)).toBeNull();
    writeSession(paths, { project: 'p', started_at: 'now', updated_at: '', workers: ['worker-1'], multiplexer: { kind: 'tmux', session: 'isollm-p' }, agent: { preset: 'claude', mode: 'loop' } });
    expect(readSession(paths)?.workers).toEqual(['worker-1']);
    fs.writeFileSync(paths.session, '{"project": ');
    expect(readSession(paths)).toBeNull();
    clearSession(paths);
    expect(fs.existsSync(paths.session)).toBe(false);
  });
});

// Contenders in processes of their own: each round, all of them find the same stale lock at the same
// moment and try to take it over; every round must have exactly one holder.
describe('stale lock taken over by several processes at once', () => {
  it('goes to exactly one of them, every time', async () => {
    const rounds = 40;
    const dirs = Array.from({ length: rounds }, () => tmpDir());
    const dead = spawnSync('true').pid!;
    for (const dir of dirs) {
      const paths = statePaths(dir);
      fs.mkdirSync(paths.dir, { recursive: true });
      fs.writeFileSync(paths.lock, JSON.stringify({ pid: dead, command: 'up', since: 'then' }));
    }
    // Each contender says it is ready, is told when round 0 starts, reports what it won, and holds
    // its locks until told to end (a lock whose holder exited is free to take, rightly).
    const code = `const { acquireLock } = await import(${JSON.stringify(path.join(ROOT, 'lib/project/session.ts'))});
const { statePaths } = await import(${JSON.stringify(path.join(ROOT, 'lib/project/root.ts'))});
const { createInterface } = await import('node:readline');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const dirs = ${JSON.stringify(dirs)};
process.setMaxListeners(0); // one exit handler per lock held
console.log('ready');
const start = Number((await lines.next()).value);
const won = [];
for (let r = 0; r < dirs.length; r++) {
  while (Date.now() < start + r * 25);
  try { acquireLock(statePaths(dirs[r]), 'up'); won.push(r); } catch {}
}
console.log(JSON.stringify(won));
await lines.next();`;
    const contenders = Array.from({ length: 6 }, () => contender(code));
    await Promise.all(contenders.map((c) => c.line()));
    const start = Date.now() + 500;
    for (const c of contenders) c.child.stdin.write(`${start}\n`);
    const won = await Promise.all(contenders.map(async (c) => JSON.parse(await c.line()) as number[]));
    for (const c of contenders) c.child.stdin.end();
    expect(await Promise.all(contenders.map((c) => c.exited))).toEqual(contenders.map(() => 0));
    const holders = dirs.map((_, r) => won.filter((w) => w.includes(r)).length);
    expect(holders).toEqual(dirs.map(() => 1));
    // They met: the rounds went to different contenders.
    expect(won.filter((w) => w.length > 0).length).toBeGreaterThan(1);
  }, 60_000);
});

describe('stale lock whose taker died mid-takeover', () => {
  it('is taken over all the same', () => {
    const paths = statePaths(tmpDir());
    fs.mkdirSync(paths.dir, { recursive: true });
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(paths.lock, JSON.stringify({ pid: dead, command: 'up', since: 'then' }));
    // What a taker killed between taking the takeover file and replacing the lock leaves.
    fs.writeFileSync(`${paths.lock}.takeover-${fs.statSync(paths.lock).ino}`, JSON.stringify({ pid: dead, command: 'takeover', since: 'then' }));
    const release = acquireLock(paths, 'down');
    expect(JSON.parse(fs.readFileSync(paths.lock, 'utf8'))).toMatchObject({ pid: process.pid, command: 'down' });
    release();
    expect(fs.readdirSync(paths.dir).filter((f) => f.startsWith('session.lock'))).toEqual([]);
  });
});

/** A node process running `code`: its stdout line by line, and its exit code. */
function contender(code: string) {
  const child = spawn(NODE, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const queued: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let rest = '';
  child.stdout.on('data', (d) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop()!;
    for (const line of parts) (waiting.shift() ?? ((l: string) => queued.push(l)))(line);
  });
  const line = () => new Promise<string>((resolve) => (queued.length ? resolve(queued.shift()!) : waiting.push(resolve)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { child, line, exited };
}
