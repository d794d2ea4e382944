// The airyra v1 wire contract over real HTTP: every row of airyra-api.md's tables.
import { describe, expect, it } from 'vitest';
import { call, projectApi, testServer } from './queue-helpers.ts';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('system', () => {
  it('answers health and lists only projects that have had a task created', async () => {
    const s = await testServer();
    expect(await call(s, 'GET', '/v1/health')).toMatchObject({ status: 200, json: { status: 'ok' } });
    // Reads of an unknown project give empty results and do not create it.
    expect((await call(s, 'GET', '/v1/projects/ghost/tasks')).json).toEqual({ data: [], pagination: { page: 1, per_page: 50, total: 0, total_pages: 0 } });
    expect((await call(s, 'GET', '/v1/projects/ghost/tasks/ar-0000')).status).toBe(404);
    expect((await call(s, 'POST', '/v1/projects/ghost/tasks/next/claim')).status).toBe(204);
    expect((await call(s, 'GET', '/v1/projects')).json).toEqual([]);
    await projectApi(s, 'b-proj').add('x');
    await projectApi(s, 'a_proj').add('y');
    expect((await call(s, 'GET', '/v1/projects')).json).toEqual(['a_proj', 'b-proj']);
  });

  it('rejects bad project names, unknown paths, wrong methods and specs in the envelope', async () => {
    const s = await testServer();
    const bad = await call(s, 'GET', '/v1/projects/bad.name/tasks');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('VALIDATION_FAILED');
    expect((await call(s, 'GET', `/v1/projects/${'a'.repeat(65)}/tasks`)).status).toBe(400);
    expect((await call(s, 'GET', '/v1/nope')).json.error.code).toBe('NOT_FOUND');
    expect((await call(s, 'GET', '/nope')).status).toBe(404);
    const wrong = await call(s, 'PUT', '/v1/projects/p/tasks');
    expect(wrong.status).toBe(405);
    expect(wrong.json.error.code).toBe('METHOD_NOT_ALLOWED');
    const specs = await call(s, 'GET', '/v1/projects/p/specs');
    expect(specs.status).toBe(404);
    expect(specs.json.error.code).toBe('NOT_FOUND');
  });
});

