// Installing the agent's CLI (`agent.install`, on by default for the npm presets). It runs once, as
// root, in the project's base container (after setup_script), never per worker: every worker is a
// copy of the base. Two ways:
// - from the host (`agent.install_from`: a directory where the CLI is installed by npm, e.g.
//   `npm install --prefix DIR @anthropic-ai/claude-code@2.1.332`): the CLI's native build is pushed
//   into the base, so the base needs no network and no node (claude, codex, opencode ship one);
// - else from the npm registry the host's npm is configured with (lib/agent/registry.ts), by npm in
//   the base, at the version isollm was tested with; node and npm fetched by the host's npm when the
//   image has none or too old a node (else from the image's apt sources).
// The script's text (with the pushed files' sizes and times) is part of the base's key, so a new
// version or another cached copy rebuilds the base on the next `up`.
// opencode also gets its plugin package in its config directory (AGENT_PACKAGES.opencode.home).
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import type { Config } from '../config/load.ts';
import { DEV_HOME } from './presets.ts';
import { INSTALL_DIR } from './registry.ts';

/** A host file pushed into the base before the script runs. */
export type InstallFile = { host: string; path: string; mode: number };

export type AgentInstall = {
  /** A shell script run as root in the base (sh unless it has a `#!` line), or null: nothing to install. */
  script: string | null;
  /** Host files pushed into the base first (the CLI's native build, from `agent.install_from`). */
  files: InstallFile[];
  /** How the CLI gets into the base, for `isollm doctor` and the build's progress. */
  how: string;
  /**
   * Set when the script installs from the npm registry: the base is prepared for it first (the host's
   * registry and credentials, a forward of a loopback registry, node and npm when the base's node is
   * older than `node`; lib/worker/agent-registry.ts).
   */
  registry?: { node: number };
  /** Something the user should know (doctor warns): the CLI is not where install_from says, … */
  warning?: string;
  /**
   * npm packages the CLI wants in a directory of dev's home: the host's npm installs them, the
   * tarball of that install is pushed to HOME_PACKAGES_TGZ before the script, which unpacks it.
   */
  homePackages?: HomePackages;
};

/** npm packages installed (by the host's npm) into `dir`, a directory of dev's home in the base. */
export type HomePackages = { dir: string; specs: string[] };

/** Where the tarball of the home packages' install is pushed in the base; the script removes it. */
export const HOME_PACKAGES_TGZ = '/root/.isollm-home-packages.tgz';

type NpmPreset = 'claude' | 'codex' | 'gemini' | 'opencode';

/**
 * The npm package of each npm preset at the version its preset was verified with (the same pins as
 * test/fixtures/agent-clis), and where its native build lies in an npm install of it.
 */
export const AGENT_PACKAGES: Record<NpmPreset, { name: string; version: string; command: string; node?: number; native?: (arch: string) => { root: string; bin: string } | null; home?: HomePackages }> = {
  // claude's install step puts its platform's native binary in place of bin/claude.exe.
  claude: { name: '@anthropic-ai/claude-code', version: '2.1.332', command: 'claude', node: 22, native: () => ({ root: '@anthropic-ai/claude-code/bin', bin: 'claude.exe' }) },
  // codex's launcher (node) only runs the native build of its platform package: bin/codex, with
  // bin/codex-code-mode-host (its code-mode tool) next to it, and its resources.
  codex: {
    name: '@openai/codex',
    version: '0.171.0',
    command: 'codex',
    node: 16,
    native: (arch) => {
      const triple = arch === 'x64' ? 'x86_64-unknown-linux-musl' : arch === 'arm64' ? 'aarch64-unknown-linux-musl' : null;
      return triple ? { root: `@openai/codex-linux-${arch}/vendor/${triple}`, bin: 'bin/codex' } : null;
    },
  },
  // gemini is JavaScript only: it needs node (20 or newer) in the image.
  gemini: { name: '@google/gemini-cli', version: '0.61.0', command: 'gemini', node: 20 },
  // opencode installs its plugin package (at its own version) into each config directory at every run
  // until the directory's package.json and lockfile list it; it waits for that before loading
  // plugins (isollm's is in ~/.config/opencode), so without network every run waited about 70 s for
  // npm to give up. Installed once in the base, no worker asks the registry for it.
  opencode: {
    name: 'opencode-ai',
    version: '1.18.33',
    command: 'opencode',
    native: () => ({ root: 'opencode-ai/bin', bin: 'opencode.exe' }),
    home: { dir: `${DEV_HOME}/.config/opencode`, specs: ['@opencode-ai/plugin@1.18.33'] },
  },
};

