// The one template syntax of isollm's own files (templates/): `{{name}}` placeholders, each filled
// once and never re-scanned, so a value holding `{{x}}` stays as written. A placeholder without a
// value is a mistake in isollm itself, so it throws.

export function renderTemplate(template: string, values: Record<string, string>, file = 'template'): string {
  return template.replace(/\{\{(\w+)\}\}/g, (token, name: string) => {
    if (!Object.hasOwn(values, name)) throw new Error(`${file}: unknown placeholder ${token}`);
    return values[name];
  });
}
