// Commands run in an instance through the daemon's API directly (api.ts), with no websocket, so no
// client start: the daemon records the command's output in two log files, read once it has ended and
// then deleted (Incus keeps them in the instance's own volume, which every copy of it would carry).
// Only for commands given no input: stdin is /dev/null here as through the client's `exec` of isollm's.
// Such an exec has no control websocket to signal it through and its operation cannot be cancelled
// (`may_cancel: false`, on LXD 5.0 and Incus 6 alike), so one that outlives its timeout is ended
// from inside the instance: its processes carry a mark in their environment (MARK_KEY).
import crypto from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { apiGetRaw, apiRequest, ApiRefused, apiSend, ApiTimeout, apiWait, apiWrite, instancePath, type Endpoint, type Operation } from './api.ts';
import type { ExecOptions } from './argv.ts';
import type { Runtime } from './detect.ts';

/** The environment variable that marks the processes of one direct exec (its value: that exec's id). */
export const MARK_KEY = 'ISOLLM_EXEC_ID';
/** How long the processes of a timed-out exec have between SIGTERM and SIGKILL. */
const END_GRACE_MS = 2_000;
/** How long ending them, and the daemon's note of their end, may take. */
const END_TIMEOUT_MS = 15_000;
/** How long a followed command's output may lag: the operation's wait between two reads of its log. */
const FOLLOW_WAIT_MS = 1_000;
/** One read of the part of a followed command's log that is new. */
const FOLLOW_READ_TIMEOUT_MS = 30_000;

/**
 * Ends the processes whose environment holds the line $1 (`MARK_KEY=<id>`): SIGTERM, then SIGKILL
 * for those left after $2 tenths of a second. Needs only sh, tr and grep (a minbase image has no
 * ps); the mark comes in as an argument, never into the script's text.
 */
