// Builds the dashboard in memory and fails when the JavaScript a first visit loads exceeds its budget (kB of 1000 bytes,
// as Vite prints them).
// First load = the entry chunk and every chunk it imports statically; chunks behind a dynamic import() are not counted,
// and the chart library must be among those.
import { gzipSync } from "node:zlib";
import { build } from "vite";

const LIMIT_GZIP_KB = 150;
const LAZY_ONLY = ["node_modules/chart.js", "node_modules/@kurkle/color"];

const result = await build({ logLevel: "warn", build: { write: false } });
const outputs = (Array.isArray(result) ? result : [result]).flatMap((r) => r.output);
const chunks = new Map(outputs.filter((o) => o.type === "chunk").map((chunk) => [chunk.fileName, chunk]));
const entries = [...chunks.values()].filter((chunk) => chunk.isEntry);
if (!entries.length) throw new Error("the build has no entry chunk");

const firstLoad = new Set();
const visit = (fileName) => {
  if (firstLoad.has(fileName)) return;
  firstLoad.add(fileName);
  for (const imported of chunks.get(fileName)?.imports ?? []) visit(imported);
};
entries.forEach((entry) => visit(entry.fileName));

const gzipKb = (code) => gzipSync(Buffer.from(code)).length / 1000;
let total = 0;
const problems = [];
for (const fileName of firstLoad) {
  const chunk = chunks.get(fileName);
  const size = gzipKb(chunk.code);
  total += size;
  console.log(`first load  ${fileName.padEnd(40)} ${size.toFixed(1).padStart(7)} kB gzipped`);
  const modules = chunk.moduleIds ?? Object.keys(chunk.modules ?? {});
  for (const lazy of LAZY_ONLY) {
    if (modules.some((id) => id.includes(lazy))) problems.push(`${lazy} is in the first-load chunk ${fileName}; load it with import()`);
  }
}
for (const [fileName, chunk] of chunks) {
  if (!firstLoad.has(fileName)) console.log(`lazy        ${fileName.padEnd(40)} ${gzipKb(chunk.code).toFixed(1).padStart(7)} kB gzipped`);
}
console.log(`first-load JavaScript: ${total.toFixed(1)} kB gzipped (limit ${LIMIT_GZIP_KB} kB)`);
if (total > LIMIT_GZIP_KB) problems.push(`first-load JavaScript is ${total.toFixed(1)} kB gzipped, above ${LIMIT_GZIP_KB} kB`);
if (problems.length) {
  for (const problem of problems) console.error(`bundle size: ${problem}`);
  process.exit(1);
}
