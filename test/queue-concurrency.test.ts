// Races, identity and robustness of the queue server over real HTTP.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServer } from '../lib/queue/server.ts';
import { call, projectApi, testServer } from './queue-helpers.ts';

describe('concurrency', () => {
  it('64 clients racing claim-next over 500 tasks claim each task exactly once', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const created = new Set<string>();
    for (let i = 0; i < 500; i++) created.add((await api.add(`t${i}`, { priority: i % 5 })).id);
    const claims = new Map<string, string>();
    let duplicates = 0;
    await Promise.all(
      Array.from({ length: 64 }, async (_, n) => {
        const agent = `w${n}`;
        for (;;) {
          const r = await api.call('POST', '/tasks/next/claim', { agent });
          if (r.status === 204) return;
          expect(r.status).toBe(200);
          if (claims.has(r.json.id)) duplicates++;
          claims.set(r.json.id, agent);
        }
      }),
    );
    expect(duplicates).toBe(0);
    expect(new Set(claims.keys())).toEqual(created);
    const all = (await api.call('GET', '/tasks?status=in_progress&per_page=100')).json;
    expect(all.pagination.total).toBe(500);
    for (const t of all.data) expect(t.claimed_by).toBe(claims.get(t.id));
    expect((await api.call('GET', '/audit?action=claim')).json.pagination.total).toBe(500);
  });

  it('32 direct claims of one task: exactly one 200, the rest 409', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const t = await api.add('contended');
    const results = await Promise.all(Array.from({ length: 32 }, (_, n) => api.call('POST', `/tasks/${t.id}/claim`, { agent: `w${n}` })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    expect(statuses.filter((x) => x === 409)).toHaveLength(31);
    const winner = results.find((r) => r.status === 200)!.json.claimed_by;
    for (const r of results.filter((x) => x.status === 409)) expect(r.json.error.context.claimed_by).toBe(winner);
  });

  it('done racing release and PATCH: one transition wins and the audit agrees', async () => {
    const s = await testServer();
    const api = projectApi(s);
    for (let i = 0; i < 40; i++) {
      const t = await api.add(`t${i}`);
      await api.call('POST', `/tasks/${t.id}/claim`, { agent: 'w1' });
      const [done, release, patch] = await Promise.all([
        api.call('POST', `/tasks/${t.id}/done`, { agent: 'w1' }),
        api.call('POST', `/tasks/${t.id}/release`, { agent: 'w1' }),
        api.call('PATCH', `/tasks/${t.id}`, { body: { priority: 0, title: `renamed ${i}` }, agent: 'host' }),
      ]);
      expect(patch.status).toBe(200);
      expect([done.status, release.status].sort()).toEqual([200, 400]);
      const final = (await api.call('GET', `/tasks/${t.id}`)).json;
      expect(final).toMatchObject({ priority: 0, title: `renamed ${i}`, status: done.status === 200 ? 'done' : 'open' });
      const history = (await api.call('GET', `/tasks/${t.id}/history`)).json as { action: string; field?: string; new_value?: string }[];
      const lastStatus = history.find((e) => e.field === 'status');
      expect(lastStatus?.new_value).toBe(final.status);
      expect(history.filter((e) => e.action === 'done' || e.action === 'release')).toHaveLength(1);
      expect(history.filter((e) => e.action === 'update').map((e) => e.field).sort()).toEqual(['priority', 'title']);
    }
  });
});

