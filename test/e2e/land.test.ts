// Landing end to end on real containers: one worker in loop mode running a scripted agent (installed
// by setup_script) whose changes need their parents' files, and `isollm land` testing each candidate
// with land.test inside a container made from the image and setup_script. A chain A → B → C lands in
// order; two tasks editing the same line: the second is reopened, resolved by the agent, and lands; a
// task that breaks land.test is handed back, then blocked, and never reaches the base.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { listInstances } from '../../lib/runtime/client.ts';
import { LANDER_KEY } from '../../lib/land/tester.ts';
import { sessionName } from '../../lib/mux/index.ts';
import { freePort, git } from '../helpers.ts';
import { e2eProject } from './project.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('land');
const TIMEOUT_MS = 240_000;
// Its private tmux server is for the lander-pane test.
const { project, root, hub, tmuxDir, cli, isollm, tmux, commit, destroy } = e2eProject('land', {}, TIMEOUT_MS);
/** Live processes running `isollm land --watch` for this project (node DISPATCHER land --watch …; not the tmux server, whose argv holds every pane's). */
function landers(): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      return argv[0] === process.execPath && argv[2] === 'land' && argv[3] === '--watch' && argv.includes(root) && !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8'));
    } catch {
      return false;
    }
  }).map(Number);
}
const POLL_MS = 1_000;

// The scripted agent: reads the task's prompt on stdin; each change needs what its parent made.
const AGENT = `#!/bin/sh
set -eu
prompt=$(cat)
title=$(printf '%s\\n' "$prompt" | sed -n '1s/^Task [^:]*: //p')
case $title in
  'chain A') printf 'A\\n' > a.txt ;;
  'chain B') [ -f a.txt ] || { echo "no a.txt: B needs A's work"; exit 4; }; { cat a.txt; printf 'B\\n'; } > b.txt ;;
  'chain C') [ -f b.txt ] || { echo "no b.txt: C needs B's work"; exit 4; }; { cat b.txt; printf 'C\\n'; } > c.txt ;;
  'line '*)
    case $prompt in
      *conflicted*) git merge -q origin/main >/dev/null 2>&1 || true; printf 'one+two\\n' > shared.txt; git add shared.txt; git commit -q -m 'merge main, keep both' ;;
      *) printf '%s\\n' "\${title#line }" > shared.txt ;;
    esac ;;
  'break it') date +%s%N >> broken.txt ;;
  'auto X') printf 'X\n' > x.txt ;;
  'auto Y') [ -f x.txt ] || { echo "no x.txt"; exit 4; }; { cat x.txt; printf 'Y\n'; } > y.txt ;;
  'pane Z') printf 'Z\n' > z.txt ;;
  *) echo "unknown task: $title"; exit 5 ;;
esac
`;
const SETUP = `cat > /usr/local/bin/e2e-land-agent <<'AGENT_EOF'\n${AGENT}AGENT_EOF\nchmod 755 /usr/local/bin/e2e-land-agent\n`;
const CHECK = `#!/bin/sh
echo "checking the tree"
if [ -e c.txt ] && [ "$(cat c.txt)" != "$(printf 'A\\nB\\nC')" ]; then echo "FAIL: c.txt is wrong"; exit 1; fi
if [ -e broken.txt ]; then echo "FAIL: broken.txt must not exist"; exit 1; fi
echo "all good"
`;

type Task = { id: string; title: string; status: string; block_reason?: string; land_attempts?: number; land_failure?: string; landed_commit?: string; based_on?: string };

const addTask = (title: string, depends: string[] = []) => (JSON.parse(isollm(['task', 'add', title, ...depends.flatMap((d) => ['-d', d]), '--json'])) as Task).id;
const getTask = (id: string) => (JSON.parse(isollm(['task', 'show', id, '--json'])) as { task: Task }).task;
const landJson = () => {
  const r = cli(['land', '--json']);
  if (r.code > 1 || r.code < 0 || !r.stdout.trim()) throw new Error(`isollm land exited ${r.code}:\n${r.stderr}`);
  return { ...JSON.parse(r.stdout), stderr: r.stderr, code: r.code };
};
const hubFile = (p: string) => git(hub, 'show', `main:${p}`);

