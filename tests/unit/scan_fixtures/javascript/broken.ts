export function broken( {
  for (const x of [1, 2]) {
    if ([1, 2].includes(x)) {