describe('identity on worker sockets', () => {
  it('acts as the worker whatever the header says; admin is refused there; sockets survive a restart', async () => {
    const s = await testServer();
    const api = projectApi(s);
    const added = await call(s, 'PUT', '/v1/isollm/sockets/worker-1');
    expect(added.json).toEqual({ worker: 'worker-1', path: s.socketPath('worker-1') });
    await call(s, 'PUT', '/v1/isollm/sockets/worker-2');
    // Each socket alone in its own directory (mounted into that worker only), under a directory
    // that is the owner's only; workers made with a proxy device to the older path still get there.
    const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
    expect(path.dirname(path.dirname(s.socketPath('worker-1')))).toBe(path.join(s.dir, 'sockets'));
    expect([mode(path.join(s.dir, 'sockets')), mode(path.dirname(s.socketPath('worker-1'))), mode(s.socketPath('worker-1'))]).toEqual(['700', '755', '666']);
    expect(fs.readdirSync(path.dirname(s.socketPath('worker-1')))).toEqual(['queue.sock']);
    expect(fs.realpathSync(path.join(s.dir, 'sockets', 'worker-1.sock'))).toBe(fs.realpathSync(s.socketPath('worker-1')));
    const t = await api.add('x');
    const unix = { unix: s.socketPath('worker-1') };
    const claimed = await call(unix, 'POST', `${api.base}/tasks/${t.id}/claim`, { agent: 'worker-2' });
    expect(claimed.json.claimed_by).toBe('worker-1');
    // worker-2 (its own socket) cannot finish worker-1's task, even naming itself worker-1.
    const spoof = await call({ unix: s.socketPath('worker-2') }, 'POST', `${api.base}/tasks/${t.id}/done`, { agent: 'worker-1' });
    expect(spoof.status).toBe(403);
    expect((await call(unix, 'POST', `${api.base}/tasks/${t.id}/done`, { agent: 'host:root' })).json.status).toBe('done');
    expect((await call(unix, 'GET', '/v1/isollm/whoami', { agent: 'host:root' })).json).toEqual({ agent: 'worker-1', worker: 'worker-1' });
    for (const [method, p] of [['PUT', '/v1/isollm/sockets/worker-3'], ['DELETE', '/v1/isollm/sockets/worker-2'], ['GET', '/v1/isollm/sockets']]) {
      const r = await call(unix, method, p);
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe('FORBIDDEN');
    }
    expect((await call(s, 'PUT', '/v1/isollm/sockets/bad.name')).status).toBe(400);
    expect((await call(s, 'DELETE', '/v1/isollm/sockets/worker-2')).status).toBe(204);
    expect(fs.readdirSync(path.join(s.dir, 'sockets')).sort()).toEqual(['worker-1', 'worker-1.sock']);
    expect((await call(s, 'DELETE', '/v1/isollm/sockets/worker-2')).status).toBe(404);
    expect((await call(s, 'GET', '/v1/isollm/sockets')).json).toEqual([{ worker: 'worker-1', path: s.socketPath('worker-1') }]);

    // Restart on the same database: worker-1's socket comes back, worker-2's does not.
    await s.close();
    expect(fs.existsSync(s.socketPath('worker-1'))).toBe(false);
    // The directory stays: it is mounted into the running worker, and the new socket appears there.
    expect(fs.existsSync(path.dirname(s.socketPath('worker-1')))).toBe(true);
    const again = await startServer({ dbFile: path.join(s.dir, 'queue.db'), port: 0, socketsDir: path.join(s.dir, 'sockets') });
    try {
      expect((await call({ unix: again.socketPath('worker-1') }, 'GET', '/v1/isollm/whoami')).json.agent).toBe('worker-1');
      expect(fs.existsSync(again.socketPath('worker-2'))).toBe(false);
    } finally {
      await again.close();
    }
  });
  it("a worker cannot touch another worker's task: no forced release, no block of it, no unblock, no delete, no edit", async () => {
    const s = await testServer();
    const api = projectApi(s);
    await call(s, 'PUT', '/v1/isollm/sockets/worker-1');
    await call(s, 'PUT', '/v1/isollm/sockets/worker-2');
    const [w1, w2] = [{ unix: s.socketPath('worker-1') }, { unix: s.socketPath('worker-2') }];
    const held = await api.add('held by worker-1');
    const finished = await api.add('finished by worker-1');
    expect((await call(w1, 'POST', `${api.base}/tasks/${finished.id}/claim`)).status).toBe(200);
    expect((await call(w1, 'POST', `${api.base}/tasks/${finished.id}/done`)).status).toBe(200);
    expect((await call(w1, 'POST', `${api.base}/tasks/${held.id}/claim`)).status).toBe(200);
    const refused = async (method: string, p: string, body?: unknown) => {
      const r = await call(w2, method, `${api.base}${p}`, body === undefined ? {} : { body });
      expect([r.status, r.json?.error?.code], `${method} ${p}`).toEqual([403, expect.stringMatching(/^(NOT_OWNER|FORBIDDEN)$/)]);
    };
    await refused('POST', `/tasks/${held.id}/release?force=true`);
    await refused('POST', `/tasks/${held.id}/block`, { reason: 'mine now' });
    await refused('POST', `/tasks/${finished.id}/block`, { reason: 'again' });
    await refused('PATCH', `/tasks/${held.id}`, { title: 'renamed' });
    await refused('DELETE', `/tasks/${held.id}`);
    await refused('DELETE', `/tasks/${finished.id}`);
    // Nothing changed: worker-1 still holds its task and its finished one is done.
    expect((await api.call('GET', `/tasks/${held.id}`)).json).toMatchObject({ status: 'in_progress', claimed_by: 'worker-1', title: 'held by worker-1' });
    expect((await api.call('GET', `/tasks/${finished.id}`)).json).toMatchObject({ status: 'done', claimed_by: 'worker-1' });
    // Blocked tasks go back to work by the host's decision only.
    const stuck = await api.add('stuck');
    expect((await call(w2, 'POST', `${api.base}/tasks/${stuck.id}/claim`)).status).toBe(200);
    expect((await call(w2, 'POST', `${api.base}/tasks/${stuck.id}/block`, { body: { reason: 'cannot' } })).json.status).toBe('blocked');
    await refused('POST', `/tasks/${stuck.id}/unblock`);
    // A worker still does all of this to its own task and to open ones, and the host to any.
    expect((await call(w1, 'PATCH', `${api.base}/tasks/${held.id}`, { body: { priority: 1 } })).json.priority).toBe(1);
    const open = await api.add('open');
    expect((await call(w2, 'POST', `${api.base}/tasks/${open.id}/block`, { body: { reason: 'needs a human' } })).json.status).toBe('blocked');
    expect((await call(w1, 'POST', `${api.base}/tasks/${held.id}/release`)).json.status).toBe('open');
    expect((await api.call('POST', `/tasks/${stuck.id}/unblock`, { agent: 'host:me' })).json.status).toBe('open');
    expect((await api.call('DELETE', `/tasks/${finished.id}`, { agent: 'host:me' })).status).toBe(204);
  });

  it('a worker claims by id only a task whose parents are done; the host may start any', async () => {
    const s = await testServer();
    const api = projectApi(s);
    await call(s, 'PUT', '/v1/isollm/sockets/worker-1');
    const w1 = { unix: s.socketPath('worker-1') };
    const parent = await api.add('parent');
    const child = await api.add('child');
    await api.call('POST', `/tasks/${child.id}/deps`, { body: { parent_id: parent.id } });
    const early = await call(w1, 'POST', `${api.base}/tasks/${child.id}/claim`);
    expect([early.status, early.json.error.code, early.json.error.context]).toEqual([400, 'INVALID_TRANSITION', { from: 'open', to: 'in_progress', waiting_on: [parent.id] }]);
    expect((await api.call('GET', `/tasks/${child.id}`)).json).toMatchObject({ status: 'open' });
    expect((await call(w1, 'POST', `${api.base}/tasks/${parent.id}/claim`)).status).toBe(200);
    expect((await call(w1, 'POST', `${api.base}/tasks/${parent.id}/done`)).status).toBe(200);
    expect((await call(w1, 'POST', `${api.base}/tasks/${child.id}/claim`)).json).toMatchObject({ status: 'in_progress', claimed_by: 'worker-1' });
    // The host's claim is the contract's: any open task.
    const other = await api.add('other child');
    await api.call('POST', `/tasks/${other.id}/deps`, { body: { parent_id: (await api.add('open parent')).id } });
    expect((await api.call('POST', `/tasks/${other.id}/claim`, { agent: 'host:me' })).json.status).toBe('in_progress');
  });
});

