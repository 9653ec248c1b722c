// The image service's operations written once more, in plain JavaScript, with the same
// formulas and the same order of arithmetic as image-core (examples/image-service/core), so
// that the page can compare them with the Wasm build of image-core. JavaScript numbers are
// IEEE doubles, like image-core's f64; only Math.exp (the blur's weights) may differ from
// image-core's libm in the last bit, which can move a blurred channel by one.

export const SYNTAX =
  "grayscale, sepia, blur:<sigma 0.1..=50>, resize:<width>x<height>[:nearest|:bilinear] " +
  "(1..=8192), brightness:<delta -255..=255>, contrast:<factor 0..=10>, flip:h|v, rotate:90|180|270";

const MAX_SIDE = 8192;

// Round to nearest (halves away from zero, as Rust's f64::round) and clamp to 0..=255.
function channel(value) {
  const rounded = value < 0 ? -Math.round(-value) : Math.round(value);
  return Math.min(255, Math.max(0, rounded));
}

function number(op, text, what) {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new Error(`operation "${op}": ${what} "${text}" is not a number`);
  return value;
}

// Parses "op,op,..." into [{name, ...}]; throws with the op named.
export function parseOps(text) {
  if (text.trim() === "") throw new Error("no operation given");
  return text.split(",").map((raw) => {
    const op = raw.trim();
    const [name, arg, extra] = op.split(":");
    const fail = (problem) => new Error(`operation "${op}": ${problem}; the operations are ${SYNTAX}`);
    switch (name) {
      case "grayscale":
      case "sepia":
        if (arg !== undefined) throw fail(`${name} takes no argument`);
        return { name };
      case "blur": {
        const sigma = number(op, arg ?? "", "sigma");
        if (sigma < 0.1 || sigma > 50) throw fail(`sigma ${sigma} is outside 0.1..=50`);
        return { name, sigma };
      }
      case "resize": {
        const [w, h] = (arg ?? "").split("x");
        const sampling = extra ?? "bilinear";
        if (sampling !== "nearest" && sampling !== "bilinear") throw fail(`sampling "${sampling}" is neither nearest nor bilinear`);
        const width = number(op, w ?? "", "width"), height = number(op, h ?? "", "height");
        if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw fail("resize needs a width and a height of at least 1");
        return { name, width, height, sampling };
      }
      case "brightness": {
        const delta = number(op, arg ?? "", "delta");
        if (!Number.isInteger(delta) || delta < -255 || delta > 255) throw fail(`delta ${delta} is outside -255..=255`);
        return { name, delta };
      }
      case "contrast": {
        const factor = number(op, arg ?? "", "factor");
        if (factor < 0 || factor > 10) throw fail(`factor ${factor} is outside 0..=10`);
        return { name, factor };
      }
      case "flip":
        if (arg !== "h" && arg !== "v") throw fail("flip needs h or v, as flip:h or flip:v");
        return { name, axis: arg };
      case "rotate":
        if (!["90", "180", "270"].includes(arg)) throw fail("rotate needs 90, 180 or 270, as rotate:90");
        return { name, degrees: Number(arg) };
      default:
        throw fail(`unknown operation "${name}"`);
    }
  });
}

// An image is { width, height, data: Uint8ClampedArray of RGBA }.
function image(width, height) {
  return { width, height, data: new Uint8ClampedArray(width * height * 4) };
}

function mapColor(src, f) {
  const out = image(src.width, src.height);
  out.data.set(src.data);
  for (let i = 0; i < out.data.length; i += 4) {
    const [r, g, b] = f(src.data[i], src.data[i + 1], src.data[i + 2]);
    out.data[i] = r;
    out.data[i + 1] = g;
    out.data[i + 2] = b;
  }
  return out;
}

function grayscale(r, g, b) {
  const luma = channel(0.299 * r + 0.587 * g + 0.114 * b);
  return [luma, luma, luma];
}

function sepia(r, g, b) {
  return [
    channel(0.393 * r + 0.769 * g + 0.189 * b),
    channel(0.349 * r + 0.686 * g + 0.168 * b),
    channel(0.272 * r + 0.534 * g + 0.131 * b),
  ];
}

