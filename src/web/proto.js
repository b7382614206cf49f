// The Dave protocol's hashing and signing rules, for the browser (and for
// node, which tests them against tests/vectors/protocol.json).
//   load = blake3(len(key) as u8 || key || val || time)
//   work = blake3(salt || load);  difficulty = leading zero bits of work
//   sig  = Ed25519 over work, checked strictly
import { blake3, ed25519 } from './vendor.js';

export const MIN_WORK = 8;

export function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function unhex(s) {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error('not hex: ' + s.slice(0, 20));
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

export function utf8(s) {
  return new TextEncoder().encode(s);
}

export function timeBytes(ms) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(ms), true);
  return b;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function load(key, val, time) {
  if (key.length > 32) throw new Error('a key is at most 32 bytes');
  return blake3(concat(Uint8Array.of(key.length), key, val, time));
}

export function work(salt, ld) {
  return blake3(concat(salt, ld));
}

export function difficulty(w) {
  let n = 0;
  for (const b of w) {
    if (b === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

// Checks a dat exactly as a node does (apart from its clock): work, difficulty, strict signature.
export function verify(d) {
  const key = unhex(d.key), val = unhex(d.val), salt = unhex(d.salt);
  const w = work(salt, load(key, val, timeBytes(d.time)));
  if (hex(w) !== d.work.toLowerCase()) return 'work does not match its fields';
  if (difficulty(w) < MIN_WORK) return 'too little work';
  if (!ed25519.verify(unhex(d.sig), w, unhex(d.pubkey), { zip215: false })) return 'bad signature';
  return null;
}

export function sign(secret, w) {
  return ed25519.sign(w, secret);
}

export function publicKey(secret) {
  return ed25519.getPublicKey(secret);
}

export function newSecret() {
  return ed25519.utils.randomSecretKey();
}

export function nameOf(val) {
  return blake3(val);
}

// The proof-of-work search, fast: the input of an attempt (an 8-byte
// counter and the 32-byte load) is one BLAKE3 block, so an attempt is one
// compression, unrolled here on 32-bit words, of which only the first
// output words are needed. searcher(load)(start, count, bits) returns the
// smallest counter in start .. start+count-1 whose work has at least
// `bits` leading zero bits, or -1. The caller hashes a hit again with
// work() before it counts (test-vectors.mjs checks the two agree).
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
const S = (() => {
  const s = new Uint8Array(7 * 16);
  let idx = Array.from({ length: 16 }, (_, i) => i);
  for (let r = 0; r < 7; r++) {
    s.set(idx, r * 16);
    idx = idx.map((_, i) => idx[PERM[i]]);
  }
  return s;
})();
// CHUNK_START | CHUNK_END | ROOT: the one block of a one-chunk input.
const FLAGS = 1 | 2 | 8;

// Leading zero bits of a little-endian word read byte by byte, the first byte's top bit first.
function lzBytes(w) {
  return Math.clz32(((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24));
}

export function searcher(ld) {
  const m = new Int32Array(16);
  const dv = new DataView(ld.buffer, ld.byteOffset, 32);
  for (let i = 0; i < 8; i++) m[2 + i] = dv.getInt32(4 * i, true);
  return function search(start, count, bits) {
    for (let n = start, end = start + count; n < end; n++) {
      m[0] = n | 0;
      m[1] = Math.floor(n / 4294967296) | 0;
      let v0 = IV[0] | 0, v1 = IV[1] | 0, v2 = IV[2] | 0, v3 = IV[3] | 0, v4 = IV[4] | 0, v5 = IV[5] | 0, v6 = IV[6] | 0, v7 = IV[7] | 0;
      let v8 = IV[0] | 0, v9 = IV[1] | 0, v10 = IV[2] | 0, v11 = IV[3] | 0, v12 = 0, v13 = 0, v14 = 40, v15 = FLAGS;
      for (let s = 0; s < 112; s += 16) {
        v0 = (v0 + v4 + m[S[s + 0]]) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16); v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
        v0 = (v0 + v4 + m[S[s + 1]]) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24); v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
        v1 = (v1 + v5 + m[S[s + 2]]) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16); v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
        v1 = (v1 + v5 + m[S[s + 3]]) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24); v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
        v2 = (v2 + v6 + m[S[s + 4]]) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16); v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
        v2 = (v2 + v6 + m[S[s + 5]]) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24); v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
        v3 = (v3 + v7 + m[S[s + 6]]) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16); v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
        v3 = (v3 + v7 + m[S[s + 7]]) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24); v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
        v0 = (v0 + v5 + m[S[s + 8]]) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16); v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
        v0 = (v0 + v5 + m[S[s + 9]]) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24); v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
        v1 = (v1 + v6 + m[S[s + 10]]) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16); v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
        v1 = (v1 + v6 + m[S[s + 11]]) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24); v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
        v2 = (v2 + v7 + m[S[s + 12]]) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16); v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
        v2 = (v2 + v7 + m[S[s + 13]]) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24); v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
        v3 = (v3 + v4 + m[S[s + 14]]) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16); v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
        v3 = (v3 + v4 + m[S[s + 15]]) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24); v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
      }
      const z = lzBytes(v0 ^ v8);
      if (z >= bits || (z === 32 && 32 + lzBytes(v1 ^ v9) >= bits)) return n;
    }
    return -1;
  };
}
