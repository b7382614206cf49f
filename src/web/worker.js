// Proof of work off the page's thread: tries salts 0, 1, 2, ... (8 bytes,
// little-endian, as daved does) until blake3(salt || load) has enough
// leading zero bits, reporting progress as it goes.
import { load, work, difficulty, timeBytes } from './proto.js';

self.onmessage = (e) => {
  const { key, val, time, bits } = e.data;
  const ld = load(key, val, timeBytes(time));
  const salt = new Uint8Array(8);
  const view = new DataView(salt.buffer);
  const t0 = performance.now();
  for (let n = 0; ; n++) {
    view.setBigUint64(0, BigInt(n), true);
    const w = work(salt, ld);
    if (difficulty(w) >= bits) {
      self.postMessage({ done: true, salt, work: w, attempts: n + 1, ms: performance.now() - t0 });
      return;
    }
    if (n % 4096 === 4095) {
      self.postMessage({ done: false, attempts: n + 1, ms: performance.now() - t0 });
    }
  }
};