/** The Node major installed in the base when the image's is older than a CLI needs (as isollm's own). */
export const NODE_FOR_AGENTS = 24;

/** The oldest node the npm presets without an engines pin run on (what npm itself still supports). */
const MIN_NODE = 18;

/** Where a pushed CLI lives in the base. */
export const AGENT_OPT = '/opt/isollm-agent';

const npmPreset = (preset: Config['agent']['preset']): preset is NpmPreset => preset in AGENT_PACKAGES;

/**
 * The script's lines that unpack the home packages' install (when the host's npm could make it) into
 * their directory, owned by dev. Their specs are in the text, so another version rebuilds the base.
 */
function homePackagesLines(home: HomePackages | undefined): string[] {
  if (!home) return [];
  const specs = home.specs.join(' ');
  const top = `${DEV_HOME}/${home.dir.slice(DEV_HOME.length + 1).split('/')[0]}`;
  return [
    `# ${specs} into ${home.dir}, installed by the host's npm:`,
    `if [ -f ${HOME_PACKAGES_TGZ} ]; then`,
    `  mkdir -p ${home.dir} && tar -xzf ${HOME_PACKAGES_TGZ} -C ${home.dir} --no-same-owner && chown -R "$(id -u dev):$(id -g dev)" ${top} && rm -f ${HOME_PACKAGES_TGZ} || { echo "isollm: could not unpack ${specs} into ${home.dir}" >&2; exit 1; }`,
    `  echo "${specs} in ${home.dir}"`,
    'fi',
  ];
}

/** The home packages in words, for `how`. */
const homePackagesHow = (home: HomePackages | undefined) => home ? `; ${home.specs.join(' ')} into ${home.dir.replace(DEV_HOME, '~')} by the host's npm` : '';

/** Every file under `dir` (recursively), relative to it. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/**
 * What installs the configured agent's CLI in the base (`install_from` is absolute: the config
 * resolved it against the project). Nothing for a custom agent, for aider (a Python package: its CLI comes
 * from setup_script), or with `agent.install: false`.
 */
