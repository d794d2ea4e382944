// Agent state end to end on real containers with the scripted demo agent: loop mode where one worker
// hits a usage limit (its task goes back to ready, the worker is `limited` until the reset time, the
// other worker goes on, the limited one resumes), then interactive mode in tmux where the agent asks
// the human (working → waiting → working → idle, shown in `status --json` and the pane title), with
// notify.command receiving exactly one event per change. Needs `npm run test-env`.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionName } from '../../lib/mux/index.ts';
import { checkAgainstSchema } from '../../lib/status/schema.ts';
import { freePort, NODE } from '../helpers.ts';
import { e2eProject } from './project.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('attention');
const { project, work, root, hub, isollm, cli, tmux, commit, destroy } = e2eProject('att', { ISOLLM_DEMO_DELAY: '2', ISOLLM_DEMO_IDLE: '900' });
const session = sessionName(project);
const notified = path.join(work, 'notified.jsonl');
const recorder = path.join(work, 'notify.cjs');
const UP_TIMEOUT_MS = 240_000;
const LIMIT_S = 45;

type Agent = { state: string; since: string; detail: string | null; until: string | null; resumes_in_seconds: number | null; source: string | null };
type Worker = { name: string; agent: Agent | null; task: { id: string } | null };
type Task = { id: string; title: string; status: string };
type Audit = { action: string; field: string; new_value?: string; changed_at: string; changed_by: string };
type Event = { arg: string; event: { event: string; worker: string | null; task?: { id: string } } };

