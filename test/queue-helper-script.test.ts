// templates/isollm-task (POSIX sh + curl) run by dash against the real server over TCP.
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startServer } from '../lib/queue/server.ts';
import { freePort } from './support/net.ts';
import { ROOT, runScript, tmpDir } from './helpers.ts';
import { projectApi, testServer } from './queue-helpers.ts';

const HELPER = path.join(ROOT, 'templates', 'isollm-task');

/** Async on purpose: the server lives in this process, so a sync spawn would deadlock it. */
function helper(env: Record<string, string>, ...args: string[]) {
  return runScript(HELPER, env, args);
}

describe('isollm-task helper', () => {
  it('adds, lists, claims next with its branch, and finishes tasks', async () => {
    const s = await testServer();
    const api = projectApi(s, 'proj');
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_PROJECT: 'proj', ISOLLM_BRANCH_PREFIX: 'work/', ISOLLM_TASK_STATE: path.join(tmpDir(), 'current'), ISOLLM_AGENT: 'w1' };
    const run = (...args: string[]) => helper(env, ...args);

    const added = await run('add', 'Fix "quotes" & $HOME `x`', '-p', 'high', '-D', "line 1\nit's line 2");
    expect(added.code).toBe(0);
    const id = added.stdout.trim();
    expect((await api.call('GET', `/tasks/${id}`)).json).toMatchObject({ title: 'Fix "quotes" & $HOME `x`', priority: 1, description: "line 1\nit's line 2" });
    const second = (await run('add', 'second')).stdout.trim();
    expect((await api.call('GET', `/tasks/${second}`)).json).not.toHaveProperty('description');

    const list = await run('list');
    expect(list.stdout).toBe(`${id}\topen\t1\t-\tFix "quotes" & $HOME \`x\`\n${second}\topen\t2\t-\tsecond\n`);

    const next = await run('next');
    expect(next.code).toBe(0);
    const lines = next.stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual([`id: ${id}`, `branch: work/${id}`, 'title: Fix "quotes" & $HOME `x`', 'status: in_progress']);
    expect(next.stdout).toContain('claimed_by: w1\n');
    expect(next.stdout.endsWith("description: line 1\nit's line 2\n")).toBe(true);
    expect((await run('current')).stdout).toBe(`${id}\n`);

    const notMine = await helper({ ...env, ISOLLM_AGENT: 'w2' }, 'done', id);
    expect(notMine.code).toBe(4);
    expect(notMine.stderr).toContain('NOT_OWNER');
    expect(await run('done')).toMatchObject({ code: 0, stdout: `done: ${id}\n` });
    expect((await api.call('GET', `/tasks/${id}`)).json.status).toBe('done');
    expect((await run('current')).code).toBe(1);

    expect((await run('next')).stdout).toContain(`id: ${second}`);
    expect(await run('block', 'needs a "key" & more')).toMatchObject({ code: 0, stdout: `blocked: ${second}\n` });
    expect((await api.call('GET', `/tasks/${second}`)).json).toMatchObject({ status: 'blocked', block_reason: 'needs a "key" & more' });
    const none = await run('next');
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('nothing is ready');

    await api.call('POST', `/tasks/${second}/unblock`);
    await run('next');
    expect(await run('release', second)).toMatchObject({ code: 0, stdout: `released: ${second}\n` });
    expect((await run('show', second)).stdout).toMatch(new RegExp(`^id: ${second}\ntitle: second\nstatus: open\n`));
    expect((await run('list', 'done')).stdout).toBe(`${id}\tdone\t1\tw1\tFix "quotes" & $HOME \`x\`\n`);
    expect((await run('show', 'ar-0000')).code).toBe(1);
  });

  it('pages through long lists', async () => {
    const s = await testServer();
    const api = projectApi(s, 'proj');
    for (let i = 0; i < 205; i++) await api.add(`t${i}`);
    const r = await helper({ ISOLLM_QUEUE_URL: `http://127.0.0.1:${s.port}`, ISOLLM_PROJECT: 'proj' }, 'list', 'open');
    expect(r.stdout.trim().split('\n')).toHaveLength(205);
  });

  it('waits for a queue that does not listen yet (a worker still booting), then gives up with exit 5', async () => {
    // Nothing listens on the port for the first 0.6 s; the task added meanwhile gets through.
    const port = await freePort();
    const dir = tmpDir('isollm-queue-');
    const env = { ISOLLM_QUEUE_PORT: String(port), ISOLLM_PROJECT: 'proj', ISOLLM_TASK_STATE: path.join(dir, 'current') };
    const added = helper(env, 'add', 'late');
    await new Promise((r) => setTimeout(r, 600));
    const server = await startServer({ dbFile: path.join(dir, 'queue.db'), port, socketsDir: path.join(dir, 'sockets') });
    onTestFinished(() => server.close());
    expect(await added).toMatchObject({ code: 0 });
    expect((await helper(env, 'list')).stdout).toMatch(/\topen\t2\t-\tlate\n$/);

    const t0 = Date.now();
    expect((await helper({ ISOLLM_QUEUE_PORT: '1', ISOLLM_PROJECT: 'p', ISOLLM_QUEUE_WAIT: '1' }, 'next')).code).toBe(5);
    expect(Date.now() - t0).toBeGreaterThan(900);
    expect(await helper({ ISOLLM_PROJECT: 'p', ISOLLM_QUEUE_WAIT: 'soon' }, 'next')).toMatchObject({ code: 2, stderr: expect.stringContaining('ISOLLM_QUEUE_WAIT must be a whole number') });
  });

  it('exits 5 when the queue is unreachable and 2 on bad usage', async () => {
    expect((await helper({ ISOLLM_QUEUE_PORT: '1', ISOLLM_PROJECT: 'p', ISOLLM_QUEUE_WAIT: '0' }, 'next')).code).toBe(5);
    expect((await helper({ ISOLLM_PROJECT: 'p' }, 'bogus')).code).toBe(2);
    expect((await helper({}, 'next')).code).toBe(2);
    expect((await helper({ ISOLLM_PROJECT: 'p' }, 'add', 'x', '-p', 'urgent')).code).toBe(2);
    expect((await helper({ ISOLLM_PROJECT: 'p', ISOLLM_TASK_STATE: '/nonexistent/x' }, 'done')).code).toBe(2);
  });
});
