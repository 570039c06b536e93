const LIMITS = '{"maxLength": 80, "minLength": 3}';

export function validNames(names) {
  const kept = [];
  for (const name of names) {
    const limits = JSON.parse(LIMITS);
    if (name.length >= limits.minLength && name.length <= limits.maxLength) {
      kept.push(name);
    }
  }
  return kept;
}
