// What the browser's wasm is made of: the code size of each crate, read from the function names
// of the size-optimised build before wasm-bindgen and wasm-opt strip them. Used by the benchmark
// to say what dominates the download.

import { readFileSync } from "node:fs";

function leb(buf, pos) {
  let result = 0, shift = 0, byte;
  do {
    byte = buf[pos++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [result, pos];
}

function name(buf, pos) {
  const [len, p] = leb(buf, pos);
  return [buf.toString("utf8", p, p + len), p + len];
}

/** The crate a (legacy-mangled or v0-mangled) Rust symbol belongs to, else a label. */
export function crateOf(symbol) {
  let m = /^_ZN(\d+)/.exec(symbol);
  if (m) {
    let s = symbol.slice(3 + m[1].length, 3 + m[1].length + Number(m[1]));
    // Trait impls, `_$LT$Type$u20$as$u20$crate..Trait$GT$`: the type's crate when it has a
    // path, else (a generic `T`, a tuple) the trait's.
    const impl = /^_\$LT\$(.*?)\$u20\$as\$u20\$([a-z_][a-z0-9_]*)/.exec(s);
    if (impl) {
      const ty = /^(?:\$RF\$|\$BP\$|mut\$u20\$|const\$u20\$)*([a-z_][a-z0-9_]*)\.\./.exec(impl[1]);
      return ty ? ty[1] : impl[2];
    }
    const inherent = /^_\$LT\$(?:\$RF\$|\$u20\$|mut\$u20\$)*([a-z_][a-z0-9_]*)/.exec(s);
    if (inherent) s = inherent[1];
    return s.replace(/^_+/, "");
  }
  m = /^_R[a-zA-Z]*?C[sa-zA-Z0-9_]*?(\d+)([a-z_][a-z0-9_]*)/.exec(symbol);
  if (m) return m[2].slice(0, Number(m[1]));
  if (/^(__|dlmalloc|memcpy|memset|memmove|memcmp)/.test(symbol)) return "(runtime)";
  return symbol.includes("::") ? symbol.split("::")[0].replace(/^<+/, "") : "(other)";
}

/** Code bytes per crate, biggest first, and the total code size. */
export function composition(path) {
  const buf = readFileSync(path);
  let pos = 8;
  let importedFns = 0;
  const bodies = [];
  const names = new Map();
  let dataBytes = 0;
  while (pos < buf.length) {
    const id = buf[pos];
    let size;
    [size, pos] = leb(buf, pos + 1);
    const end = pos + size;
    if (id === 2) {
      let [count, p] = leb(buf, pos);
      for (let i = 0; i < count; i++) {
        [, p] = name(buf, p);
        [, p] = name(buf, p);
        const kind = buf[p++];
        if (kind === 0) { importedFns++; [, p] = leb(buf, p); }
        else if (kind === 1) { p += 1; const flags = buf[p++]; [, p] = leb(buf, p); if (flags & 1) [, p] = leb(buf, p); }
        else if (kind === 2) { const flags = buf[p++]; [, p] = leb(buf, p); if (flags & 1) [, p] = leb(buf, p); }
        else if (kind === 3) { p += 2; }
      }
    } else if (id === 10) {
      let [count, p] = leb(buf, pos);
      for (let i = 0; i < count; i++) {
        const [len, q] = leb(buf, p);
        bodies.push(len + (q - p));
        p = q + len;
      }
    } else if (id === 11) {
      dataBytes += size;
    } else if (id === 0) {
      const [section, p0] = name(buf, pos);
      if (section === "name") {
        let p = p0;
        while (p < end) {
          const sub = buf[p];
          const [len, q] = leb(buf, p + 1);
          if (sub === 1) {
            let [count, r] = leb(buf, q);
            for (let i = 0; i < count; i++) {
              let idx, n;
              [idx, r] = leb(buf, r);
              [n, r] = name(buf, r);
              names.set(idx, n);
            }
          }
          p = q + len;
        }
      }
    }
    pos = end;
  }
  const byCrate = new Map();
  let code = 0;
  bodies.forEach((size, i) => {
    const symbol = names.get(importedFns + i) ?? "(unnamed)";
    // Type descriptors that wasm-bindgen reads and then removes: not part of what is shipped.
    if (symbol.startsWith("__wbindgen_describe") || symbol.includes("wasm_bindgen..describe")) return;
    code += size;
    const crate = crateOf(symbol);
    byCrate.set(crate, (byCrate.get(crate) ?? 0) + size);
  });
  return { code, data: dataBytes, crates: [...byCrate.entries()].sort((a, b) => b[1] - a[1]) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { code, data, crates } = composition(process.argv[2]);
  console.log(`code ${(code / 1000).toFixed(1)} KB, data ${(data / 1000).toFixed(1)} KB`);
  for (const [c, s] of crates.slice(0, Number(process.argv[3] ?? 25))) {
    console.log(`${c.padEnd(28)} ${(s / 1000).toFixed(1).padStart(8)} KB ${((100 * s) / code).toFixed(1).padStart(5)} %`);
  }
}
