// Commands run in an instance through the daemon's API directly (api.ts), with no websocket, so no
// client start: the daemon records the command's output in two log files, read once it has ended and
// then deleted (Incus keeps them in the instance's own volume, which every copy of it would carry).
// Only for commands given no input: stdin is /dev/null here as through the client's `exec` of isollm's.
import { apiGetRaw, apiRequest, ApiRefused, apiSend, apiWait, apiWrite, instancePath, type Endpoint } from './api.ts';
import type { ExecOptions } from './argv.ts';
import type { Runtime } from './detect.ts';

/** What the client gives back for an exec: the command's output and exit code, or the client's own `Error: …` and its exit code. */
export type ExecOutcome = { stdout: string; stderr: string; exitCode: number };

/**
 * The request `exec --force-noninteractive` sends: the caller's TERM passed on as the client passes
 * it, then the given environment; user, group and cwd only when given (the daemon's defaults: root,
 * root's home).
 */
export function execBody(command: string[], options: ExecOptions, record: boolean, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const environment = { ...(env.TERM ? { TERM: env.TERM } : {}), ...options.env };
  return {
    command,
    ...(Object.keys(environment).length ? { environment } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.group !== undefined ? { group: options.group } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    'wait-for-websocket': false,
    interactive: false,
    'record-output': record,
  };
}

/**
 * `command` run in the instance, its output and exit code as the client would give them (a refusal —
 * no such instance, not running — as the client's `Error: …` line and exit 1; a command that is not
 * there as `Error: Command not found` and 127), or null when the daemon cannot be reached (nothing
 * ran: the client is asked). Past `timeout` ApiTimeout; the command itself runs on until it ends
 * (the client, killed then, drops its websocket and the daemon kills the command; here there is no
 * connection to drop and an exec cannot be cancelled), and its logs stay with it.
 */
export async function execDirect(rt: Runtime, name: string, command: string[], options: ExecOptions, timeout: number): Promise<ExecOutcome | null> {
  let sent: Awaited<ReturnType<typeof apiSend>>;
  try {
    sent = await apiSend(rt, `${instancePath(name)}/exec`, { method: 'POST', body: JSON.stringify(execBody(command, options, true)), timeout });
  } catch (err) {
    if (err instanceof ApiRefused) return { stdout: '', stderr: `Error: ${err.message}\n`, exitCode: 1 };
    throw err;
  }
  if (!sent) return null;
  if (!sent.operation) throw new ApiRefused('the daemon started no operation for the command');
  const op = await apiWait(sent.endpoint, sent.operation, timeout);
  const meta = (op.metadata ?? {}) as { return?: unknown; output?: Record<string, string> };
  const [stdout, stderr] = await Promise.all([meta.output?.['1'], meta.output?.['2']].map((log) => takeLog(sent.endpoint, log, timeout)));
  const code = typeof meta.return === 'number' ? meta.return : null;
  if (op.status === 'Success') {
    if (code === null) throw new ApiRefused('the daemon gave no exit code');
    return { stdout, stderr, exitCode: code };
  }
  // It could not run: the client prints the daemon's reason after any output, with the code it got.
  return { stdout, stderr: `${stderr}Error: ${op.err || `operation ${op.status ?? 'failed'}`}\n`, exitCode: code || 1 };
}

/** A recorded output's content, then the file deleted. The command has run: an output that cannot be read is an error, never a second run. */
async function takeLog(endpoint: Endpoint, log: string | undefined, timeout: number): Promise<string> {
  if (!log) return '';
  let content: Buffer;
  try {
    content = await apiGetRaw(endpoint, log, timeout);
  } catch (err) {
    throw new ApiRefused(`the command's output (${log}) could not be read: ${(err as Error).message}`);
  }
  // Left behind, it stays until the instance is deleted: nothing else reads it.
  await apiRequest(endpoint, log, { method: 'DELETE', timeout }).catch(() => undefined);
  return content.toString('utf8');
}

/**
 * The exit code of `command` run in the instance as root, with no input and its output discarded
 * (a probe: nothing recorded, nothing to delete), or null for the client.
 */
export async function execStatusDirect(rt: Runtime, name: string, command: string[], timeout: number): Promise<number | null> {
  const body = { command, 'wait-for-websocket': false, interactive: false, 'record-output': false };
  const done = await apiWrite(rt, `${instancePath(name)}/exec`, { method: 'POST', body: JSON.stringify(body), timeout });
  if (!done) return null;
  const code = (done.metadata as { return?: unknown } | undefined)?.return;
  if (typeof code !== 'number') throw new ApiRefused('the daemon gave no exit code');
  return code;
}
