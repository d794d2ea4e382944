const T0 = performance.now();
const { loadConfig } = await import('isollm/config');
const { collectStatus, defaultSources } = await import('./lib/status/collect.ts');
const T2 = performance.now();
const root = process.cwd();
const config = loadConfig(root);
const T3 = performance.now();
const src: any = defaultSources(root, config);
const timed: any = {};
const marks: string[] = [];
for (const [k, f] of Object.entries(src)) {
  if (k === 'now') { timed[k] = f; continue; }
  timed[k] = async (...a: any[]) => { const s = performance.now(); try { return await (f as any)(...a); } finally { marks.push(`${k} ${(s - T3).toFixed(0)}→${(performance.now() - T3).toFixed(0)}`); } };
}
await collectStatus(root, config, timed);
const T4 = performance.now();
console.log(`node start→script ${T0.toFixed(0)} imports ${(T2-T0).toFixed(0)} loadConfig ${(T3-T2).toFixed(0)} collect ${(T4-T3).toFixed(0)} | ${marks.join(', ')}`);
process.exit(0);