function writeConfig(mode: 'loop' | 'interactive', port: number) {
  const agent = { preset: 'custom', command: 'isollm-demo-agent', mode, env: ['ISOLLM_DEMO_DELAY', 'ISOLLM_DEMO_IDLE'], loop: { poll_interval: 1 } };
  const config = YAML.parse(e2eConfigYaml({ project, hub, port, agent }));
  config.notify = { command: [NODE, recorder] };
  fs.writeFileSync(path.join(root, 'isollm.yaml'), YAML.stringify(config));
}
const addTask = (title: string, priority = 'normal') => (JSON.parse(isollm(['task', 'add', title, '-p', priority, '--json'])) as Task).id;
const task = (id: string) => {
  const shown = JSON.parse(isollm(['task', 'show', id, '--json'])) as { task: Task; history: Audit[] };
  return { ...shown.task, history: shown.history };
};
const status = () => {
  const model = JSON.parse(isollm(['status', '--json']));
  expect(checkAgainstSchema(model)).toEqual([]);
  return model as { workers: Worker[] };
};
const worker = (name: string) => status().workers.find((w) => w.name === name)!;
const events = (): Event[] => (fs.existsSync(notified) ? fs.readFileSync(notified, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.skipIf(!rt)('agent state on real containers', () => {
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    fs.mkdirSync(root);
    fs.writeFileSync(recorder, `let s='';process.stdin.on('data',c=>s+=c).on('end',()=>require('fs').appendFileSync(${JSON.stringify(notified)},JSON.stringify({arg:process.argv.at(-1),event:JSON.parse(s)})+'\\n'))\n`);
    writeConfig('loop', port);
    commit({ 'README.md': '# e2e attention\n' });
    isollm(['queue', 'start']);
  });
  afterAll(() => destroy(rt, UP_TIMEOUT_MS), UP_TIMEOUT_MS);

  it('a usage limit: the task goes back to ready, the worker is limited until the reset, the other goes on, then it resumes', async () => {
    const limited = addTask(`hits the limit [demo:limit ${LIMIT_S}]`, 'critical');
    const more = [1, 2, 3, 4, 5, 6].map((n) => addTask(`meanwhile ${n}`));
    expect(cli(['up', '-n', '2', '--multiplexer', 'none'], UP_TIMEOUT_MS).code).toBe(0);

    const hit = await until('a worker limited', () => status().workers.find((w) => w.agent?.state === 'limited'));
    const other = hit.name === 'worker-1' ? 'worker-2' : 'worker-1';
    expect(hit.agent).toMatchObject({ source: 'loop', detail: `usage limit; released ${limited}` });
    expect(hit.agent!.resumes_in_seconds).toBeGreaterThan(LIMIT_S - 20);
    expect(Date.parse(hit.agent!.until!) - Date.parse(hit.agent!.since)).toBeGreaterThanOrEqual((LIMIT_S - 10) * 1000); // the loop records the state a moment after the agent's message, later under load
    expect(isollm(['status'])).toMatch(new RegExp(`${hit.name} .*‖ limited until \\d\\d:\\d\\d \\(in \\d+s\\)`));
    // Released with a note saying why, never blocked; the other worker does it and the rest meanwhile.
    await until('all done', () => [limited, ...more].every((id) => task(id).status === 'done'), 120_000);
    const t = task(limited);
    // (history is newest first)
    expect(t.history.filter((h) => h.field === 'status').reverse().map((h) => [h.action, h.changed_by])).toEqual([['claim', hit.name], ['release', hit.name], ['claim', other], ['done', other]]);
    expect(t.history.find((h) => h.field === 'note')).toMatchObject({ action: 'release', changed_by: hit.name, new_value: expect.stringMatching(/^usage limit of the agent; resumes /) });
    const resumesAt = Date.parse(hit.agent!.until!);
    const doneByOther = more.map((id) => task(id).history.find((h) => h.field === 'status' && h.action === 'done')!);
    expect(doneByOther.filter((h) => h.changed_by === other && Date.parse(h.changed_at) < resumesAt).length).toBeGreaterThan(0);

    // It resumes by itself after the reset, and takes tasks again.
    // (on a loaded machine the other worker may still be at it: then this one goes straight to work)
    await until('it resumed', () => worker(hit.name).agent?.state !== 'limited', (LIMIT_S + 60) * 1000);
    expect(Date.now()).toBeGreaterThanOrEqual(resumesAt);
    // Each takes 10 s, so the other worker cannot do all four before this one claims (it did under load).
    const after = [1, 2, 3, 4].map((n) => addTask(`after the limit ${n} [demo:slow 10]`));
    await until('the later tasks done', () => after.every((id) => task(id).status === 'done'), 120_000);
    expect(after.some((id) => task(id).history.some((h) => h.action === 'claim' && h.changed_by === hit.name))).toBe(true);
    expect(isollm(['worker', 'logs', hit.name])).toMatch(/usage limit: released .* pausing until .* \(at the reset time the agent named\)[\s\S]*resuming after the usage limit/);

    // notify.command: the limit and its end once, each task done once, all work finished twice (two batches).
    await until('all_done notified twice', () => events().filter((e) => e.event.event === 'all_done').length === 2, 30_000);
    const kinds = events().map((e) => e.event.event);
    expect(kinds.filter((k) => k === 'worker_limited')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'worker_resumed')).toHaveLength(1); // by the loop going on, or the queue's clock at the reset
    expect(kinds.filter((k) => k === 'task_done')).toHaveLength(11);
    expect(kinds).not.toContain('task_blocked');
    expect(kinds).not.toContain('agent_waiting');
    expect(events().find((e) => e.event.event === 'worker_limited')!.arg).toMatch(new RegExp(`^isollm ${project}: ${hit.name} hit a usage limit; paused until \\d\\d:\\d\\d UTC$`));
  }, 2 * UP_TIMEOUT_MS);

  it('interactive in tmux: an agent that asks is `waiting` in status and its pane title, notified once, and goes on when answered', async () => {
    isollm(['down', '--yes'], UP_TIMEOUT_MS);
    writeConfig('interactive', port);
    isollm(['queue', 'start']);
    fs.rmSync(notified, { force: true });
    const ask = addTask('needs the human [demo:ask]', 'critical');
    expect(cli(['up', '-n', '1', '--multiplexer', 'tmux', '--detach'], UP_TIMEOUT_MS).code).toBe(0);

    const w = await until('worker-1 waiting', () => {
      const s = worker('worker-1');
      return s.agent?.state === 'waiting' && s;
    });
    expect(w.agent).toMatchObject({ detail: `question: go ahead with ${ask}?`, source: 'demo' });
    expect(w.task?.id).toBe(ask);
    const paneOf = (name: string) => tmux('list-panes', '-s', '-t', session, '-F', '#{pane_id}\t#{@isollm_title}').stdout.trim().split('\n').map((l) => l.split('\t')).find((p) => p[1] === name)![0];
    const pane = paneOf('worker-1');
    // The dashboard retitles the pane at its next refresh.
    const border = await until('the pane title', () => {
      const b = tmux('display-message', '-p', '-t', pane, '#{T:pane-border-format}').stdout;
      return /waiting/.test(b) && b;
    }, 30_000);
    expect(border).toMatch(/^ worker-1 ⏳ waiting \d+s $/m);
    expect(tmux('display-message', '-p', '-t', pane, '#{pane_title}').stdout).toMatch(/^worker-1 ⏳ waiting \d+s\n$/);

    // Answer: it goes on, finishes, and is idle at its prompt.
    await until('the question on screen', () => tmux('capture-pane', '-p', '-t', pane).stdout.includes('go ahead with'));
    tmux('send-keys', '-t', pane, 'Enter');
    await until('done', () => task(ask).status === 'done');
    await until('worker-1 idle', () => worker('worker-1').agent?.state === 'idle');
    await until('the idle title', () => /idle/.test(tmux('display-message', '-p', '-t', pane, '#{T:pane-border-format}').stdout), 30_000);

    // Exactly one notification for the wait, one for the task, one for all work finished.
    await until('all_done notified', () => events().some((e) => e.event.event === 'all_done'), 30_000);
    expect(events().map((e) => e.event.event)).toEqual(['agent_waiting', 'task_done', 'all_done']);
    expect(events()[0].arg).toBe(`isollm ${project}: worker-1 is waiting for you (question: go ahead with ${ask}?)`);
  }, 2 * UP_TIMEOUT_MS);
});
