// Whether e2e tests can use real containers here. In CI (CI or ISOLLM_E2E=1) a missing runtime or
// test image fails the run; elsewhere the e2e tests skip with a visible reason.
import YAML from 'yaml';
import { lookupImage, pingRuntime, RUNTIMES, type Runtime } from '../../lib/runtime/client.ts';
import { resolveRuntime, RUNTIME_ENV } from '../../lib/runtime/choose.ts';
import { findOnPath } from '../../lib/runtime/detect.ts';
import { errorMessage } from '../../lib/cli/errors.ts';

/** The image `npm run test-env` builds and imports. */
export const TEST_IMAGE = 'isollm-test';

export const E2E_REQUIRED = process.env.ISOLLM_E2E === '1' || process.env.CI === 'true' || process.env.CI === '1';

let probe: Promise<{ rt: Runtime | null; reason: string }> | undefined;

/** ISOLLM_TEST_RUNTIME forces one; else the rule every command uses (`npm run test-env` uses it too). */
async function probeRuntime(): Promise<{ rt: Runtime | null; reason: string }> {
  if (process.env.ISOLLM_E2E === '0') return { rt: null, reason: 'ISOLLM_E2E=0' };
  const forced = process.env.ISOLLM_TEST_RUNTIME as 'lxd' | 'incus' | undefined;
  try {
    const choice = await resolveRuntime({ kind: forced, kindFrom: 'ISOLLM_TEST_RUNTIME', image: TEST_IMAGE });
    if (!choice.kind) return { rt: null, reason: choice.reason };
    const rt = RUNTIMES[choice.kind];
    if (!findOnPath(rt.bin)) return { rt: null, reason: `no ${choice.kind} client installed (${choice.reason})` };
    await pingRuntime(rt);
    if (!(await lookupImage(rt, TEST_IMAGE))) return { rt: null, reason: `image ${TEST_IMAGE} is missing in ${choice.kind}` };
    // Every CLI the tests spawn inherits this: they all talk to the runtime the tests check.
    process.env[RUNTIME_ENV] = rt.kind;
    return { rt, reason: '' };
  } catch (err) {
    return { rt: null, reason: errorMessage(err) };
  }
}

/**
 * The runtime for e2e tests, or null (after printing why) when there is none and CI does not
 * require one. Use as: `const rt = await e2eRuntime('runtime'); describe.skipIf(!rt)(…)`.
 */
export async function e2eRuntime(suite: string): Promise<Runtime | null> {
  const { rt, reason } = await (probe ??= probeRuntime());
  if (rt) return rt;
  const message = `e2e ${suite}: no container runtime (${reason}). Run \`npm run test-env\` to set one up.`;
  if (E2E_REQUIRED) throw new Error(`${message} Required here (CI / ISOLLM_E2E=1).`);
  console.warn(`⚠ SKIPPED ${message}`);
  return null;
}

/** isollm.yaml for an e2e project: the test image, a private hub and port, no multiplexer. */
export function e2eConfigYaml(options: { project: string; hub: string; port: number; agent: Record<string, unknown>; multiplexer?: Record<string, unknown> }): string {
  return YAML.stringify({
    project: options.project,
    workers: 2,
    image: TEST_IMAGE,
    git: { base_branch: 'main', hub: options.hub },
    // No agent CLI from the registry (workers have no network here) unless a test asks for it.
    agent: { install: false, ...options.agent },
    queue: { port: options.port },
    multiplexer: { kind: 'none', ...options.multiplexer },
  });
}
