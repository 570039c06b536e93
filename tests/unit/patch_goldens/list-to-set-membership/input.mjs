export function countVowels(text) {
  let count = 0;
  for (const character of text) {
    if (["a", "e", "i", "o", "u"].includes(character)) {
      count += 1;
    }
  }
  return count;
}
