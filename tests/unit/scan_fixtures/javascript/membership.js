const ALLOWED = ["read", "write", "admin"];

function countAllowed(actions) {
  let total = 0;
  for (const action of actions) {
    if (ALLOWED.includes(action)) { // expect: list-membership-in-loop
      total += 1;
    }
  }
  return total;
}

function known(items, names) {
  const list = names.split(",");
  return items.filter((item) => list.indexOf(item) !== -1); // expect: list-membership-in-loop
}

function literal(codes) {
  for (let i = 0; i < codes.length; i++) {
    if ([500, 502, 503].includes(codes[i])) return true; // expect: list-membership-in-loop
  }
  return false;
}

function alreadySet(actions) {
  const allowed = new Set(["read"]);
  return actions.filter((action) => allowed.has(action));
}

function outsideLoop(action) {
  return ALLOWED.includes(action);
}

function stringIncludes(words, text) {
  return words.filter((word) => text.includes(word));
}

function grows(items) {
  const seen = [];
  for (const item of items) {
    if (!seen.includes(item)) seen.push(item);
  }
  return seen;
}

function position(items) {
  const order = ["a", "b"];
  return items.map((item) => order.indexOf(item));
}
