// The one template syntax of isollm's own files (templates/): `{{name}}` placeholders, each filled
// once and never re-scanned, so a value holding `{{x}}` stays as written; and `{{#flag}}…{{/flag}}`
// blocks, kept only when the flag is set (`{{^flag}}…{{/flag}}`: only when it is not), so one file
// serves several variants (e.g. the agent instructions per mode). A placeholder without a value is
// a mistake in isollm itself, so it throws.

export function renderTemplate(template: string, values: Record<string, string>, file = 'template', flags: Record<string, boolean> = {}): string {
  // Blocks nest: the first (outer) one goes, then what it kept is scanned again.
  let kept = template;
  for (let before = ''; before !== kept;) {
    before = kept;
    kept = kept.replace(/\{\{([#^])(\w+)\}\}\n?([\s\S]*?)\{\{\/\2\}\}\n?/, (_whole, sign: string, name: string, body: string) => {
      if (!Object.hasOwn(flags, name)) throw new Error(`${file}: unknown flag {{${sign}${name}}}`);
      return (sign === '#') === flags[name] ? body : '';
    });
  }
  return kept.replace(/\{\{(\w+)\}\}/g, (token, name: string) => {
    if (!Object.hasOwn(values, name)) throw new Error(`${file}: unknown placeholder ${token}`);
    return values[name];
  });
}
