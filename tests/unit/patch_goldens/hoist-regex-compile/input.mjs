export function errorLines(lines) {
  const found = [];
  for (const line of lines) {
    if (new RegExp("^\\d{4} ERROR ", "i").test(line)) {
      found.push(line);
    }
  }
  return found;
}
