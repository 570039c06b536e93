const RAW = '{"retries": 3}';

function run(lines, source) {
  const out = [];
  for (const line of lines) {
    const digits = new RegExp("\\d+"); // expect: regex-compile-in-loop
    const word = new RegExp(source, "g"); // expect: regex-compile-in-loop
    const settings = JSON.parse(RAW); // expect: json-parse-in-loop
    out.push([digits.test(line), word.test(line), settings]);
  }
  return out;
}

function perItem(lines) {
  const out = [];
  for (const line of lines) {
    out.push(new RegExp(line));
    out.push(JSON.parse(line));
    out.push(/\d+/.test(line));
  }
  return out;
}

function once(lines) {
  const digits = new RegExp("\\d+");
  const settings = JSON.parse(RAW);
  return lines.map((line) => [digits.test(line), settings]);
}

function concat(parts) {
  let html = "";
  for (const part of parts) {
    html += part;
  }
  return html;
}