describe('tasks', () => {
  it('keeps control characters out of task text (an agent cannot drive the host terminal)', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const r = await api.call('POST', '/tasks', { body: { title: 'a\x1b]52;c;cHduZWQ=\x07b', description: 'line 1\n\tline 2\x1b[2J' }, agent: 'ev\x9bil' });
    expect(r.json.title).toBe('a\ufffd]52;c;cHduZWQ=\ufffdb');
    expect(r.json.description).toBe('line 1\n\tline 2\ufffd[2J');
    const claimed = await api.call('POST', `/tasks/${r.json.id}/claim`, { agent: 'ev\x9bil' });
    expect(claimed.json.claimed_by).toBe('ev\ufffdil');
    const blocked = await api.call('POST', `/tasks/${r.json.id}/block`, { body: { reason: 'no\x1b[31m' } });
    expect(blocked.json.block_reason).toBe('no\ufffd[31m');
  });

  it('creates with defaults and validates the body', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const r = await api.call('POST', '/tasks', { body: { title: 'First', unknown_field: 1 }, agent: 'alice' });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ title: 'First', status: 'open', priority: 2 });
    expect(r.json.id).toMatch(/^ar-[0-9a-f]{4}$/);
    expect(r.json.created_at).toMatch(ISO);
    for (const key of ['description', 'claimed_by', 'claimed_at', 'parent_id', 'spec_id']) expect(r.json).not.toHaveProperty(key);

    const noTitle = await api.call('POST', '/tasks', { body: { priority: 9 } });
    expect(noTitle.status).toBe(400);
    expect(noTitle.json.error).toEqual({ code: 'VALIDATION_FAILED', message: 'Validation failed', context: { details: ['title is required', 'priority must be between 0 and 4'] } });
    for (const body of ['{', '', '[1]', '"x"', 'null', '{"title": 5}', '{"title":"t","priority":"1"}', '{"title":"t","priority":1.5}']) {
      const bad = await api.call('POST', '/tasks', { body });
      expect(bad.status, body).toBe(400);
      expect(bad.json.error.context.details, body).toEqual(['Invalid JSON body']);
    }
    const missingParent = await api.call('POST', '/tasks', { body: { title: 't', parent_id: 'ar-ffff' } });
    expect(missingParent.status).toBe(404);
    expect(missingParent.json.error).toMatchObject({ code: 'TASK_NOT_FOUND', context: { id: 'ar-ffff' } });
    expect((await api.call('POST', '/tasks', { body: { title: 't', spec_id: 'sp-1' } })).status).toBe(404);
    const parent = await api.add('parent');
    const child = await api.add('child', { parent_id: parent.id, description: 'd', priority: 0 });
    expect(child).toMatchObject({ parent_id: parent.id, description: 'd', priority: 0 });
  });

  it('lists in priority then creation order, filters by status and clamps pagination', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) ids.push((await api.add(`t${i}`, { priority: i < 5 ? 4 : 2 })).id);
    const all = await api.call('GET', '/tasks?per_page=1000');
    expect(all.json.pagination).toEqual({ page: 1, per_page: 100, total: 120, total_pages: 2 });
    // Priority 2 first (in creation order, ties broken by insertion), then priority 4.
    expect(all.json.data.map((t: { id: string }) => t.id)).toEqual([...ids.slice(5), ...ids.slice(0, 5)].slice(0, 100));
    for (const q of ['per_page=0', 'per_page=-3', 'per_page=abc', 'page=0&per_page=x', 'page=abc']) {
      const r = await api.call('GET', `/tasks?${q}`);
      expect(r.json.pagination, q).toEqual({ page: 1, per_page: 50, total: 120, total_pages: 3 });
    }
    const page3 = await api.call('GET', '/tasks?page=3&per_page=50');
    expect(page3.json.data).toHaveLength(20);
    expect((await api.call('GET', '/tasks?page=99')).json.data).toEqual([]);
    expect((await api.call('GET', '/tasks?page=99999999999999999999')).status).toBe(200);
    await api.call('POST', `/tasks/${ids[7]}/claim`, { agent: 'w' });
    const inProgress = await api.call('GET', '/tasks?status=in_progress');
    expect(inProgress.json.data.map((t: { id: string }) => t.id)).toEqual([ids[7]]);
    // An unknown status is ignored, as airyra does.
    expect((await api.call('GET', '/tasks?status=weird')).json.pagination.total).toBe(120);
  });

  it('gets, patches (only what is given) and deletes with subtasks', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const t = await api.add('one');
    expect((await api.call('GET', `/tasks/${t.id}`)).json).toEqual(t);
    const missing = await api.call('GET', '/tasks/ar-0000');
    expect(missing.json).toEqual({ error: { code: 'TASK_NOT_FOUND', message: 'Task ar-0000 not found', context: { id: 'ar-0000' } } });
    await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w1' });
    const patched = await api.call('PATCH', `/tasks/${t.id}`, { body: { title: 'renamed', priority: 1 }, agent: 'host' });
    expect(patched.json).toMatchObject({ title: 'renamed', priority: 1, status: 'in_progress', claimed_by: 'w1' });
    expect((await api.call('PATCH', `/tasks/${t.id}`, { body: { title: '' } })).json.error.context.details).toEqual(['title cannot be empty']);
    expect((await api.call('PATCH', `/tasks/${t.id}`, { body: { priority: 5 } })).json.error.context.details).toEqual(['priority must be between 0 and 4']);
    expect((await api.call('PATCH', `/tasks/${t.id}`, { body: 'nope' })).status).toBe(400);
    expect((await api.call('PATCH', '/tasks/ar-0000', { body: { title: 'x' } })).status).toBe(404);

    const parent = await api.add('parent');
    const child = await api.add('child', { parent_id: parent.id });
    const grandchild = await api.add('grandchild', { parent_id: child.id });
    const other = await api.add('other');
    await api.call('POST', `/tasks/${other.id}/deps`, { body: { parent_id: grandchild.id } });
    expect((await api.call('DELETE', `/tasks/${parent.id}`)).status).toBe(204);
    for (const id of [parent.id, child.id, grandchild.id]) expect((await api.call('GET', `/tasks/${id}`)).status).toBe(404);
    expect((await api.call('GET', `/tasks/${other.id}/deps`)).json).toEqual([]);
    expect((await api.call('DELETE', `/tasks/${parent.id}`)).status).toBe(404);
    // History of a deleted task survives.
    expect((await api.call('GET', `/tasks/${parent.id}/history`)).json[0]).toMatchObject({ action: 'delete' });
  });
});