describe('robustness', () => {
  it('a few thousand random and malformed requests get only contract answers; health still answers', async () => {
    const s = await testServer({ maxBodyBytes: 4096 });
    const api = projectApi(s, 'fuzz');
    const ids = [(await api.add('a')).id, (await api.add('b')).id, 'ar-0000', 'ar-', '%2e%2e', '..', 'x'.repeat(300), '%', '%ZZ', '🙂'];
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const pick = <T>(xs: T[]) => xs[rand(xs.length)];
    const methods = ['GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS', 'HEAD'];
    const projects = ['fuzz', 'other', 'bad name', 'a.b', '', 'x'.repeat(70), '%00'];
    const tails = ['', '/tasks', '/tasks/ready', '/tasks/next/claim', '/tasks/ID', '/tasks/ID/claim', '/tasks/ID/done', '/tasks/ID/release?force=true', '/tasks/ID/block', '/tasks/ID/unblock', '/tasks/ID/deps', '/tasks/ID/deps/ID', '/tasks/ID/history', '/tasks/ID/dependents', '/audit?start=ZZ', '/audit?page=-1&per_page=1e9', '/summary', '/specs', '/tasks?page=abc&per_page=%', '/tasks/ID/deps/ID/extra'];
    const bodies = [undefined, '', '{', '[]', 'null', '"s"', '12', '{"title":1}', '{"title":"t","priority":-1}', '{"title":"t","priority":"2"}', '{"title":"t","parent_id":5}', '{"parent_id":"ID"}', '{"reason":{}}', '{"title":"ok","description":"d"}', 'title=x&priority=9', 'x'.repeat(5000), '\u0000\uffff', '{"title":"' + 'é'.repeat(100) + '"}'];
    const contentTypes = ['application/json', 'application/x-www-form-urlencoded', 'text/plain', ''];
    const allowed = new Set([200, 201, 204, 400, 403, 404, 405, 409, 413]);
    for (let i = 0; i < 3000; i++) {
      const id = () => encodeURIComponent(pick(ids)).replace('%25', pick(['%', '%25']));
      const urlPath = i % 7 === 0 ? pick(['/v1/isollm/sockets/' + id(), '/v1/health', '/v1/projects', '/v2/x', '//v1//health', '/v1/isollm/whoami']) : `/v1/projects/${pick(projects)}${pick(tails).replace(/ID/g, id)}`;
      const body = pick(bodies)?.replace('ID', pick(ids));
      const headers: Record<string, string> = { 'Content-Type': pick(contentTypes) };
      if (rand(4) === 0) headers.Accept = 'text/plain';
      let r;
      try {
        r = await call(s, pick(methods), urlPath, { body, headers, agent: pick(['', 'w1', 'x'.repeat(500)]) });
      } catch (err) {
        // Node's client refuses some raw paths (e.g. with spaces) before sending: not the server's doing.
        expect(String(err)).toMatch(/Request path contains unescaped characters|ERR_UNESCAPED_CHARACTERS/);
        continue;
      }
      if (!allowed.has(r.status)) throw new Error(`${urlPath} answered ${r.status}: ${r.text}`);
      if (r.status >= 400 && r.text && !headers.Accept) expect(r.json?.error?.code, `${urlPath} ${r.text}`).toMatch(/^[A-Z_]+$/);
    }
    // Raw garbage on the socket: Node answers 400 and the server carries on.
    for (const junk of ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', '\x00\x01\x02', 'POST /v1/projects/p/tasks HTTP/1.1\r\nContent-Length: -5\r\n\r\n']) {
      await new Promise<void>((resolve) => {
        const sock = net.connect(s.port, '127.0.0.1', () => sock.end(junk));
        sock.on('close', () => resolve());
        sock.on('error', () => resolve());
        sock.resume();
      });
    }
    expect((await call(s, 'GET', '/v1/health')).json).toEqual({ status: 'ok' });
  });
});
