// A remote base's own credential (issued for its clone of the hub over HTTPS), for real: on the
// Incus test cluster (or LXD's self remote), with the project's queue serving TLS. When the build
// cannot revoke it, the build fails and the base is not kept (no base, and no copy of it, carries a
// live credential); the credential is revoked by what `up` runs next (revokeStrayCredentials).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/load.ts';
import { ensureHub } from '../../lib/hub/hub.ts';
import { queueClient } from '../../lib/queue/daemon.ts';
import { deleteInstance, listInstances, onRemote, type Runtime } from '../../lib/runtime/client.ts';
import { basesOf, ensureBase } from '../../lib/worker/base.ts';
import { workerContext } from '../../lib/worker/ops.ts';
import { revokeStrayCredentials } from '../../lib/worker/stray-credentials.ts';
import { freePort, git, runCli } from '../helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';
import { bridgeAddress, ensureSelfRemote } from './remote-available.ts';
import { CLUSTER_BRIDGE, ensureClusterRemote } from '../support/cluster-daemon.ts';

const local = await e2eRuntime('base-revoke');

describe.skipIf(!local)("a remote base's credential", () => {
  let rt: Runtime;
  const name = `e2e-brv-${crypto.randomBytes(3).toString('hex')}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-base-revoke-'));
  const root = path.join(dir, 'repo');
  const cli = (args: string[]) => runCli(args, { cwd: root, timeout: 120_000 });

  beforeAll(async () => {
    const cluster = local!.kind === 'incus' ? await ensureClusterRemote() : null;
    const remote = cluster?.remote ?? ensureSelfRemote(local!);
    rt = onRemote(local!, remote, cluster ? [cluster.member] : []);
    const host = cluster ? spawnSync('incus', ['network', 'get', `${remote}:${CLUSTER_BRIDGE}`, 'ipv4.address'], { encoding: 'utf8' }).stdout.trim().split('/')[0] : bridgeAddress(local!);
    const tlsPort = await freePort();
    fs.mkdirSync(root);
    git(root, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
    const config = {
      project: name,
      image: TEST_IMAGE,
      git: { base_branch: 'main', hub: path.join(dir, 'hub.git') },
      agent: { preset: 'custom', command: 'sleep', args: ['infinity'], mode: 'interactive', install: false },
      queue: { port: await freePort() },
      multiplexer: { kind: 'none' },
      runtime: cluster ? { remote, targets: [cluster.member] } : { remote },
      network: { listen: cluster ? `0.0.0.0:${tlsPort}` : `${host}:${tlsPort}` },
    };
    fs.writeFileSync(path.join(root, 'isollm.yaml'), YAML.stringify(config));
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'initial');
    const started = cli(['queue', 'start']);
    expect(started.code, started.stderr).toBe(0);
  }, 240_000);

  afterAll(async () => {
    if (rt) for (const i of await listInstances(rt, name).catch(() => [])) await deleteInstance(rt, i.name).catch(() => undefined);
    cli(['queue', 'stop']);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('not revoked after the clone: the build fails, no base is kept, the next up revokes it', async () => {
    const config = loadConfig(root);
    await ensureHub(root, config);
    const ctx = await workerContext(root, config);
    const client = queueClient(root, config);
    let issued = '';
    // The queue refuses the revoke (as one that went down mid-build would).
    const failing = {
      ...ctx,
      queue: {
        ...ctx.queue,
        issueCredential: async (w: string) => ((issued = w), ctx.queue.issueCredential(w)),
        revokeCredential: async () => {
          throw new Error('queue unreachable (test)');
        },
      },
    };
    await expect(ensureBase(failing)).rejects.toThrow(/The base's credential \(e2e-brv-\w+-base-\w+\) could not be revoked after it cloned the hub \(queue unreachable \(test\)\)/);
    expect(issued).toMatch(/-base-/);
    expect(basesOf(await listInstances(rt, name))).toEqual([]);
    // Still valid in the queue: what `up` runs once the base is ready revokes it (no worker has its name).
    expect((await client.listCredentials()).map((c) => c.worker)).toEqual([issued]);
    expect(await revokeStrayCredentials(client, [])).toEqual([issued]);
    expect(await client.listCredentials()).toEqual([]);
  }, 600_000);
});