describe('transitions', () => {
  it('claim: open → in_progress, idempotent for the holder, 409 for others, 400 from blocked/done', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const t = await api.add('x');
    const c = await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w1' });
    expect(c.status).toBe(200);
    expect(c.json).toMatchObject({ status: 'in_progress', claimed_by: 'w1' });
    expect(c.json.claimed_at).toMatch(ISO);
    expect((await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w1' })).status).toBe(200);
    const taken = await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w2' });
    expect(taken.status).toBe(409);
    expect(taken.json.error).toEqual({ code: 'ALREADY_CLAIMED', message: 'Task already claimed by another agent', context: { claimed_by: 'w1', claimed_at: c.json.claimed_at } });
    await api.call('POST', `/tasks/${t.id}/done`, { agent: 'w1' });
    const done = await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w2' });
    expect(done.status).toBe(400);
    expect(done.json.error).toMatchObject({ code: 'INVALID_TRANSITION', context: { from: 'done', to: 'in_progress' } });
    const b = await api.add('b');
    await api.call('POST', `/tasks/${b.id}/block`);
    expect((await api.call('POST', `/tasks/${b.id}/claim`)).json.error.context).toEqual({ from: 'blocked', to: 'in_progress' });
    expect((await api.call('POST', '/tasks/ar-0000/claim')).status).toBe(404);
    // Missing header = anonymous.
    const anon = await api.add('anon');
    expect((await api.call('POST', `/tasks/${anon.id}/claim`)).json.claimed_by).toBe('anonymous');
  });

  it('done only by the claimer; release by the claimer or with force', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const t = await api.add('x');
    expect((await api.call('POST', `/tasks/${t.id}/done`, { agent: 'w1' })).json.error).toMatchObject({ code: 'INVALID_TRANSITION', context: { from: 'open', to: 'done' } });
    await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w1' });
    const notOwner = await api.call('POST', `/tasks/${t.id}/done`, { agent: 'w2' });
    expect(notOwner.status).toBe(403);
    expect(notOwner.json.error).toEqual({ code: 'NOT_OWNER', message: 'Task is claimed by another agent', context: { claimed_by: 'w1' } });
    expect((await api.call('POST', `/tasks/${t.id}/release`, { agent: 'w2' })).status).toBe(403);
    const forced = await api.call('POST', `/tasks/${t.id}/release?force=true`, { agent: 'w2' });
    expect(forced.status).toBe(200);
    expect(forced.json.status).toBe('open');
    expect(forced.json).not.toHaveProperty('claimed_by');
    expect((await api.call('POST', `/tasks/${t.id}/release`, { agent: 'w2' })).json.error.context).toEqual({ from: 'open', to: 'open' });
    await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w1' });
    expect((await api.call('POST', `/tasks/${t.id}/release`, { agent: 'w1' })).status).toBe(200);
    await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w1' });
    const done = await api.call('POST', `/tasks/${t.id}/done`, { agent: 'w1' });
    expect(done.json).toMatchObject({ status: 'done', claimed_by: 'w1' });
    for (const a of ['done', 'release']) expect((await api.call('POST', `/tasks/ar-0000/${a}`)).status).toBe(404);
  });

  it('block from any state (with an optional reason), unblock only from blocked', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const t = await api.add('x');
    await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w1' });
    const blocked = await api.call('POST', `/tasks/${t.id}/block`, { agent: 'w1', body: { reason: 'needs an API key' } });
    expect(blocked.status).toBe(200);
    expect(blocked.json).toMatchObject({ status: 'blocked', block_reason: 'needs an API key' });
    expect(blocked.json).not.toHaveProperty('claimed_by');
    const again = await api.call('POST', `/tasks/${t.id}/block`);
    expect(again.json).toMatchObject({ status: 'blocked', block_reason: 'needs an API key', updated_at: blocked.json.updated_at });
    expect((await api.call('POST', `/tasks/${t.id}/block`, { body: '{oops' })).status).toBe(400);
    const history = (await api.call('GET', `/tasks/${t.id}/history`)).json;
    expect(history.slice(0, 2)).toMatchObject([
      { action: 'block', field: 'block_reason', new_value: 'needs an API key', changed_by: 'w1' },
      { action: 'block', field: 'status', old_value: 'in_progress', new_value: 'blocked' },
    ]);
    const un = await api.call('POST', `/tasks/${t.id}/unblock`);
    expect(un.json.status).toBe('open');
    expect(un.json).not.toHaveProperty('block_reason');
    expect((await api.call('POST', `/tasks/${t.id}/unblock`)).json.error).toMatchObject({ code: 'INVALID_TRANSITION', context: { from: 'open', to: 'open' } });
    const d = await api.add('d');
    await api.call('POST', `/tasks/${d.id}/claim`, { agent: 'a' });
    await api.call('POST', `/tasks/${d.id}/done`, { agent: 'a' });
    expect((await api.call('POST', `/tasks/${d.id}/block`)).json.status).toBe('blocked');
    for (const a of ['block', 'unblock']) expect((await api.call('POST', `/tasks/ar-0000/${a}`)).status).toBe(404);
  });
});