export function agentInstall(agent: Config['agent'], arch: string = process.arch): AgentInstall {
  if (!agent.install) return { script: null, files: [], how: `agent.install is off: setup_script (or the image) provides ${agent.command ?? agent.preset}` };
  if (!npmPreset(agent.preset)) {
    const how = agent.preset === 'aider'
      ? 'aider is a Python package isollm does not install: put e.g. `pipx install aider-chat` in setup_script'
      : 'a custom agent: setup_script (or the image) provides it';
    return { script: null, files: [], how };
  }
  const pkg = AGENT_PACKAGES[agent.preset];
  const spec = `${pkg.name}@${pkg.version}`;
  let warning: string | undefined;
  if (agent.install_from) {
    const from = agent.install_from;
    const native = pkg.native?.(arch);
    const dir = native && path.join(from, 'node_modules', native.root);
    if (native && dir && fs.existsSync(path.join(dir, native.bin))) {
      const target = `${AGENT_OPT}/${agent.preset}`;
      const files = filesUnder(dir).map((f): InstallFile => {
        const host = path.join(dir, f);
        return { host, path: `${target}/${f}`, mode: fs.statSync(host).mode & 0o777 };
      });
      const stamp = files.map((f) => {
        const st = fs.statSync(f.host);
        return `#   ${f.path} (${st.size} bytes, ${st.mtime.toISOString()})`;
      });
      const script = [
        '#!/bin/sh',
        `# isollm: the ${pkg.command} CLI pushed from ${dir}:`,
        ...stamp,
        'set -eu',
        ...homePackagesLines(pkg.home),
        `ln -sf ${target}/${native.bin} /usr/local/bin/${pkg.command}`,
        `${pkg.command} --version`,
        '',
      ].join('\n');
      return {
        script,
        files,
        how: `${pkg.command} pushed into the base from ${dir} (no network needed)${homePackagesHow(pkg.home)}`,
        ...(pkg.home ? { homePackages: pkg.home } : {}),
      };
    }
    warning = native
      ? `agent.install_from ${from} has no ${native.root}/${native.bin}; install it there with \`npm install --prefix ${from} ${spec}\``
      : `${pkg.command} has no native build isollm can push (it needs node 20+ in the image); it is installed from the npm registry instead`;
  }
  const need = pkg.node ?? MIN_NODE;
  const script = [
    '#!/bin/sh',
    `# isollm: the ${pkg.command} CLI (${spec}) from the npm registry.`,
    'set -u',
    ...homePackagesLines(pkg.home),
    `fail() { echo "isollm: could not install ${pkg.command}: $1. Install it with setup_script, or point agent.install_from at a host directory where it is installed (npm install --prefix DIR ${spec}), or set agent.install: false." >&2; exit 1; }`,
    `if command -v ${pkg.command} >/dev/null 2>&1; then echo "${pkg.command} is already installed: $(command -v ${pkg.command})"; exit 0; fi`,
    // isollm pushed the host registry's npmrc (and node and npm, when the image has none or too old a node).
    `d=${INSTALL_DIR}`,
    '[ -f "$d/npmrc" ] && export NPM_CONFIG_USERCONFIG="$d/npmrc"',
    'if [ -f "$d/node.tgz" ] && [ -f "$d/npm.tgz" ]; then',
    `  echo "node and npm from the host's npm registry (the host's npm fetched them)"`,
    '  tar -xzf "$d/node.tgz" -C /usr/local --strip-components=1 --no-same-owner package/bin/node || fail "could not unpack node"',
    '  rm -rf /usr/local/lib/node_modules/npm && mkdir -p /usr/local/lib/node_modules/npm /usr/local/bin || fail "could not make /usr/local/lib/node_modules/npm"',
    '  tar -xzf "$d/npm.tgz" -C /usr/local/lib/node_modules/npm --strip-components=1 --no-same-owner || fail "could not unpack npm"',
    '  ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx',
    '  hash -r',
    'fi',
    'if ! command -v npm >/dev/null 2>&1; then',
    '  export DEBIAN_FRONTEND=noninteractive',
    '  apt-get update -q || fail "node and npm are not in the image, and apt-get update failed"',
    '  apt-get install -y -q --no-install-recommends nodejs npm || fail "node and npm are not in the image and apt-get could not install them"',
    'fi',
    // The package's engines.node: Debian's node (18 on bookworm) is too old for some; the registry's
    // `node` package (what isollm itself runs on) brings a newer one onto /usr/local/bin.
    `major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || major=0`,
    `if [ "$major" -lt ${need} ]; then`,
    `  echo "node $major is older than the ${need} ${pkg.name} needs: installing node@${NODE_FOR_AGENTS} from the npm registry"`,
    `  npm install -g --no-audit --no-fund node@${NODE_FOR_AGENTS} || fail "npm install -g node@${NODE_FOR_AGENTS} failed"`,
    '  hash -r',
    'fi',
    // One request first, so an unreachable registry (or one without the package) says so in one line.
    // (shown without a user:password in it)
    `registry=$(npm config get registry 2>/dev/null | sed 's#//[^/@]*@#//#')`,
    `npm view ${spec} version >/dev/null || fail "the npm registry $registry does not answer from the base, or has no ${spec} (npm view failed)"`,
    `npm install -g --no-audit --no-fund ${spec} || fail "npm install -g ${spec} from $registry failed"`,
    `${pkg.command} --version || fail "${pkg.command} does not start"`,
    '',
  ].join('\n');
  return {
    script,
    files: [],
    how: `${spec} installed from the host's npm registry when the base is built (one on 127.0.0.1 is forwarded into the base; any other needs the base's network)${homePackagesHow(pkg.home)}`,
    registry: { node: need },
    ...(warning ? { warning } : {}),
    ...(pkg.home ? { homePackages: pkg.home } : {}),
  };
}
