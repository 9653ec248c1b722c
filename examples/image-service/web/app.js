// The image service's page: runs a chain of operations on the chosen image three ways and
// compares the pixels. For a test (or a curious user) the last results are also in
// window.imageService: sizes, times and the three outputs' pixels in base64.
import init, { apply as applyWasm, syntax } from "./pkg/image_browser.js";
import { applyOps } from "./filters.js";

const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; };
let source = null; // { width, height, data }

function draw(canvas, img) {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
}

function pixelsOf(canvas) {
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return ctx.getImageData(0, 0, canvas.width, canvas.height).data;
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

async function load(file) {
  // No colour conversion and no premultiplication: the canvas holds the file's own values
  // (exactly, for opaque images; a canvas stores premultiplied alpha).
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = $("source");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  source = { width: bitmap.width, height: bitmap.height, data: pixelsOf(canvas) };
  $("source-size").textContent = `${source.width}×${source.height}`;
}

async function runServer(ops) {
  const png = await new Promise((resolve) => $("source").toBlob(resolve, "image/png"));
  const started = performance.now();
  const response = await fetch(`/api/process?format=png&ops=${encodeURIComponent(ops)}`, {
    method: "POST",
    headers: { "content-type": "image/png" },
    body: png,
  });
  if (!response.ok) throw new Error(`the server answered ${response.status}: ${await response.text()}`);
  const serverMillis = Number(response.headers.get("x-process-millis"));
  const bitmap = await createImageBitmap(await response.blob(), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const roundTrip = performance.now() - started;
  const canvas = $("server");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  return { width: bitmap.width, height: bitmap.height, data: pixelsOf(canvas), millis: serverMillis, roundTrip };
}

function compare(a, b) {
  if (a.width !== b.width || a.height !== b.height) return { differing: Infinity, maxDiff: Infinity };
  let differing = 0, maxDiff = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (d) { differing++; maxDiff = Math.max(maxDiff, d); }
  }
  return { differing, maxDiff };
}

async function run(event) {
  event.preventDefault();
  if (!source) { status("Pick an image first."); return; }
  const ops = $("ops").value;
  document.body.dataset.status = "running";
  status("Running…");
  try {
    let started = performance.now();
    const processed = applyWasm(source.width, source.height, new Uint8Array(source.data), ops);
    const wasm = { width: processed.width, height: processed.height, data: processed.pixels(), millis: performance.now() - started };
    processed.free();
    draw($("wasm"), wasm);
    $("wasm-time").textContent = `${wasm.millis.toFixed(1)} ms`;

    started = performance.now();
    const js = applyOps({ ...source, data: new Uint8ClampedArray(source.data) }, ops);
    js.millis = performance.now() - started;
    draw($("js"), js);
    $("js-time").textContent = `${js.millis.toFixed(1)} ms`;

    const server = await runServer(ops);
    $("server-time").textContent = `${server.millis.toFixed(1)} ms on the server (${server.roundTrip.toFixed(0)} ms round trip)`;

    const wasmVsServer = compare(wasm, server);
    const jsVsWasm = compare(js, wasm);
    const same = wasmVsServer.differing === 0;
    $("verdict").className = same ? "same" : "differ";
    $("verdict").textContent = (same
      ? "Browser Wasm and server: identical pixels."
      : `Browser Wasm and server differ in ${wasmVsServer.differing} bytes.`) +
      ` JavaScript against Wasm: ${jsVsWasm.differing} bytes differ, by at most ${jsVsWasm.maxDiff}.`;
    window.imageService = {
      ops,
      source: { width: source.width, height: source.height, pixels: base64(new Uint8Array(source.data)) },
      results: Object.fromEntries([["wasm", wasm], ["js", js], ["server", server]].map(([name, r]) => [
        name, { width: r.width, height: r.height, millis: r.millis, pixels: base64(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.length)) },
      ])),
      wasmVsServer,
      jsVsWasm,
    };
    status("Done.");
    document.body.dataset.status = "done";
  } catch (error) {
    status(`Failed: ${error.message}`);
    document.body.dataset.status = "failed";
  }
}

await init();
$("syntax").textContent = `Operations, separated by commas: ${syntax()}.`;
$("file").addEventListener("change", async (e) => {
  if (e.target.files[0]) { await load(e.target.files[0]); status("Ready."); }
});
$("controls").addEventListener("submit", run);
$("run").disabled = false;
status("Ready: pick an image.");
document.body.dataset.status = "ready";
