// Proof of work off the page's thread. Each message is one dat to make:
// { id, key, val, time, bits }. The worker tries salts 0, 1, 2, ... (8
// bytes, little-endian, as daved does) until blake3(salt || load) has
// enough leading zero bits, reporting progress as it goes, then answers
// { id, done: true, salt, work, attempts, ms }. Messages queue: a worker
// makes one dat at a time, and a page runs one worker per core.
import { load, work, difficulty, timeBytes, searcher } from './proto.js';

const STEP = 1 << 16;

self.onmessage = (e) => {
  const { id, key, val, time, bits } = e.data;
  const ld = load(key, val, timeBytes(time));
  const search = searcher(ld);
  const t0 = performance.now();
  for (let start = 0; ; start += STEP) {
    const n = search(start, STEP, bits);
    if (n >= 0) {
      const salt = new Uint8Array(8);
      new DataView(salt.buffer).setBigUint64(0, BigInt(n), true);
      // The fast search's hit, checked with the reference hash.
      const w = work(salt, ld);
      if (difficulty(w) >= bits) {
        self.postMessage({ id, done: true, salt, work: w, attempts: n + 1, ms: performance.now() - t0 });
        return;
      }
      self.postMessage({ id, error: 'the fast search and blake3 disagree at salt ' + n });
      return;
    }
    self.postMessage({ id, done: false, attempts: start + STEP, ms: performance.now() - t0 });
  }
};
