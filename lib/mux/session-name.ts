// Session names: `isollm-<project>`, made valid for tmux and for zellij.
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { createHash } from 'node:crypto';
import { UserError } from '../cli/errors.ts';

/** Linux sockaddr_un.sun_path is 108 bytes; zellij refuses a socket path that does not fit. */
const SOCKET_PATH_MAX = 108;
/** zellij ≥ 0.44 keeps sockets in `<dir>/contract_version_1`; older ones used the version (e.g. `0.43.1`), which is shorter. */
const ZELLIJ_SOCKET_SUBDIR = 'contract_version_1';

/**
 * `isollm-<project>`, safe for both backends: anything but letters, digits, '_' and '-' becomes '-'
 * (tmux turns '.' and ':' into '_' on its own and reads them as target separators; zellij forbids '/').
 */
export function sessionName(project: string): string {
  const clean = project.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return `isollm-${clean || 'project'}`;
}

/** The directory zellij puts session sockets in (zellij-utils consts: ZELLIJ_SOCK_DIR). */
export function zellijSocketDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  const base = env.ZELLIJ_SOCKET_DIR || (env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'zellij') : path.join(os.tmpdir(), `zellij-${uid}`));
  return path.join(base, ZELLIJ_SOCKET_SUBDIR);
}

/** Why zellij would refuse this session name, or null when it is fine (zellij-utils cli.rs validate_session + session manager). */
export function zellijNameProblem(name: string, socketDir: string): string | null {
  if (name === '' || name === '.' || name === '..') return 'it is empty or a dot name';
  if (name.includes('/')) return "it contains '/'";
  const room = SOCKET_PATH_MAX - Buffer.byteLength(path.join(socketDir, '_'));
  if (Buffer.byteLength(name) > room) return `it is longer than the ${room} bytes left by the socket directory ${socketDir}`;
  return null;
}

/**
 * The zellij session name for a project: `sessionName(project)`, shortened with a stable hash
 * suffix when the socket path would be too long. Throws when even that cannot fit.
 */
export function zellijSessionName(project: string, socketDir = zellijSocketDir()): string {
  const full = sessionName(project);
  if (!zellijNameProblem(full, socketDir)) return full;
  const room = SOCKET_PATH_MAX - Buffer.byteLength(path.join(socketDir, '_'));
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 6);
  const short = `${full.slice(0, Math.max(0, room - hash.length - 1))}-${hash}`;
  if (room >= 'isollm-'.length + hash.length + 2 && !zellijNameProblem(short, socketDir)) return short;
  throw new UserError(`zellij cannot name a session for project "${project}": the socket directory ${socketDir} leaves no room. Set ZELLIJ_SOCKET_DIR to a shorter path, or use multiplexer.kind: tmux.`);
}
