// Agent state per worker and the events behind notify.command, against the real queue over HTTP and
// unix sockets: the socket is the identity, so a worker sets only its own state.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { QueueEvent } from '../lib/queue/events.ts';
import { FinishTracker, stateEvent } from '../lib/queue/events.ts';
import { reportAgentState, parseStateReport } from '../lib/queue/agents.ts';
import { createNotifier } from '../lib/queue/notify.ts';
import { Store } from '../lib/queue/store.ts';
import { freePort, NODE, runCli, tmpDir } from './helpers.ts';
import { call, projectApi, testServer } from './queue-helpers.ts';

const form = (fields: Record<string, string>) => ({ body: new URLSearchParams(fields).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });

describe('agent state machine', () => {
  it('keeps `since` while the state repeats and starts it anew on a change', () => {
    const store = new Store(':memory:');
    onTestFinished(() => store.close());
    const first = reportAgentState(store, 'worker-1', { state: 'working', source: 'loop' }, '2026-01-01T10:00:00.000Z');
    expect(first).toMatchObject({ previous: null, changed: true, current: { state: 'working', since: '2026-01-01T10:00:00.000Z' } });
    const again = reportAgentState(store, 'worker-1', { state: 'working', detail: 'Bash' }, '2026-01-01T10:05:00.000Z');
    expect(again).toMatchObject({ previous: 'working', changed: false, current: { since: '2026-01-01T10:00:00.000Z', updated_at: '2026-01-01T10:05:00.000Z', detail: 'Bash' } });
    const waiting = reportAgentState(store, 'worker-1', { state: 'waiting', until: '2026-01-01T11:00:00.000Z', exit_status: 3 }, '2026-01-01T10:06:00.000Z');
    // Fields of other states are dropped.
    expect(waiting.current).toEqual({ worker: 'worker-1', state: 'waiting', since: '2026-01-01T10:06:00.000Z', updated_at: '2026-01-01T10:06:00.000Z' });
    expect(reportAgentState(store, 'worker-1', { state: 'exited', exit_status: 0 }).current.exit_status).toBe(0);
    expect(reportAgentState(store, 'worker-2', { state: 'idle' }).previous).toBeNull();
  });

  it('validates reports: the five states, until for limited (RFC 3339 or Unix seconds), exit status 0-255', () => {
    const clean = (s: string) => s;
    expect(parseStateReport({ state: 'limited', until: '1767261600' }, clean).until).toBe('2026-01-01T10:00:00.000Z');
    expect(parseStateReport({ state: 'limited', until: '2026-01-01T11:00:00+01:00' }, clean).until).toBe('2026-01-01T10:00:00.000Z');
    expect(parseStateReport({ state: 'exited', exit_status: '130' }, clean).exit_status).toBe(130);
    const details = (body: Record<string, unknown>) => {
      try {
        parseStateReport(body, clean);
        return [];
      } catch (err) {
        return (err as { context: { details: string[] } }).context.details;
      }
    };
    expect(details({})).toEqual(['state is required']);
    expect(details({ state: 'sleeping' })).toEqual(['state must be one of working, waiting, idle, exited, limited']);
    expect(details({ state: 'limited' })).toEqual(['until is required for limited (when the limit resets)']);
    expect(details({ state: 'limited', until: 'soon' })).toEqual(['until must be an RFC 3339 time or Unix seconds']);
    expect(details({ state: 'exited', exit_status: 256 })).toEqual(['exit_status must be a whole number from 0 to 255']);
    expect(details({ state: 1 })).toEqual(['state must be a string', 'state is required']);
  });

  it('says "all work finished" once per time the project runs dry', () => {
    const t = new FinishTracker();
    expect(t.update('p', { ready: 0, in_progress: 0, total: 0 })).toBe(false); // nothing ever queued
    expect(t.update('p', { ready: 1, in_progress: 1, total: 2 })).toBe(false);
    expect(t.update('p', { ready: 0, in_progress: 0, total: 2 })).toBe(true);
    expect(t.update('p', { ready: 0, in_progress: 0, total: 2 })).toBe(false);
    expect(t.update('p', { ready: 1, in_progress: 0, total: 3 })).toBe(false);
    expect(t.update('p', { ready: 0, in_progress: 0, total: 3 })).toBe(true);
  });

  it('only waiting, limited and the end of a limit are worth telling', () => {
    const at = '2026-01-01T10:00:00.000Z';
    const idle = { worker: 'worker-3', state: 'idle' as const, since: at, updated_at: at };
    expect(stateEvent('demo', idle, 'limited')).toMatchObject({ event: 'worker_resumed', summary: "isollm demo: worker-3's usage limit is over; it is idle again" });
    expect(stateEvent('demo', idle, 'working')).toBeNull();
    // Limited, then waiting at once: the one event says it waits.
    expect(stateEvent('demo', { ...idle, state: 'waiting' }, 'limited')?.event).toBe('agent_waiting');
    expect(stateEvent('demo', { worker: 'worker-3', state: 'waiting', since: at, updated_at: at, detail: 'permission: Bash' })?.summary).toBe('isollm demo: worker-3 is waiting for you (permission: Bash)');
    expect(stateEvent('demo', { worker: 'worker-3', state: 'limited', since: at, updated_at: at, until: '2026-01-01T15:00:00.000Z' })?.summary).toBe('isollm demo: worker-3 hit a usage limit; paused until 15:00 UTC');
    for (const state of ['working', 'idle', 'exited'] as const) expect(stateEvent('demo', { worker: 'w', state, since: at, updated_at: at })).toBeNull();
  });
});

