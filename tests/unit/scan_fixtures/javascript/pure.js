const SCALE = 3;

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

const weights = (count) => {
  const out = [];
  for (let i = 0; i < count; i++) out.push(i * SCALE);
  return out;
};

function noisy(n) {
  console.log(n);
  return n;
}

function tiny(n) {
  return n + 1;
}

function use(items) {
  const out = [];
  for (const item of items) {
    out.push(item * fib(20)); // expect: pure-call-in-loop
    out.push(fib(item));
    out.push(noisy(3));
    out.push(tiny(2));
    out.push(weights(4));
  }
  return out;
}
