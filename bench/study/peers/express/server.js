// The study's JavaScript peer: GET /api/matmul, /api/health and /api/compute on Express 5,
// answering as examples/matmul and examples/fastserve do. The same file runs on Node.js
// (the `express` system) and on Bun (the `bun` system):
//
//   node server.js 127.0.0.1:3003      bun server.js 127.0.0.1:3004
"use strict";
const express = require("express");

const MAX_N = 5000;

// The study's A and B of size n, multiplied with the i-k-j loop; the sum of the product.
function matmul(n) {
  const a = new Float64Array(n * n);
  const b = new Float64Array(n * n);
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      a[i * n + j] = (31 * i + 17 * j) % 100;
      b[i * n + j] = (13 * i + 7 * j) % 100;
    }
  }
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[row + k];
      const bRow = k * n;
      for (let j = 0; j < n; j++) {
        c[row + j] += aik * b[bRow + j];
      }
    }
  }
  let sum = 0;
  for (let i = 0; i < c.length; i++) sum += c[i];
  return sum;
}

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

function badRequest(res, message) {
  res.status(400).json({ error: message, status: 400 });
}

const app = express();
app.disable("x-powered-by");
app.disable("etag");

app.get("/api/matmul", (req, res) => {
  const kernel = req.query.kernel ?? "naive";
  if (kernel !== "naive") return badRequest(res, `unknown kernel "${kernel}"`);
  const n = /^\d+$/.test(req.query.n ?? "") ? Number(req.query.n) : NaN;
  if (!(n >= 1 && n <= MAX_N)) return badRequest(res, `n must be a number in 1..=${MAX_N}`);
  const start = process.hrtime.bigint();
  const checksum = matmul(n);
  const millis = Number((process.hrtime.bigint() - start) / 1000n) / 1000;
  res.json({ n, kernel: "naive", checksum, millis });
});

app.get("/api/health", (req, res) => res.type("text/plain").send("ok"));

app.get("/api/compute", (req, res) => {
  const text = req.query.n ?? "30";
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 40)) return badRequest(res, "n must be a whole number in 0..=40");
  res.json({ n, fib: fib(n) });
});

const [host, port] = (process.argv[2] ?? "127.0.0.1:3003").split(":");
app.listen(Number(port), host, () => console.log(`listening on ${host}:${port}`));
