// templates/isollm-loop with the queue making task branches in the hub (hubTaskStarts, as the real
// queue does): a dependent task starts from its parent's work, and only commits made on top of that
// start count as its own. One that changes nothing is "no changes", not done with its parent's work.
import { describe, expect, it } from 'vitest';
import { hubTaskStarts } from '../lib/hub/task-start.ts';
import { git } from './helpers.ts';
import { PROJECT, worker } from './loop-helpers.ts';

// parent: writes a file; lazy child: nothing; busy child: builds on the parent's file.
const AGENT = `#!/bin/sh
prompt=$(cat "$1" 2>/dev/null || cat)
case $prompt in
  *': parent'*) echo parent > parent.txt && git add parent.txt && git commit -qm parent ;;
  *': lazy child'*) exit 0 ;;
  *': busy child'*) { cat parent.txt; echo child; } > child.txt && git add child.txt && git commit -qm child ;;
esac
`;

describe('isollm-loop on a dependent task', () => {
  it("counts only the task's own commits, not those it started from: a child that changes nothing is blocked, one that builds on its parent is done", async () => {
    let hub = '';
    const w = await worker(AGENT, { prepareStart: (...args) => hubTaskStarts({ project: PROJECT, hub, base: 'main', prefix: 'isollm/' })(...args) });
    hub = w.hub;
    const api = w.api();
    const add = async (title: string, priority: number) => (await api.call('POST', '/tasks', { body: { title, priority } })).json.id as string;
    const parent = await add('parent', 0);
    const lazy = await add('lazy child', 1);
    const busy = await add('busy child', 2);
    for (const child of [lazy, busy]) expect((await api.call('POST', `/tasks/${child}/deps`, { body: { parent_id: parent } })).status).toBe(201);

    const loop = w.startLoop({ ISOLLM_GIVE_UP_AFTER: '2' });
    expect(await loop.exited, loop.log()).toBe(0);
    const show = async (id: string) => (await api.call('GET', `/tasks/${id}`)).json;

    expect(await show(parent)).toMatchObject({ status: 'done' });
    const parentTip = git(hub, 'rev-parse', `isollm/${parent}`);
    // Both children started from the parent's work (recorded as the commit their branch was made at).
    for (const child of [lazy, busy]) {
      const t = await show(child);
      expect(t.start_commit).toMatch(/^[0-9a-f]{40}$/);
      expect(git(hub, 'merge-base', '--is-ancestor', parentTip, t.start_commit)).toBe('');
    }
    expect(await show(lazy), loop.log()).toMatchObject({ status: 'blocked', block_reason: 'the agent produced no changes' });
    expect(await show(busy), loop.log()).toMatchObject({ status: 'done' });
    expect(git(hub, 'show', `isollm/${busy}:child.txt`)).toBe('parent\nchild');
  }, 30_000);
});
