// What differs between two loaded configurations, key by key: SIGHUP applies
// the keys that can change live and names the others, which need a restart.

/** The dotted keys whose values differ (`client.port`, `muc.admins`, ...). */
export function changedKeys(before: object, after: object, prefix = ''): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].flatMap((key) => {
    const a = (before as Record<string, unknown>)[key];
    const b = (after as Record<string, unknown>)[key];
    if (isTree(a) && isTree(b)) return changedKeys(a, b, `${prefix}${key}.`);
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix + key];
  });
}

function isTree(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