describe('dependencies, ready and claim-next', () => {
  it('adds idempotently, refuses self and cycles with the path, removes', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const [a, b, c] = [await api.add('a'), await api.add('b'), await api.add('c')];
    const add = (child: string, parent: unknown) => api.call('POST', `/tasks/${child}/deps`, { body: { parent_id: parent }, agent: 'host' });
    expect(await add(a.id, b.id)).toMatchObject({ status: 201, json: { child_id: a.id, parent_id: b.id } });
    expect(await add(a.id, b.id)).toMatchObject({ status: 201, json: { child_id: a.id, parent_id: b.id } });
    expect((await api.call('GET', `/tasks/${a.id}/deps`)).json).toEqual([{ child_id: a.id, parent_id: b.id }]);
    expect((await api.call('GET', `/tasks/${b.id}/dependents`)).json).toEqual([{ child_id: a.id, parent_id: b.id }]);
    await add(b.id, c.id);
    // c → a would close a → b → c → a.
    const cycle = await add(c.id, a.id);
    expect(cycle.status).toBe(400);
    expect(cycle.json.error).toEqual({ code: 'CYCLE_DETECTED', message: 'Adding this dependency would create a cycle', context: { path: [c.id, b.id, a.id, c.id] } });
    expect((await add(b.id, a.id)).json.error.context.path).toEqual([b.id, a.id, b.id]);
    expect((await add(a.id, a.id)).json.error.context.details).toEqual(['Cannot add self-dependency']);
    expect((await add(a.id, undefined)).json.error.context.details).toEqual(['parent_id is required']);
    expect((await add(a.id, 'ar-0000')).status).toBe(404);
    expect((await add('ar-0000', a.id)).status).toBe(404);
    expect((await api.call('POST', `/tasks/${a.id}/deps`, { body: '' })).json.error.context.details).toEqual(['Invalid JSON body']);
    expect((await api.call('GET', '/tasks/ar-0000/deps')).status).toBe(404);
    expect((await api.call('DELETE', `/tasks/${a.id}/deps/${b.id}`)).status).toBe(204);
    const gone = await api.call('DELETE', `/tasks/${a.id}/deps/${b.id}`);
    expect(gone.status).toBe(404);
    expect(gone.json.error).toMatchObject({ code: 'DEPENDENCY_NOT_FOUND', context: { child_id: a.id, parent_id: b.id } });
    const actions = (await api.call('GET', `/tasks/${a.id}/history`)).json.map((e: { action: string }) => e.action);
    expect(actions).toEqual(['remove_dependency', 'add_dependency', 'create']);
  });

  it('ready = open with every dependency done; claim-next takes the best one or answers 204', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const low = await api.add('low', { priority: 3 });
    const dep = await api.add('dep', { priority: 2 });
    const waiting = await api.add('waits', { priority: 0 });
    await api.call('POST', `/tasks/${waiting.id}/deps`, { body: { parent_id: dep.id } });
    const ids = async () => (await api.call('GET', '/tasks/ready')).json.data.map((t: { id: string }) => t.id);
    expect(await ids()).toEqual([dep.id, low.id]);
    const first = await api.call('POST', '/tasks/next/claim', { agent: 'w1' });
    expect(first.json).toMatchObject({ id: dep.id, status: 'in_progress', claimed_by: 'w1' });
    expect(await ids()).toEqual([low.id]);
    await api.call('POST', `/tasks/${dep.id}/done`, { agent: 'w1' });
    expect(await ids()).toEqual([waiting.id, low.id]);
    expect((await api.call('POST', '/tasks/next/claim', { agent: 'w2' })).json.id).toBe(waiting.id);
    expect((await api.call('POST', '/tasks/next/claim', { agent: 'w3' })).json.id).toBe(low.id);
    const none = await api.call('POST', '/tasks/next/claim', { agent: 'w4' });
    expect(none.status).toBe(204);
    expect(none.text).toBe('');
    expect((await api.call('GET', '/tasks/next/claim')).status).toBe(405);
  });
});

