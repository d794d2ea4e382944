const t0 = performance.now();
const mods = process.argv.slice(2);
const out: string[] = [];
for (const m of mods) { const s = performance.now(); await import(m); out.push(`${m.replace(/.*\/lib\//, '')} ${(performance.now() - s).toFixed(0)}`); }
console.log(`start ${t0.toFixed(0)} | ${out.join(' | ')}`);