describe('agent state over the queue API', () => {
  it('a worker reports its own state on its socket and may not set another worker\'s', async () => {
    const server = await testServer();
    const one = await server.addSocket('worker-1');
    await server.addSocket('worker-2');
    const sock = { unix: one.path };

    const put = await call(sock, 'PUT', '/v1/isollm/agents/worker-1', form({ state: 'waiting', detail: 'permission: Bash', source: 'claude' }));
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ worker: 'worker-1', state: 'waiting', detail: 'permission: Bash', source: 'claude', changed: true, previous: null });

    const other = await call(sock, 'PUT', '/v1/isollm/agents/worker-2', { body: { state: 'exited', exit_status: 1 } });
    expect(other.status).toBe(403);
    expect(other.json.error).toMatchObject({ code: 'FORBIDDEN', message: "A worker may report only its own state (this socket is worker-1's)" });
    // The header does not change who a socket is.
    const spoof = await call(sock, 'PUT', '/v1/isollm/agents/worker-2', { body: { state: 'idle' }, agent: 'worker-2' });
    expect(spoof.status).toBe(403);
    expect((await call(sock, 'DELETE', '/v1/isollm/agents/worker-2')).status).toBe(403);
    expect((await call(server, 'GET', '/v1/isollm/agents/worker-2')).status).toBe(404);

    // The host (TCP) sees everyone; a JSON body works as well as a form.
    expect((await call(server, 'PUT', '/v1/isollm/agents/worker-2', { body: { state: 'limited', until: 4102444800 } })).json.until).toBe('2100-01-01T00:00:00.000Z');
    const list = await call(server, 'GET', '/v1/isollm/agents');
    expect(list.json.map((s: { worker: string; state: string }) => [s.worker, s.state])).toEqual([['worker-1', 'waiting'], ['worker-2', 'limited']]);
    const bad = await call(sock, 'PUT', '/v1/isollm/agents/worker-1', { body: { state: 'napping' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('VALIDATION_FAILED');
    // Control characters from an agent never reach the user's terminal.
    expect((await call(sock, 'PUT', '/v1/isollm/agents/worker-1', { body: { state: 'waiting', detail: 'a\x1b]0;x\x07b' } })).json.detail).toBe('a\ufffd]0;x\ufffdb');

    // Removing a worker's socket forgets its agent.
    await server.removeSocket('worker-1');
    expect((await call(server, 'GET', '/v1/isollm/agents/worker-1')).status).toBe(404);
  });

  it('emits one event per change: waiting, limited, task done, task blocked, all work finished', async () => {
    const events: QueueEvent[] = [];
    const server = await testServer({ project: 'demo', emit: (e) => events.push(e) });
    const sock = { unix: (await server.addSocket('worker-1')).path };
    const api = projectApi(server);
    const state = (s: Record<string, string>) => call(sock, 'PUT', '/v1/isollm/agents/worker-1', form(s));

    await state({ state: 'working' });
    await state({ state: 'waiting', detail: 'permission: Bash' });
    await state({ state: 'waiting', detail: 'permission: Bash' }); // a repeat (a poll, a second hook)
    await state({ state: 'working' });
    await state({ state: 'limited', until: '4102444800' });
    await state({ state: 'limited', until: '4102444900' });
    expect(events.map((e) => [e.event, e.worker, e.project])).toEqual([['agent_waiting', 'worker-1', 'demo'], ['worker_limited', 'worker-1', 'demo']]);

    events.length = 0;
    const a = await api.add('first');
    const b = await api.add('second');
    expect((await call(sock, 'POST', `${api.base}/tasks/${a.id}/claim`)).status).toBe(200);
    expect((await call(sock, 'POST', `${api.base}/tasks/${a.id}/done`)).status).toBe(200);
    await call(sock, 'POST', `${api.base}/tasks/${b.id}/block`, { body: { reason: 'needs a key' } });
    await call(sock, 'POST', `${api.base}/tasks/${b.id}/block`, { body: { reason: 'needs a key' } }); // already blocked: no event
    expect(events.map((e) => e.event)).toEqual(['task_done', 'task_blocked', 'all_done']);
    expect(events[0]).toMatchObject({ worker: 'worker-1', task: { id: a.id, title: 'first', status: 'done' }, summary: `isollm demo: ${a.id} done (first) by worker-1` });
    expect(events[1]).toMatchObject({ task: { id: b.id, block_reason: 'needs a key' } });
    expect(events[2]).toMatchObject({ project: 'demo', counts: { done: 1, blocked: 1, ready: 0 }, summary: 'isollm demo: all work finished (1 done, 1 blocked)' });

    // New work, finished again: all_done once more. A release with a note keeps the note in the history.
    events.length = 0;
    await api.call('POST', `/tasks/${b.id}/unblock`);
    await call(sock, 'POST', `${api.base}/tasks/${b.id}/claim`);
    const released = await call(sock, 'POST', `${api.base}/tasks/${b.id}/release`, form({ note: 'usage limit; resets 15:00' }));
    expect(released.json).toMatchObject({ status: 'open' });
    expect((await api.call('GET', `/tasks/${b.id}/history`)).json.find((h: { field?: string }) => h.field === 'note')).toMatchObject({ action: 'release', field: 'note', new_value: 'usage limit; resets 15:00', changed_by: 'worker-1' });
    await call(sock, 'POST', `${api.base}/tasks/${b.id}/claim`);
    await call(sock, 'POST', `${api.base}/tasks/${b.id}/done`);
    expect(events.map((e) => e.event)).toEqual(['task_done', 'all_done']);
  });
});

describe('the end of a usage limit', () => {
  it('a worker still limited at its reset time goes back to idle by itself, told once; one that went on first is told too', async () => {
    const events: QueueEvent[] = [];
    const server = await testServer({ project: 'demo', emit: (e) => events.push(e) });
    const one = { unix: (await server.addSocket('worker-1')).path };
    const two = { unix: (await server.addSocket('worker-2')).path };
    const put = (sock: { unix: string }, worker: string, body: Record<string, unknown>) => call(sock, 'PUT', `/v1/isollm/agents/${worker}`, { body });
    const get = async (worker: string) => (await call(server, 'GET', `/v1/isollm/agents/${worker}`)).json;
    const reset = new Date(Date.now() + 1500).toISOString();
    await put(one, 'worker-1', { state: 'limited', until: reset, source: 'claude:StopFailure' });
    // worker-2's limit is later: its own clock, not worker-1's, ends it.
    await put(two, 'worker-2', { state: 'limited', until: new Date(Date.now() + 60_000).toISOString() });
    expect(await get('worker-1')).toMatchObject({ state: 'limited', until: reset });
    await expect.poll(async () => (await get('worker-1')).state, { timeout: 5000, interval: 50 }).toBe('idle');
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(reset));
    expect(await get('worker-1')).toMatchObject({ state: 'idle', source: 'isollm:limit-reset', detail: 'usage limit reset' });
    expect((await get('worker-1')).until).toBeUndefined();
    expect(await get('worker-2')).toMatchObject({ state: 'limited' });
    await new Promise((r) => setTimeout(r, 300)); // no second event on its way
    expect(events.map((e) => [e.event, e.worker])).toEqual([['worker_limited', 'worker-1'], ['worker_limited', 'worker-2'], ['worker_resumed', 'worker-1']]);
    expect(events[2]).toMatchObject({ agent: { state: 'idle', source: 'isollm:limit-reset' }, summary: "isollm demo: worker-1's usage limit is over; it is idle again" });

    // The agent itself going on before the reset ends the limit too (one event), and the clock leaves it alone.
    events.length = 0;
    await put(two, 'worker-2', { state: 'working', source: 'loop' });
    await put(two, 'worker-2', { state: 'working', source: 'loop' });
    expect(events.map((e) => [e.event, e.worker, e.agent?.state])).toEqual([['worker_resumed', 'worker-2', 'working']]);
    // A reset time already past when reported: over at once.
    events.length = 0;
    await put(one, 'worker-1', { state: 'limited', until: Math.floor(Date.now() / 1000) - 5 });
    expect((await get('worker-1')).state).toBe('idle');
    expect(events.map((e) => e.event)).toEqual(['worker_limited', 'worker_resumed']);
  });

  it('a limit that reset while the queue was down ends when it starts again', async () => {
    const dir = tmpDir('isollm-limits-');
    const db = path.join(dir, 'queue.db');
    const store = new Store(db);
    reportAgentState(store, 'worker-1', { state: 'limited', until: new Date(Date.now() - 1000).toISOString() });
    store.close();
    const events: QueueEvent[] = [];
    const { startServer } = await import('../lib/queue/server.ts');
    const server = await startServer({ dbFile: db, port: 0, socketsDir: path.join(dir, 'sockets'), project: 'demo', emit: (e) => events.push(e) });
    onTestFinished(() => server.close());
    expect((await call(server, 'GET', '/v1/isollm/agents/worker-1')).json.state).toBe('idle');
    expect(events.map((e) => e.event)).toEqual(['worker_resumed']);
  });
});