describe('audit, history and summary', () => {
  it('history is newest first; audit pages and filters; 404 for no task and no history', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const t = await api.add('x', {}, 'alice');
    await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'bob' });
    await api.call('PATCH', `/tasks/${t.id}`, { body: { description: 'more' }, agent: 'alice' });
    const h = (await api.call('GET', `/tasks/${t.id}/history`)).json;
    expect(h.map((e: { action: string }) => e.action)).toEqual(['update', 'claim', 'create']);
    expect(h[0]).toMatchObject({ task_id: t.id, field: 'description', new_value: 'more', changed_by: 'alice' });
    expect(h[0]).not.toHaveProperty('old_value');
    expect(h[0].changed_at).toMatch(ISO);
    expect(typeof h[0].id).toBe('number');
    expect((await api.call('GET', '/tasks/ar-0000/history')).status).toBe(404);
    const all = (await api.call('GET', '/audit')).json;
    expect(all.pagination).toEqual({ page: 1, per_page: 50, total: 3, total_pages: 1 });
    expect((await api.call('GET', '/audit?agent=bob')).json.data.map((e: { action: string }) => e.action)).toEqual(['claim']);
    expect((await api.call('GET', '/audit?action=create')).json.pagination.total).toBe(1);
    expect((await api.call('GET', '/audit?start=2999-01-01T00:00:00Z')).json.data).toEqual([]);
    expect((await api.call('GET', '/audit?end=2000-01-01T00:00:00Z')).json.data).toEqual([]);
    expect((await api.call('GET', `/audit?start=${encodeURIComponent('2000-01-01T00:00:00+02:00')}&per_page=2`)).json.data).toHaveLength(2);
    expect((await api.call('GET', '/audit?start=yesterday')).status).toBe(400);
  });

  it('summary counts every status, the ready tasks and who holds what', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const [a, b, c] = [await api.add('a'), await api.add('b'), await api.add('c')];
    await api.add('d');
    await api.call('POST', `/tasks/${a.id}/claim`, { agent: 'w1' });
    await api.call('POST', `/tasks/${b.id}/block`, { body: { reason: 'why' } });
    await api.call('POST', `/tasks/${c.id}/claim`, { agent: 'w2' });
    await api.call('POST', `/tasks/${c.id}/done`, { agent: 'w2' });
    const sum = (await api.call('GET', '/summary')).json;
    expect(sum).toMatchObject({ project: 'demo', counts: { open: 1, in_progress: 1, blocked: 1, done: 1 }, total: 4, ready: 1 });
    expect(sum.in_progress).toMatchObject([{ id: a.id, claimed_by: 'w1' }]);
  });
});

describe('transport extensions', () => {
  it('answers text/plain to a sh client and takes form bodies', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const created = await api.call('POST', '/tasks', {
      body: new URLSearchParams({ title: 'Fix "quotes" & stuff', description: 'line 1\nline 2', priority: '1' }).toString(),
      headers: { ...form, Accept: 'text/plain' },
    });
    expect(created.status).toBe(201);
    expect(created.text).toMatch(/^id: ar-[0-9a-f]{4}\ntitle: Fix "quotes" & stuff\nstatus: open\npriority: 1\n/);
    expect(created.text.endsWith('description: line 1\nline 2\n')).toBe(true);
    // curl -d labels JSON as a form; a body opening with { is JSON.
    expect((await api.call('POST', '/tasks', { body: '{"title":"json"}', headers: form })).json.title).toBe('json');
    expect((await api.call('POST', '/tasks', { body: 'title=x&priority=high', headers: form })).json.error.context.details).toEqual(['priority must be between 0 and 4']);
    const list = await api.call('GET', '/tasks', { headers: { Accept: 'text/plain' } });
    expect(list.text.split('\n')[0]).toMatch(/^ar-[0-9a-f]{4}\topen\t1\t-\tFix "quotes" & stuff$/);
    const err = await api.call('GET', '/tasks/ar-0000', { headers: { Accept: 'text/plain' } });
    expect(err).toMatchObject({ status: 404, text: 'error: TASK_NOT_FOUND: Task ar-0000 not found\n' });
    const id = created.text.split('\n')[0].slice(4);
    const blocked = await api.call('POST', `/tasks/${id}/block?reason=${encodeURIComponent('no key')}`);
    expect(blocked.json.block_reason).toBe('no key');
  });

  it('refuses bodies over the limit with 413', async () => {
    const s = await testServer({ maxBodyBytes: 1000 });
    const api = projectApi(s);
    const r = await api.call('POST', '/tasks', { body: { title: 'x', description: 'y'.repeat(2000) } });
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await call(s, 'GET', '/v1/health')).status).toBe(200);
  });
});
