// A file as a tree of dats, laid out exactly as `daved setf` lays it out
// (docs/files.md; crates/dave-files/src/layout.rs): 1231-byte chunks,
// pointers of up to 38 children, a root that records the length and the
// name; every dat named by the blake3 hash of its value, identical content
// once. Checked against the Rust layout by src/web/test-vectors.mjs
// (tests/vectors/layout.json).
import { blake3 } from './vendor.js';
import { hex } from './proto.js';

export const MAGIC = 0xdf;
export const VERSION = 1;
export const KIND_POINTER = 1;
export const KIND_ROOT = 2;
export const HEADER = 4;
export const ROOT_HEADER = HEADER + 8 + 2 + 1 + 1;
export const REF = 32;
export const CHUNK = 1231;
export const FANOUT = Math.floor((CHUNK - HEADER) / REF);
export const MAX_DEPTH = 6;
export const NAME_MAX = 255;

// Children a root with a name of this many bytes can list.
export function rootCapacity(nameLen) {
  return Math.floor((CHUNK - ROOT_HEADER - nameLen) / REF);
}

function pointer(level, children) {
  const v = new Uint8Array(HEADER + children.length * REF);
  v.set([MAGIC, VERSION, KIND_POINTER, level]);
  children.forEach((c, i) => v.set(c, HEADER + i * REF));
  return v;
}

function root(len, height, name, children) {
  const v = new Uint8Array(ROOT_HEADER + name.length + children.length * REF);
  v.set([MAGIC, VERSION, KIND_ROOT, height]);
  const d = new DataView(v.buffer);
  d.setBigUint64(4, BigInt(len), true);
  d.setUint16(12, CHUNK, true);
  v[14] = FANOUT;
  v[15] = name.length;
  v.set(name, ROOT_HEADER);
  children.forEach((c, i) => v.set(c, ROOT_HEADER + name.length + i * REF));
  return v;
}

// Cuts `data` (bytes) into its distinct pieces, chunks first, then the
// pointers level by level, the root last: [{ key, val, level }], and the
// root's key (its name). Throws when the name or the file is too large.
export function layout(data, name) {
  if (name.length > NAME_MAX) throw new Error(`the file name is ${name.length} bytes; at most ${NAME_MAX} fit`);
  const pieces = [];
  const seen = new Set();
  const add = (val, level) => {
    const key = blake3(val);
    const h = hex(key);
    if (!seen.has(h)) {
      seen.add(h);
      pieces.push({ key, val, level });
    }
    return key;
  };
  let keys = [];
  for (let o = 0; o < data.length; o += CHUNK) keys.push(add(data.subarray(o, Math.min(o + CHUNK, data.length)), 0));
  const cap = rootCapacity(name.length);
  let level = 0;
  while (keys.length > cap) {
    level++;
    if (level + 1 > MAX_DEPTH) throw new Error(`${data.length} bytes need a tree deeper than ${MAX_DEPTH} levels, which readers refuse`);
    const up = [];
    for (let i = 0; i < keys.length; i += FANOUT) up.push(add(pointer(level, keys.slice(i, i + FANOUT)), level));
    keys = up;
  }
  const rootVal = root(data.length, level + 1, name, keys);
  const rootKey = blake3(rootVal);
  // The root is always the last piece, as in the Rust layout.
  pieces.push({ key: rootKey, val: rootVal, level: level + 1 });
  return { pieces, rootKey, height: level + 1 };
}
