// templates/isollm-loop (dash, with the real isollm-task and isollm-agent) against the real queue
// server on the host, under the faults the soak (bench/soak.mts) found it did not survive: the queue
// and the hub away while a task is held, git's lock left by a killed agent, a killed loop's agent still
// at work. The hub is a bare repository; "away" is it moved aside.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startServer } from '../lib/queue/server.ts';
import { git, tmpDir } from './helpers.ts';
import { PROJECT, until, worker } from './loop-helpers.ts';
import { call, projectApi } from './queue-helpers.ts';

const taskStatus = async (w: Awaited<ReturnType<typeof worker>>, id: string) => (await w.api().call('GET', `/tasks/${id}`)).json;

describe('isollm-loop under faults', () => {
  it('keeps a held task and its commits while the queue and the hub are away, then pushes and finishes it', async () => {
    // The agent commits, says so, and waits for the test to take the queue and the hub away.
    const w = await worker('#!/bin/sh\necho one > one.txt && git add one.txt && git commit -qm one\ntouch "$MARK/committed"\nwhile [ ! -e "$MARK/go" ]; do sleep 0.1; done\n');
    const id = (await w.api().call('POST', '/tasks', { body: { title: 'survive' } })).json.id;
    const loop = w.startLoop({ ISOLLM_GIVE_UP_AFTER: '2' });
    await until('the agent to commit', () => fs.existsSync(path.join(w.dir, 'committed')));
    const commit = git(w.clone, 'rev-parse', 'HEAD');
    await w.stopQueue();
    fs.renameSync(w.hub, `${w.hub}.away`);
    fs.writeFileSync(path.join(w.dir, 'go'), '');
    await sleep(3000); // the loop's push, and its calls to the queue, fail meanwhile
    fs.renameSync(`${w.hub}.away`, w.hub);
    await w.startQueue();
    expect(await loop.exited, loop.log()).toBe(0);
    expect(await taskStatus(w, id)).toMatchObject({ status: 'done' });
    expect(git(w.hub, 'rev-parse', `isollm/${id}`)).toBe(commit);
    expect(loop.log()).toContain('retrying');
  }, 40_000);

  it('a worker asking for the next task on its socket gets back the one it holds (a lost answer is retried safely)', async () => {
    const w = await worker('#!/bin/sh\nexit 0\n');
    const server = await startServer({ dbFile: path.join(tmpDir(), 'q.db'), port: 0, socketsDir: path.join(w.dir, 'sockets2') });
    onTestFinished(() => server.close());
    const api = projectApi(server, PROJECT);
    const a = (await api.call('POST', '/tasks', { body: { title: 'a', priority: 0 } })).json.id;
    const b = (await api.call('POST', '/tasks', { body: { title: 'b', priority: 1 } })).json.id;
    const sock = (await server.addSocket('worker-1')).path;
    const next = () => call({ unix: sock }, 'POST', `/v1/projects/${PROJECT}/tasks/next/claim`);
    expect((await next()).json).toMatchObject({ id: a, claimed_by: 'worker-1' });
    expect((await next()).json).toMatchObject({ id: a, claimed_by: 'worker-1' });
    const history = (await api.call('GET', `/tasks/${a}/history`)).json as { action: string }[];
    expect(history.filter((h) => h.action === 'claim')).toHaveLength(1);
    await call({ unix: sock }, 'POST', `/v1/projects/${PROJECT}/tasks/${a}/done`);
    expect((await next()).json).toMatchObject({ id: b });
    // Over TCP (the host, other agents) claim-next still hands out one more task per call.
    expect((await api.call('POST', '/tasks', { body: { title: 'c' } })).status).toBe(201);
    expect((await api.call('POST', '/tasks/next/claim', { agent: 'worker-1' })).json.title).toBe('c');
  });

  it('clears the git lock an agent killed mid-commit left, so the next task is not blocked', async () => {
    // First task: the agent dies leaving .git/index.lock, as kill -9 in `git commit` does. Second: works.
    const w = await worker('#!/bin/sh\nif [ ! -e "$MARK/once" ]; then touch "$MARK/once" .git/index.lock; exit 1; fi\necho two > two.txt && git add two.txt && git commit -qm two\n');
    const first = (await w.api().call('POST', '/tasks', { body: { title: 'dies', priority: 0 } })).json.id;
    const second = (await w.api().call('POST', '/tasks', { body: { title: 'works', priority: 1 } })).json.id;
    const loop = w.startLoop({ ISOLLM_GIVE_UP_AFTER: '2' });
    expect(await loop.exited, loop.log()).toBe(0);
    expect(await taskStatus(w, first)).toMatchObject({ status: 'blocked', block_reason: 'the agent exited with status 1' });
    expect(await taskStatus(w, second), loop.log()).toMatchObject({ status: 'done' });
    expect(loop.log()).toContain('removed a stale .git/index.lock');
  }, 30_000);

  it('an agent killed by kill -9 gets its task run again, continuing from the commits it made', async () => {
    // First run: commits one step, then is killed -9 (for real) on its way to the second; second run
    // finds the first step on its branch and adds the second.
    const w = await worker([
      '#!/bin/sh',
      'echo run >> "$MARK/runs"',
      'if [ ! -e one.txt ]; then echo one > one.txt && git add one.txt && git commit -qm one; kill -9 $$; fi',
      'echo two > two.txt && git add two.txt && git commit -qm two',
    ].join('\n') + '\n');
    const id = (await w.api().call('POST', '/tasks', { body: { title: 'killed once' } })).json.id;
    const loop = w.startLoop({ ISOLLM_GIVE_UP_AFTER: '2' });
    expect(await loop.exited, loop.log()).toBe(0);
    expect(await taskStatus(w, id), loop.log()).toMatchObject({ status: 'done' });
    expect(fs.readFileSync(path.join(w.dir, 'runs'), 'utf8')).toBe('run\nrun\n');
    // Both runs' commits are on the task's branch in the hub, the first one's under the second's.
    expect(git(w.hub, 'log', '--format=%s', `isollm/${id}`).split('\n').slice(0, 2)).toEqual(['two', 'one']);
    const history = (await w.api().call('GET', `/tasks/${id}/history`)).json as { action: string; field?: string; new_value?: string }[];
    // Newest first.
    expect(history.filter((h) => h.field === 'status').map((h) => `${h.action}:${h.new_value}`)).toEqual(['done:done', 'claim:in_progress', 'retry:open', 'claim:in_progress']);
    expect(history.find((h) => h.field === 'note')?.new_value).toBe('run 1 of at most 3: the agent was killed by signal 9 (exit status 137)');
    expect(loop.log()).toContain(`gave ${id} back for another run`);
  }, 30_000);

  it('a task whose agent is killed every time is blocked after agent.loop.max_killed_runs runs, with the reason', async () => {
    const w = await worker('#!/bin/sh\necho run >> "$MARK/runs"\necho x >> x.txt && git add x.txt && git commit -qm "x"\nkill -KILL $$\n');
    const id = (await w.api().call('POST', '/tasks', { body: { title: 'always killed' } })).json.id;
    const loop = w.startLoop({ ISOLLM_GIVE_UP_AFTER: '2', ISOLLM_MAX_KILLED_RUNS: '2' });
    expect(await loop.exited, loop.log()).toBe(0);
    expect(await taskStatus(w, id), loop.log()).toMatchObject({ status: 'blocked', block_reason: '2 runs cut off; last: the agent was killed by signal 9 (exit status 137)' });
    expect(fs.readFileSync(path.join(w.dir, 'runs'), 'utf8')).toBe('run\nrun\n');
    // Nothing it committed is lost: both runs' commits are on the branch.
    expect(git(w.hub, 'rev-list', '--count', `main..isollm/${id}`)).toBe('2');
    // An unblock gives it fresh runs: the next cut-off run puts it back in the queue, not blocked.
    await w.api().call('POST', `/tasks/${id}/unblock`);
    await w.api().call('POST', `/tasks/${id}/claim`, { agent: 'worker-1' });
    const again = await w.api().call('POST', `/tasks/${id}/retry`, { agent: 'worker-1', body: { note: 'killed', max_runs: 2 } });
    expect(again.json).toMatchObject({ status: 'open' });
    // Only the claimer may say its run was cut off.
    await w.api().call('POST', `/tasks/${id}/claim`, { agent: 'worker-1' });
    expect((await w.api().call('POST', `/tasks/${id}/retry`, { agent: 'worker-2', body: { note: 'x' } })).status).toBe(403);
  }, 30_000);

  it('a full disk: the commits fail, the loop waits for space, keeps what was committed, and the task is run again', async () => {
    // First run: one commit, then the disk is filled to the brim (freed 3 s later, from inside: the
    // disk exists only in the loop's mount namespace) and the second commit fails. Second run: works.
    const w = await worker([
      '#!/bin/sh',
      'echo run >> "$MARK/runs"',
      'if [ ! -e "$MARK/filled" ]; then',
      '  touch "$MARK/filled"',
      '  echo one > one.txt && git add one.txt && git commit -qm one || exit 5',
      '  head -c 100000000 /dev/zero > "$HOME/fill" 2>/dev/null',
      '  (sleep 3; rm -f "$HOME/fill") >/dev/null 2>&1 &',
      '  echo two > two.txt && git add two.txt && git commit -qm two || exit 4',
      '  exit 0',
      'fi',
      'echo two > two.txt && git add two.txt && git commit -qm two',
    ].join('\n') + '\n', { disk: '16m' });
    const id = (await w.api().call('POST', '/tasks', { body: { title: 'disk full' } })).json.id;
    const loop = w.startLoop({ ISOLLM_GIVE_UP_AFTER: '3' });
    expect(await loop.exited, loop.log()).toBe(0);
    expect(loop.log()).toContain('the disk is full; waiting for space');
    expect(await taskStatus(w, id), loop.log()).toMatchObject({ status: 'done' });
    expect(fs.readFileSync(path.join(w.dir, 'runs'), 'utf8')).toBe('run\nrun\n');
    const history = (await w.api().call('GET', `/tasks/${id}/history`)).json as { action: string; field?: string; new_value?: string }[];
    expect(history.find((h) => h.field === 'note')?.new_value).toBe('run 1 of at most 3: the disk was full (the agent exited with status 4)');
    // Nothing lost, nothing broken: the commit made before the disk filled is on the branch, and the hub is sound.
    expect(git(w.hub, 'log', '--format=%s', `isollm/${id}`).split('\n')).toContain('one');
    expect(git(w.hub, 'log', '--format=%s', '-1', `isollm/${id}`)).toBe('two');
    git(w.hub, 'fsck', '--no-progress');
  }, 40_000);

  it('after everything in the worker was killed mid-task (a reboot), a new loop goes on with the task it holds, from the work left', async () => {
    // First run: leaves work uncommitted and "thinks"; the second finds it and finishes.
    const w = await worker('#!/bin/sh\ncase $ISOLLM_TASK_PROMPT in *urgent*) echo u > u.txt && git add u.txt && git commit -qm u; exit 0 ;; esac\nif [ -e work.txt ]; then echo more >> work.txt && git add work.txt && git commit -qm more; exit 0; fi\necho first > work.txt\ntouch "$MARK/started"\nexec sleep 60\n');
    const id = (await w.api().call('POST', '/tasks', { body: { title: 'long', priority: 2 } })).json.id;
    const first = w.startLoop();
    await until('the agent to start', () => fs.existsSync(path.join(w.dir, 'started')));
    process.kill(-first.pid, 'SIGKILL'); // the loop, the agent, all at once
    await first.exited;
    // A more urgent task came meanwhile: the held one is still finished first.
    const urgent = (await w.api().call('POST', '/tasks', { body: { title: 'urgent', priority: 0 } })).json.id;
    const second = w.startLoop({ ISOLLM_GIVE_UP_AFTER: '2' });
    expect(await second.exited, second.log()).toBe(0);
    expect(second.log()).toContain(`resuming ${id}, which this worker held when the previous run stopped`);
    expect(second.log().indexOf(`claimed ${id}`)).toBeLessThan(second.log().indexOf(`claimed ${urgent}`));
    expect(await taskStatus(w, urgent)).toMatchObject({ status: 'done' });
    expect(await taskStatus(w, id), second.log()).toMatchObject({ status: 'done', claimed_by: 'worker-1' });
    const history = (await w.api().call('GET', `/tasks/${id}/history`)).json as { action: string; field: string }[];
    expect(history.filter((h) => h.field === 'status').map((h) => h.action).reverse()).toEqual(['claim', 'done']);
    // The interrupted run's work went on the branch first, and the resumed one built on it.
    expect(git(w.hub, 'log', '--format=%s', `isollm/${id}`).split('\n').slice(0, 2)).toEqual(['more', 'isollm-loop: work left by an interrupted run']);
    expect(git(w.hub, 'show', `isollm/${id}:work.txt`)).toBe('first\nmore');
  }, 30_000);

  it('a loop started after one was killed -9 first stops the agent that one left working in the clone', async () => {
    const w = await worker('#!/bin/sh\n[ -e "$MARK/agent.pid" ] && exit 0\necho $$ > "$MARK/agent.pid"\nexec sleep 60\n');
    await w.api().call('POST', '/tasks', { body: { title: 'long' } });
    const first = w.startLoop();
    await until('the agent to start', () => fs.existsSync(path.join(w.dir, 'agent.pid')));
    const agentPid = Number(fs.readFileSync(path.join(w.dir, 'agent.pid'), 'utf8'));
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    expect(alive(agentPid)).toBe(true);
    const second = w.startLoop({ ISOLLM_GIVE_UP_AFTER: '1' });
    await until('the orphaned agent to be stopped', () => !alive(agentPid), 10_000);
    expect(await second.exited, second.log()).toBe(0);
    expect(second.log()).toContain('stopped what the previous isollm-loop');
  }, 30_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie waiting for its reaper counts as gone.
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
