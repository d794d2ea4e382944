// The base made ready for an agent install from the npm registry (lib/agent/registry.ts says which
// registry and why): the host registry's npmrc pushed root-only, a registry on the host's loopback
// forwarded in, node and npm (fetched by the host's npm) pushed when the base's node is missing or
// too old. The returned cleanup removes all of it, before the base is stopped and copied.
// Also the packages a CLI wants in dev's home (opencode's plugin package), installed by the host's npm.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx/core';
import { hostRegistry, INSTALL_DIR, installOnHost, redactUrl, nodePackage, packNodeAndNpm } from '../agent/registry.ts';
import { HOME_PACKAGES_TGZ, NODE_FOR_AGENTS, type HomePackages } from '../agent/install.ts';
import { UserError } from '../cli/errors.ts';
import { addDevice, execIn, execOk, pushFile, pushText, removeDevice } from '../runtime/client.ts';
import type { WorkerContext } from './create.ts';

/** The proxy device that forwards a loopback registry into the base during the install. */
export const REGISTRY_DEVICE = 'isollm-registry';

/** The major of the base's node, 0 without node or npm. */
async function baseNodeMajor(ctx: WorkerContext, base: string): Promise<number> {
  const r = await execIn(ctx.rt, base, ['sh', '-c', 'command -v npm >/dev/null && node -p \'process.versions.node.split(".")[0]\'']);
  return r.exitCode === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : 0;
}

export async function prepareRegistryInstall(ctx: WorkerContext, base: string, need: number, progress: (step: string) => void): Promise<() => Promise<void>> {
  const { rt } = ctx;
  const registry = await hostRegistry(ctx.root);
  let forwarded = false;
  // Every worker is a copy of the base: what is left here (the credentials, a forward to the host's
  // loopback) every agent would have. A removal that fails fails the build (the base is not kept).
  const cleanup = async () => {
    const failed: string[] = [];
    const removed = await execIn(rt, base, ['rm', '-rf', INSTALL_DIR]).catch((err: Error) => ({ exitCode: 1, stderr: err.message, stdout: '' }));
    if (removed.exitCode !== 0) failed.push(`${INSTALL_DIR} (${removed.stderr.trim().split('\n')[0] || `rm exited ${removed.exitCode}`})`);
    if (forwarded) await removeDevice(rt, base, REGISTRY_DEVICE).catch((err: Error) => failed.push(`the device ${REGISTRY_DEVICE} (${err.message.split('\n')[0]})`));
    if (failed.length) throw new UserError(`Could not remove the agent install's registry files from the base ${base}: ${failed.join('; ')}. The base is not kept; run \`isollm up\` again.`);
  };
  try {
    progress(`npm registry: ${registry.shown}${registry.auth ? ' (with its credentials from the host)' : ''}`);
    await execOk(rt, base, ['mkdir', '-m', '700', '-p', INSTALL_DIR]);
    await pushText(rt, base, `${INSTALL_DIR}/npmrc`, registry.npmrc, { uid: 0, gid: 0, mode: 0o600 });
    // A remote's containers cannot reach this machine's loopback: its own network must reach the registry.
    if (registry.loopback && !rt.remote) {
      const { host, port } = registry.loopback;
      const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      await addDevice(rt, base, REGISTRY_DEVICE, { type: 'proxy', bind: 'instance', listen: `tcp:${addr}`, connect: `tcp:${addr}` });
      forwarded = true;
      progress(`forwarding ${addr} (the host's registry) into the base for the install`);
    }
    const major = await baseNodeMajor(ctx, base);
    if (major < need && registry.npmVersion) {
      const machine = (await execOk(rt, base, ['uname', '-m'])).trim();
      const nodePkg = nodePackage(machine);
      if (nodePkg) {
        progress(`${major ? `node ${major} in the base is older than ${need}` : 'no node and npm in the base'}: the host's npm fetches ${nodePkg}@${NODE_FOR_AGENTS} and npm@${registry.npmVersion}`);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-node-'));
        try {
          const packed = await packNodeAndNpm(ctx.root, dir, `${nodePkg}@${NODE_FOR_AGENTS}`, `npm@${registry.npmVersion}`);
          if ('error' in packed) {
            throw new UserError(`Could not install the agent's CLI: the base has ${major ? `node ${major}, older than the ${need} it needs` : 'no node and npm'}, and the host's npm could not fetch them from ${registry.shown} (${redactUrl(packed.error)}). Check \`npm config get registry\` and that it answers, or see agent.install in the README.`);
          } else {
            await pushFile(rt, base, packed.node, `${INSTALL_DIR}/node.tgz`, { uid: 0, gid: 0, mode: 0o600 });
            await pushFile(rt, base, packed.npm, `${INSTALL_DIR}/npm.tgz`, { uid: 0, gid: 0, mode: 0o600 });
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } catch (err) {
    await cleanup().catch(() => undefined); // the build fails on err anyway, and the base goes
    throw err;
  }
  return cleanup;
}

/**
 * The host's npm installs `home.specs` into a temporary directory; its package.json, lockfile and
 * node_modules go into the base as one tarball (HOME_PACKAGES_TGZ), which the install script unpacks
 * into `home.dir`. When the host's npm cannot, the base is built without them (the CLI still works:
 * it tries to install them itself in each worker) and the progress says so.
 */
export async function pushHomePackages(ctx: WorkerContext, base: string, home: HomePackages, progress: (step: string) => void): Promise<void> {
  const specs = home.specs.join(' ');
  progress(`the host's npm installs ${specs} for ${home.dir}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-home-packages-'));
  try {
    const failed = await installOnHost(ctx.root, dir, home.specs);
    if (failed) {
      progress(`the host's npm could not install ${specs} (${redactUrl(failed.error)}): the base is built without it, and the agent installs it in each worker when it first runs (without network it waits about 70 s at every run)`);
      return;
    }
    // Not the copied .npmrc (credentials): only what npm installed.
    const tgz = path.join(dir, 'home-packages.tgz');
    await $({ quiet: true })`tar -czf ${tgz} -C ${dir} package.json package-lock.json node_modules`;
    await pushFile(ctx.rt, base, tgz, HOME_PACKAGES_TGZ, { uid: 0, gid: 0, mode: 0o600 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
