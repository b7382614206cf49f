// Checks src/web/proto.js against the independent protocol vectors:
//   node src/web/test-vectors.mjs tests/vectors/protocol.json
import { readFileSync } from 'node:fs';
import { hex, unhex, load, work, difficulty, timeBytes, verify, sign } from './proto.js';

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
console.log(`src/web/proto.js: ${n} passed, 0 failed`);
