// Checks src/web/proto.js against the independent protocol vectors, and
// src/web/files.js against the layout of `daved setf` (the vectors that
// tests/files.rs checks the Rust layout against):
//   node src/web/test-vectors.mjs tests/vectors/protocol.json [tests/vectors/layout.json]
import { readFileSync } from 'node:fs';
import { hex, unhex, utf8, concat, load, work, difficulty, timeBytes, verify, sign, searcher } from './proto.js';
import { layout, CHUNK } from './files.js';
import { blake3 } from './vendor.js';

const v = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const secret = unhex(v.ed25519_secret_seed);
let n = 0;
for (const p of v.puts) {
  const ld = load(unhex(p.key), unhex(p.val), timeBytes(p.time_ms));
  const fail = (what) => { console.error(`vector ${n}: ${what}`); process.exit(1); };
  if (hex(timeBytes(p.time_ms)) !== p.time) fail('time bytes');
  if (hex(ld) !== p.load) fail('load');
  const w = work(unhex(p.salt), ld);
  if (hex(w) !== p.work) fail('work');
  if (difficulty(w) !== p.difficulty) fail('difficulty');
  if (hex(sign(secret, w)) !== p.sig) fail('signature');
  const d = { key: p.key, val: p.val, time: p.time_ms, salt: p.salt, work: p.work, pubkey: v.ed25519_public_key, sig: p.sig };
  const r = verify(d);
  if (p.difficulty >= 8 ? r !== null : r !== 'too little work') fail('verify: ' + r);
  const forged = { ...d, sig: p.sig.slice(0, -2) + (p.sig.endsWith('00') ? '01' : '00') };
  if (verify(forged) === null) fail('a forged signature verified');
  n++;
}
// The fast search finds exactly the counter that hashing every salt with
// work() finds first, below and above 2^32.
let searches = 0;
for (const [i, start, bits] of [[0, 0, 8], [1, 0, 12], [2, 0, 14], [3, 2 ** 32 - 3, 10], [4, 2 ** 40 + 7, 11]]) {
  const ld = load(utf8('k' + i), utf8('a value ' + i), timeBytes(1_763_700_000_000 + i));
  const salt = new Uint8Array(8);
  const view = new DataView(salt.buffer);
  let slow = start;
  for (; ; slow++) {
    view.setBigUint64(0, BigInt(slow), true);
    if (difficulty(work(salt, ld)) >= bits) break;
  }
  const fast = searcher(ld)(start, 1 << 24, bits);
  if (fast !== slow) {
    console.error(`search ${i}: the fast search found ${fast}, hashing every salt ${slow}`);
    process.exit(1);
  }
  searches++;
}
n += searches;
console.log(`src/web/proto.js: ${n} passed, 0 failed`);

if (process.argv[3]) {
  // The same generators as tests/files.rs.
  const gen = (kind, n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = kind === 'pattern' ? (i * 31 + Math.floor(i / 2048)) % 251 : Math.floor(i / CHUNK) % 3;
    return b;
  };
  const cases = JSON.parse(readFileSync(process.argv[3], 'utf8')).cases;
  let m = 0;
  for (const c of cases) {
    const l = layout(gen(c.gen, c.len), utf8(c.name));
    const got = { dats: l.pieces.length, height: l.height, root_key: hex(l.rootKey), keys_hash: hex(blake3(concat(...l.pieces.map((p) => p.key)))) };
    for (const k of Object.keys(got)) {
      if (got[k] !== c[k]) {
        console.error(`layout ${c.gen} ${c.len} bytes named ${JSON.stringify(c.name.slice(0, 20))}: ${k} is ${got[k]}, not ${c[k]}`);
        process.exit(1);
      }
    }
    m++;
  }
  console.log(`src/web/files.js: ${m} layouts match daved setf's, 0 failed`);
}
