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