describe('notify.command', () => {
  /** A program that appends its last argument and its stdin to a file, as one JSON line. */
  function recorder(dir: string): { argv: string[]; read: () => { arg: string; event: QueueEvent }[] } {
    const out = path.join(dir, 'notified.jsonl');
    const script = `let s='';process.stdin.on('data',c=>s+=c).on('end',()=>require('fs').appendFileSync(${JSON.stringify(out)},JSON.stringify({arg:process.argv.at(-1),event:JSON.parse(s)})+'\\n'))`;
    return {
      argv: [NODE, '-e', script, '--'],
      read: () => (fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : []),
    };
  }
  const event: QueueEvent = { event: 'all_done', at: '2026-01-01T10:00:00.000Z', project: 'demo', worker: null, summary: 'isollm demo: all work finished (2 done, 0 blocked)' };

  it('runs the argv with the event as JSON on stdin and the summary as the last argument', async () => {
    const r = recorder(tmpDir());
    const notify = createNotifier(r.argv);
    notify(event);
    await notify.idle();
    expect(r.read()).toEqual([{ arg: event.summary, event }]);
  });

  it('runs one at a time, in the order of the events', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'order.txt');
    // The first one is slow: the second must still come after it.
    const script = `const a=process.argv.at(-1);setTimeout(()=>require('fs').appendFileSync(${JSON.stringify(out)},a+'\\n'),a==='one'?300:0)`;
    const notify = createNotifier([NODE, '-e', script, '--']);
    for (const summary of ['one', 'two', 'three']) notify({ ...event, summary });
    await notify.idle();
    expect(fs.readFileSync(out, 'utf8')).toBe('one\ntwo\nthree\n');
  });

  it('logs a command that fails or cannot be found, and does nothing without one', async () => {
    const lines: string[] = [];
    const failing = createNotifier([NODE, '-e', 'process.stderr.write("no display\\n"); process.exit(4)'], (l) => lines.push(l));
    failing(event);
    await failing.idle();
    const missing = createNotifier(['/nonexistent/notify'], (l) => lines.push(l));
    missing(event);
    await missing.idle();
    expect(lines).toEqual([`notify.command ${NODE} for all_done exited 4: no display`, 'notify.command /nonexistent/notify: spawn /nonexistent/notify ENOENT', 'notify.command /nonexistent/notify for all_done exited -2']);
    const none = createNotifier(null);
    none(event);
    await none.idle();
  });

  it('the queue daemon runs notify.command from isollm.yaml once per state change', async () => {
    const dir = tmpDir('isollm-notify-');
    const r = recorder(dir);
    const port = await freePort();
    fs.writeFileSync(path.join(dir, 'isollm.yaml'), `project: notifytest\nqueue:\n  port: ${port}\nnotify:\n  command: ${JSON.stringify(r.argv)}\n`);
    expect(runCli(['queue', 'start'], { cwd: dir }).code).toBe(0);
    onTestFinished(() => void runCli(['queue', 'stop'], { cwd: dir }));
    const sockets = await call({ port }, 'PUT', '/v1/isollm/sockets/worker-1');
    const sock = { unix: sockets.json.path };
    for (const s of ['working', 'waiting', 'waiting', 'working', 'idle']) await call(sock, 'PUT', '/v1/isollm/agents/worker-1', form({ state: s }));
    await expect.poll(() => r.read().length, { timeout: 5000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300)); // no second one on its way
    const [only] = r.read();
    expect(only.arg).toBe('isollm notifytest: worker-1 is waiting for you');
    expect(only.event).toMatchObject({ event: 'agent_waiting', project: 'notifytest', worker: 'worker-1', agent: { state: 'waiting' } });
  });
});