/** Poll until every task in `ids` has one of `statuses`. */
async function until(ids: string[], statuses: string[]): Promise<Task[]> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const tasks = ids.map(getTask);
    if (tasks.every((t) => statuses.includes(t.status))) return tasks;
    if (Date.now() > deadline) throw new Error(`tasks did not reach ${statuses}: ${JSON.stringify(tasks.map((t) => [t.id, t.status, t.block_reason]))}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

describe.skipIf(!rt)('isollm land on real containers', () => {
  beforeAll(async () => {
    const port = await freePort();
    const base = YAML.parse(e2eConfigYaml({ project, hub, port, agent: { preset: 'custom', command: 'e2e-land-agent', mode: 'loop', loop: { poll_interval: 1 } } }));
    Object.assign(base, { workers: 1, setup_script: SETUP, land: { test: ['sh', 'check.sh'], max_attempts: 2 } });
    commit({ 'README.md': '# e2e land\n', 'shared.txt': 'zero\n', 'check.sh': CHECK, 'isollm.yaml': YAML.stringify(base) });
    isollm(['up', '-n', '1', '--multiplexer', 'none']);
  }, TIMEOUT_MS);

  afterAll(() => destroy(rt, TIMEOUT_MS), TIMEOUT_MS);

  it('a chain A → B → C: each branch holds its parents commits; land --all lands all three in order, tested in a container', async () => {
    const a = addTask('chain A');
    const b = addTask('chain B', [a]);
    const c = addTask('chain C', [b]);
    await until([a, b, c], ['done']);
    expect(git(hub, 'merge-base', '--is-ancestor', `isollm/${a}`, `isollm/${b}`)).toBe('');
    expect(git(hub, 'merge-base', '--is-ancestor', `isollm/${b}`, `isollm/${c}`)).toBe('');
    expect(getTask(c).based_on).toMatch(new RegExp(`^main@[0-9a-f]{7} \\+ isollm/${b}@`));
    const before = git(hub, 'rev-parse', 'main');

    const r = landJson();
    expect(r.code, r.stderr).toBe(0);
    expect(r.landed.map((l: { id: string }) => l.id)).toEqual([a, b, c]);
    expect(r.test_runs).toBe(3);
    expect(r.stderr).toMatch(/launching the test container/);
    expect(r.stderr).toMatch(/✓ test passed/);
    // The test's own output, as it ran (streamed into the progress).
    expect(r.stderr).toMatch(/│ checking the tree\n.*│ all good/s);
    expect([hubFile('a.txt'), hubFile('b.txt'), hubFile('c.txt')]).toEqual(['A', 'A\nB', 'A\nB\nC']);
    expect(git(hub, 'merge-base', '--is-ancestor', before, 'main')).toBe('');
    for (const id of [a, b, c]) expect(getTask(id).landed_commit).toMatch(/^[0-9a-f]{40}$/);
    // The test container is gone; no worker list ever showed it.
    expect((await listInstances(rt!, project)).filter((i) => i.config[LANDER_KEY] === 'true')).toEqual([]);
  }, TIMEOUT_MS);

  it('two tasks editing the same line: the second is reopened with the conflict, the agent resolves it on its branch, and it lands', async () => {
    const one = addTask('line one');
    const two = addTask('line two');
    await until([one, two], ['done']);
    const twoTip = git(hub, 'rev-parse', `isollm/${two}`);
    const r = landJson();
    expect(r.landed.map((l: { id: string }) => l.id)).toEqual([one]);
    expect(r.handed_back).toMatchObject([{ id: two, reason: 'conflict in shared.txt', status: 'open' }]);
    expect(hubFile('shared.txt')).toBe('one');
    // The loop claims it again, the agent merges main and resolves; the branch keeps its old commits.
    const [again] = await until([two], ['done']);
    expect(again.land_failure).toMatch(/conflicted in: shared\.txt/);
    expect(git(hub, 'merge-base', '--is-ancestor', twoTip, `isollm/${two}`)).toBe('');
    const r2 = landJson();
    expect(r2.landed.map((l: { id: string }) => l.id)).toEqual([two]);
    expect(hubFile('shared.txt')).toBe('one+two');
  }, TIMEOUT_MS);

  it('a task that breaks land.test: reopened with the test output, blocked after land.max_attempts; the base never has it', async () => {
    const bad = addTask('break it');
    await until([bad], ['done']);
    const base = git(hub, 'rev-parse', 'main');
    const r = landJson();
    expect(r.code).toBe(1);
    expect(r.handed_back).toMatchObject([{ id: bad, status: 'open', attempts: 1 }]);
    expect(r.stderr).toContain('FAIL: broken.txt must not exist');
    const [retried] = await until([bad], ['done']);
    expect(retried.land_failure).toContain('FAIL: broken.txt must not exist');
    const r2 = landJson();
    expect(r2.handed_back).toMatchObject([{ id: bad, status: 'blocked', attempts: 2 }]);
    expect(getTask(bad)).toMatchObject({ status: 'blocked', block_reason: expect.stringMatching(/^landing failed 2 times/) });
    expect(git(hub, 'rev-parse', 'main')).toBe(base);
    expect(() => hubFile('broken.txt')).toThrow();
  }, TIMEOUT_MS);

  it('land.auto: `up` starts a lander; tasks added while the session runs end up landed without any command; `down` stops it', async () => {
    const config = YAML.parse(fs.readFileSync(path.join(root, 'isollm.yaml'), 'utf8'));
    config.land.auto = true;
    fs.writeFileSync(path.join(root, 'isollm.yaml'), YAML.stringify(config));
    const up = cli(['up', '-n', '1', '--multiplexer', 'none']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/Lander started \(land\.auto; pid \d+/);
    expect(JSON.parse(isollm(['status', '--json'])).land.landing_now).toBe(true);
    const x = addTask('auto X');
    const y = addTask('auto Y', [x]);
    const deadline = Date.now() + TIMEOUT_MS;
    while (![x, y].every((id) => getTask(id).landed_commit)) {
      if (Date.now() > deadline) throw new Error(`not landed in time: ${JSON.stringify([x, y].map(getTask))}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    expect(git(hub, 'log', '--first-parent', '--format=%s', '-2', 'main').split('\n')).toEqual([`Land ${y}: auto Y`, `Land ${x}: auto X`]);
    expect(hubFile('y.txt')).toBe('X\nY');
    const down = cli(['down', '--yes']);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toMatch(/✓ Lander stopped/);
    expect(fs.existsSync(path.join(root, '.isollm', 'lander.pid'))).toBe(false);
  }, 2 * TIMEOUT_MS);
  it('land.auto in tmux: the lander has its own pane showing the train live; a task lands by itself; a killed lander is started again by `up`, never two; `down` stops it', async () => {
    const config = YAML.parse(fs.readFileSync(path.join(root, 'isollm.yaml'), 'utf8'));
    config.land.auto = true;
    fs.writeFileSync(path.join(root, 'isollm.yaml'), YAML.stringify(config));
    fs.mkdirSync(tmuxDir, { recursive: true });
    const session = sessionName(project);
    // From stopped workers (run alone, the loop started detached by beforeAll's `up` would still hold the worker).
    expect(cli(['down', '--yes']).code).toBe(0);
    const up = cli(['up', '-n', '1', '--multiplexer', 'tmux', '--detach']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/Lander started \(land\.auto; pid \d+/);
    const panes = () => tmux('list-panes', '-s', '-t', session, '-F', '#{@isollm_title}\t#{pane_id}\t#{pane_dead}\t#{pane_start_command}').stdout.trim().split('\n').map((l) => l.split('\t'));
    const before = panes();
    expect(before.map((p) => p[0])).toEqual(['dashboard', 'lander', 'worker-1']);
    const [, landerPane, dead, command] = before[1];
    expect(dead).toBe('0');
    expect(command).toMatch(/isollm\.mts"? "?land"? "?--follow"? "?--project"? /);
    const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', landerPane).stdout;
    const waitScreen = async (pattern: RegExp) => {
      const deadline = Date.now() + TIMEOUT_MS;
      while (!pattern.test(screen())) {
        if (Date.now() > deadline) throw new Error(`the lander pane never showed ${pattern}:\n${screen()}`);
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    };
    const pid = Number(fs.readFileSync(path.join(root, '.isollm', 'lander.pid'), 'utf8'));
    await waitScreen(new RegExp(`lander running \\(pid ${pid}\\)`));

    // A task added now is done by the worker's pane and landed by the lander, shown in its pane.
    const z = addTask('pane Z');
    await waitScreen(new RegExp(`landed ${z} \\([0-9a-f]{7}\\)`));
    expect(screen()).toMatch(new RegExp(`${z} integrating onto [0-9a-f]{7}`));
    expect(screen()).toMatch(/✓ test passed/);
    expect(screen()).toMatch(/│ all good/);
    expect(getTask(z).landed_commit).toMatch(/^[0-9a-f]{40}$/);
    expect(hubFile('z.txt')).toBe('Z');

    // The lander crashes: its pane says so; the next `up` starts one again, in the same session and pane.
    process.kill(pid, 'SIGKILL');
    await waitScreen(/lander not running/);
    const again = cli(['up', '-n', '1', '--multiplexer', 'tmux', '--detach']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Lander started/);
    expect(again.stderr).toContain(`The tmux session ${session} was already running.`);
    expect(panes()).toEqual(before);
    const pid2 = Number(fs.readFileSync(path.join(root, '.isollm', 'lander.pid'), 'utf8'));
    expect(pid2).not.toBe(pid);
    await waitScreen(new RegExp(`lander running \\(pid ${pid2}\\)`));
    expect(landers()).toEqual([pid2]);
    // up once more: the running one is kept.
    expect(cli(['up', '-n', '1', '--multiplexer', 'tmux', '--detach']).stderr).toContain(`Lander running (pid ${pid2})`);
    expect(landers()).toEqual([pid2]);

    const down = cli(['down', '--yes']);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toMatch(/✓ Lander stopped/);
    expect(tmux('has-session', '-t', session).status).not.toBe(0);
    expect(landers()).toEqual([]);
  }, 2 * TIMEOUT_MS);
});