// The vertical pass into one row of sums, then the horizontal pass: image-core's order.
function blur(src, sigma) {
  const radius = Math.ceil(3 * sigma);
  const raw = [];
  for (let k = -radius; k <= radius; k++) raw.push(Math.exp(-(k * k) / (2 * sigma * sigma)));
  let total = 0;
  for (const w of raw) total += w;
  const weights = raw.map((w) => w / total);
  const { width, height } = src;
  const clamp = (i, len) => Math.min(len - 1, Math.max(0, i));
  const out = image(width, height);
  out.data.set(src.data);
  const sums = new Float64Array(width * 3);
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    for (let k = 0; k < weights.length; k++) {
      const w = weights[k];
      const row = clamp(y + k - radius, height) * width * 4;
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) sums[x * 3 + c] += w * src.data[row + x * 4 + c];
      }
    }
    for (let x = 0; x < width; x++) {
      const sum = [0, 0, 0];
      for (let k = 0; k < weights.length; k++) {
        const w = weights[k];
        const source = clamp(x + k - radius, width);
        for (let c = 0; c < 3; c++) sum[c] += w * sums[source * 3 + c];
      }
      for (let c = 0; c < 3; c++) out.data[(y * width + x) * 4 + c] = channel(sum[c]);
    }
  }
  return out;
}

function source(x, from, to) {
  return ((x + 0.5) * from) / to - 0.5;
}

function resize(src, width, height, sampling) {
  if (width > MAX_SIDE || height > MAX_SIDE) throw new Error(`the result would be ${width}×${height}, over ${MAX_SIDE} pixels on a side`);
  const out = image(width, height);
  const { width: w, height: h, data } = src;
  const at = (x, y, c) => data[(y * w + x) * 4 + c];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (sampling === "nearest") {
        const sx = Math.min(w - 1, Math.floor(source(x, w, width) + 0.5));
        const sy = Math.min(h - 1, Math.floor(source(y, h, height) + 0.5));
        for (let c = 0; c < 4; c++) out.data[o + c] = at(sx, sy, c);
      } else {
        const sx = Math.min(w - 1, Math.max(0, source(x, w, width)));
        const sy = Math.min(h - 1, Math.max(0, source(y, h, height)));
        const x0 = Math.floor(sx), y0 = Math.floor(sy);
        const x1 = Math.min(x0 + 1, w - 1), y1 = Math.min(y0 + 1, h - 1);
        const fx = sx - x0, fy = sy - y0;
        for (let c = 0; c < 4; c++) {
          const top = (1 - fx) * at(x0, y0, c) + fx * at(x1, y0, c);
          const bottom = (1 - fx) * at(x0, y1, c) + fx * at(x1, y1, c);
          out.data[o + c] = channel((1 - fy) * top + fy * bottom);
        }
      }
    }
  }
  return out;
}

function geometric(src, width, height, from) {
  const out = image(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = from(x, y);
      const s = (sy * src.width + sx) * 4, o = (y * width + x) * 4;
      for (let c = 0; c < 4; c++) out.data[o + c] = src.data[s + c];
    }
  }
  return out;
}

function apply(src, op) {
  const { width: w, height: h } = src;
  switch (op.name) {
    case "grayscale": return mapColor(src, grayscale);
    case "sepia": return mapColor(src, sepia);
    case "brightness": return mapColor(src, (r, g, b) => [r, g, b].map((v) => Math.min(255, Math.max(0, v + op.delta))));
    case "contrast": return mapColor(src, (r, g, b) => [r, g, b].map((v) => channel((v - 128) * op.factor + 128)));
    case "blur": return blur(src, op.sigma);
    case "resize": return resize(src, op.width, op.height, op.sampling);
    case "flip": return geometric(src, w, h, op.axis === "h" ? (x, y) => [w - 1 - x, y] : (x, y) => [x, h - 1 - y]);
    case "rotate":
      if (op.degrees === 90) return geometric(src, h, w, (x, y) => [y, h - 1 - x]);
      if (op.degrees === 180) return geometric(src, w, h, (x, y) => [w - 1 - x, h - 1 - y]);
      return geometric(src, h, w, (x, y) => [w - 1 - y, x]);
  }
  throw new Error(`unknown operation ${op.name}`);
}

// Applies an op chain ("grayscale,blur:2") to { width, height, data }.
export function applyOps(src, text) {
  return parseOps(text).reduce(apply, src);
}
