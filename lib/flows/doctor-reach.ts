// `isollm doctor` with runtime.remote: can the remote's containers reach this machine at the
// advertised address? Asked from inside one of them: a running worker of the project, else a
// throwaway container made on the remote for the probe (deleted after, and never left behind:
// doctor-probe.ts). With the queue running it is asked itself; else a stand-in answers on
// network.listen for the length of the probe.
import crypto from 'node:crypto';
import http from 'node:http';
import type { Config } from '../config/load.ts';
import { errorMessage } from '../cli/errors.ts';
import { statePaths } from '../project/root.ts';
import { readEndpoint, type RemoteEndpoint } from '../queue/credentials.ts';
import { queueState, resolveRemoteEndpoint } from '../queue/daemon.ts';
import { execIn, lookupImage, type Runtime } from '../runtime/client.ts';
import { listWorkers } from '../worker/create.ts';
import { ensureNetwork } from '../worker/remote.ts';
import type { Check } from './doctor.ts';
import { launchProbe } from './doctor-probe.ts';

const PROBE_TIMEOUT_S = 10;
const ID = 'reach';
const TITLE = 'remote workers reach this machine';

/** A plain HTTP stand-in on `listen` answering `nonce`; null when the port is taken; the error when it cannot listen there. */
function standIn(listen: RemoteEndpoint['listen'], nonce: string): Promise<http.Server | null | string> {
  return new Promise((resolve) => {
    const server = http.createServer((_req, res) => res.end(nonce));
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE' ? null : `cannot listen on ${listen.host}:${listen.port} (${err.code ?? err.message})`));
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}

/** Where the probe runs: a running worker, or a throwaway container (with `done` deleting it). */
async function probeFrom(rt: Runtime, config: Config): Promise<{ container: string; what: string; done: () => Promise<void> } | string> {
  const running = (await listWorkers({ rt, config })).find((w) => w.ready && w.instance.status.toLowerCase() === 'running');
  if (running) return { container: running.container, what: `${running.name}`, done: async () => {} };
  if (!(await lookupImage(rt, config.image))) return `the image is not on ${rt.remote} yet (the first \`up\` copies it), so no container to ask from`;
  const { name, done } = await launchProbe(rt, config, rt.targets?.[0]);
  try {
    await ensureNetwork(rt, name);
  } catch (err) {
    await done();
    throw err;
  }
  return { container: name, what: 'a throwaway container', done };
}

export async function checkReachBack(root: string, config: Config, rt: Runtime | null): Promise<Check | null> {
  if (!config.runtime.remote || config.runtime.remote === 'local') return null;
  if (!rt) return { id: ID, title: TITLE, status: 'skip', detail: `skipped: remote ${config.runtime.remote} is not usable`, required: false };
  const fail = (detail: string, fix: string): Check => ({ id: ID, title: TITLE, status: 'fail', detail, fix, required: true });
  // The running queue's endpoint is the one workers are given; else what `up` would advertise.
  const recorded = queueState(root, config).running ? readEndpoint(statePaths(root).dir) : null;
  let endpoint: RemoteEndpoint | null;
  try {
    endpoint = recorded ?? (await resolveRemoteEndpoint(config));
  } catch (err) {
    return fail(errorMessage(err), 'set network.advertise in isollm.yaml');
  }
  if (!endpoint) return null;
  const advertise = `${endpoint.advertise.host}:${endpoint.advertise.port}`;
  const fix = `make ${advertise} reachable from ${rt.remote}'s containers: set network.advertise to an address of this machine their network reaches, and open port ${endpoint.advertise.port}/tcp to it in this machine's firewall`;
  const nonce = crypto.randomBytes(8).toString('hex');
  const server = await standIn(endpoint.listen, nonce);
  if (typeof server === 'string') return fail(server, 'set network.listen to an address of this machine (or 0.0.0.0) and a free port');
  // The port is taken: by this project's queue (then it answers the probe), or by something else.
  if (!server && !recorded) return fail(`port ${endpoint.listen.port} (network.listen) is in use by another program`, `free it (\`ss -ltnp 'sport = :${endpoint.listen.port}'\` shows who holds it), or set network.listen to a free port`);
  const url = server ? `http://${endpoint.advertise.host.includes(':') ? `[${endpoint.advertise.host}]` : endpoint.advertise.host}:${endpoint.advertise.port}/` : `${endpoint.url}/v1/isollm/whoami`;
  try {
    const from = await probeFrom(rt, config);
    if (typeof from === 'string') return { id: ID, title: TITLE, status: 'skip', detail: `skipped: ${from}`, required: false };
    try {
      // -k: only reachability is asked here; workers pin the certificate.
      const r = await execIn(rt, from.container, ['curl', '-sS', '-k', '--max-time', String(PROBE_TIMEOUT_S), '-w', '\n%{http_code}', url]);
      const [body = '', code = ''] = [r.stdout.slice(0, r.stdout.lastIndexOf('\n')), r.stdout.slice(r.stdout.lastIndexOf('\n') + 1).trim()];
      const answered = server ? body === nonce : code === '401';
      if (r.exitCode === 0 && answered) return { id: ID, title: TITLE, status: 'ok', detail: `${advertise} answers ${from.what} on ${rt.remote}${server ? '' : ' (the queue)'}`, required: true };
      const why = r.exitCode !== 0 ? r.stderr.trim().split('\n')[0] || `curl exited ${r.exitCode}` : server ? 'something else answered' : `HTTP ${code} instead of the queue's 401`;
      return fail(`${from.what} on ${rt.remote} cannot reach ${advertise} (${why})`, fix);
    } finally {
      await from.done();
    }
  } catch (err) {
    return fail(`no probe from ${rt.remote}: ${errorMessage(err)}`, fix);
  } finally {
    server?.close();
  }
}