const END_MARKED_SCRIPT = `marked() {
  for e in /proc/[0-9]*/environ; do
    tr '\\0' '\\n' <"$e" 2>/dev/null | grep -qxF "$1" && { p=\${e#/proc/}; echo "\${p%/environ}"; }
  done
}
pids=$(marked "$1")
[ -n "$pids" ] || exit 0
kill -TERM $pids 2>/dev/null
n=0
while [ "$n" -lt "$2" ]; do
  sleep 0.1
  pids=$(marked "$1")
  [ -n "$pids" ] || exit 0
  n=$((n + 1))
done
kill -KILL $pids 2>/dev/null
exit 0`;

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
 * ran: the client is asked). Past `timeout` ApiTimeout, once the command and what it started are
 * ended (SIGTERM, then SIGKILL: what the client's killed websocket has the daemon do) and its logs
 * deleted.
 */
export async function execDirect(rt: Runtime, name: string, command: string[], options: ExecOptions, timeout: number, onStdout?: (text: string) => void): Promise<ExecOutcome | null> {
  const mark = `${MARK_KEY}=${crypto.randomBytes(8).toString('hex')}`;
  const body = execBody(command, { ...options, env: { ...options.env, [MARK_KEY]: mark.slice(MARK_KEY.length + 1) } }, true);
  let sent: Awaited<ReturnType<typeof apiSend>>;
  try {
    sent = await apiSend(rt, `${instancePath(name)}/exec`, { method: 'POST', body: JSON.stringify(body), timeout });
  } catch (err) {
    if (err instanceof ApiRefused) return { stdout: '', stderr: `Error: ${err.message}\n`, exitCode: 1 };
    if (err instanceof ApiTimeout) await endMarked(rt, name, mark);
    throw err;
  }
  if (!sent) return null;
  if (!sent.operation) throw new ApiRefused('the daemon started no operation for the command');
  const { endpoint, operation } = sent;
  let op: Operation;
  try {
    op = onStdout ? await follow(endpoint, name, operation, timeout, onStdout) : await apiWait(endpoint, operation, timeout);
  } catch (err) {
    if (err instanceof ApiTimeout) {
      await endMarked(rt, name, mark);
      await dropLogs(endpoint, operation);
    }
    throw err;
  }
  const meta = (op.metadata ?? {}) as { return?: unknown; output?: Record<string, string> };
  const [stdout, stderr] = await Promise.all([meta.output?.['1'], meta.output?.['2']].map((log) => takeLog(endpoint, log, timeout)));
  const code = typeof meta.return === 'number' ? meta.return : null;
  if (op.status === 'Success') {
    if (code === null) throw new ApiRefused('the daemon gave no exit code');
    return { stdout, stderr, exitCode: code };
  }
  // It could not run: the client prints the daemon's reason after any output, with the code it got.
  return { stdout, stderr: `${stderr}Error: ${op.err || `operation ${op.status ?? 'failed'}`}\n`, exitCode: code || 1 };
}

/**
 * The operation once it has ended (apiWait), the command's stdout handed to `onStdout` meanwhile as
 * the daemon records it: its log is read from where the last read ended (a Range request, which both
 * daemons answer while the command runs) after each second of waiting.
 */
async function follow(endpoint: Endpoint, name: string, operation: string, timeout: number, onStdout: (text: string) => void): Promise<Operation> {
  const deadline = Date.now() + timeout;
  const file = `exec_${operation.split('/').pop()}.stdout`;
  // Where the daemon serves it (operation metadata names it only once the command has ended).
  const candidates = [`${instancePath(name)}/logs/exec-output/${file}`, `${instancePath(name)}/logs/${file}`];
  const decoder = new StringDecoder('utf8');
  let offset = 0;
  // From the last byte already read, so the range is never past the end: LXD 5.0.2 answers such a
  // range with a 416 that announces a body it never sends, and the connection breaks ('aborted').
  const readOn = async () => {
    for (const log of candidates) {
      const headers = offset ? { Range: `bytes=${offset - 1}-` } : undefined;
      const answer = await apiRequest(endpoint, log, { method: 'GET', headers, timeout: FOLLOW_READ_TIMEOUT_MS }).catch(() => null);
      // Not there (yet, or on this daemon), or a read that failed: the next one, or the whole output at the end, has it.
      if (answer?.status !== 200 && answer?.status !== 206) continue;
      const fresh = answer.status === 206 ? answer.raw.subarray(1) : answer.raw.subarray(offset);
      candidates.splice(0, candidates.length, log);
      offset += fresh.length;
      if (fresh.length) onStdout(decoder.write(fresh));
      return;
    }
  };
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new ApiTimeout(`no answer within ${Math.ceil(timeout / 1000)}s`);
    try {
      const op = await apiWait(endpoint, operation, Math.min(FOLLOW_WAIT_MS, left));
      await readOn();
      const rest = decoder.end();
      if (rest) onStdout(rest);
      return op;
    } catch (err) {
      if (!(err instanceof ApiTimeout)) throw err;
    }
    await readOn();
  }
}

/** Best effort, as root in the instance: the processes of the exec marked `mark` ended (END_MARKED_SCRIPT). */
async function endMarked(rt: Runtime, name: string, mark: string): Promise<void> {
  const command = ['sh', '-c', END_MARKED_SCRIPT, 'isollm-end-exec', mark, String(END_GRACE_MS / 100)];
  const body = { command, 'wait-for-websocket': false, interactive: false, 'record-output': false };
  await apiWrite(rt, `${instancePath(name)}/exec`, { method: 'POST', body: JSON.stringify(body), timeout: END_TIMEOUT_MS }).catch(() => undefined);
}

/** Once its command has ended, the logs an exec recorded deleted (best effort: nothing else reads them). */
async function dropLogs(endpoint: Endpoint, operation: string): Promise<void> {
  const op = await apiWait(endpoint, operation, END_TIMEOUT_MS).catch(() => null);
  const output = (op?.metadata as { output?: Record<string, string> } | undefined)?.output ?? {};
  await Promise.all(Object.values(output).map((log) => apiRequest(endpoint, log, { method: 'DELETE', timeout: END_TIMEOUT_MS }).catch(() => undefined)));
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
