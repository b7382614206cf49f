// dave's web page: status, a key kept in the browser, values and files
// written with proof of work in Web Workers, and reads verified in the
// browser.
import { hex, unhex, utf8, publicKey, newSecret, nameOf, sign, verify } from './proto.js';
import { layout } from './files.js';

const $ = (id) => document.getElementById(id);
$('gw').value = location.origin;
$('rgw').value = location.origin;
const gw = () => $('gw').value.trim().replace(/\/+$/, '');
const readGw = () => ($('rgw').value.trim() || gw()).replace(/\/+$/, '');

// A result box appears with its first result.
function show(el, text, kind = '') {
  el.textContent = text;
  el.className = 'out' + (kind ? ' ' + kind : '');
  el.hidden = false;
}

// fetch, with a plain message when the gateway cannot be reached at all.
async function call(base, path, opts) {
  try {
    return await fetch(base + path, opts);
  } catch (e) {
    throw new Error(`cannot reach a gateway at ${base}: is a dave node running there with --http, and is the address right?`);
  }
}

// The JSON of an answer, or a plain message when it is not a gateway's.
async function json(r, base) {
  try {
    return await r.json();
  } catch (e) {
    throw new Error(`the answer from ${base} (${r.status}) is not a dave gateway's`);
  }
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// ---- key ----
function secret() {
  let s = localStorage.getItem('dave-secret');
  if (!s) {
    s = hex(newSecret());
    localStorage.setItem('dave-secret', s);
  }
  return unhex(s);
}
function showKey() {
  $('pubkey').textContent = 'public key ' + hex(publicKey(secret()));
  $('rpub').value ||= hex(publicKey(secret()));
}
$('newkey').onclick = () => {
  if (!confirm('Replace your key? Names written with the old key can no longer be updated.')) return;
  localStorage.removeItem('dave-secret');
  $('rpub').value = '';
  showKey();
};
showKey();

// ---- status ----
const DROPS = {
  filter: 'by the packet filter',
  from_self: 'from this node',
  oversize: 'too large',
  work_mismatch: 'work not matching',
  low_work: 'too little work',
  future: 'dated in the future',
  bad_sig: 'bad signature',
  stale: 'older than a value held',
  unsolicited_peer: 'peer lists not asked for',
  get_miss: 'asked for what is not held',
  verify_budget: 'too many to check',
  unvalidated: 'from an unproved address',
};
function duration(s) {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}
function kb(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1000)} kB`;
}
async function status() {
  const base = gw();
  try {
    const r = await call(base, '/v1/status');
    // Rate limited while a file is being written: keep the last status.
    if (r.status === 429) return;
    const s = await json(r, base);
    if (r.status !== 200 || s.peers === undefined) throw new Error(`the gateway at ${base} answered ${r.status}`);
    const drops = Object.entries(s.drops).filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${DROPS[k] || k.replace(/_/g, ' ')}`).join(', ') || 'none';
    show($('status'),
      `peers ${s.peers} (${s.live_peers} heard from lately), clients ${s.clients}, values held ${s.dats} of ${s.dat_cap}, up ${duration(s.uptime_s)}\n` +
      `packets a second: ${Math.round(s.rates.packets_in)} in, ${Math.round(s.rates.packets_out)} out; ` +
      `data a second: ${kb(s.rates.bytes_in)} in, ${kb(s.rates.bytes_out)} out\n` +
      `packets dropped: ${drops}`);
  } catch (e) {
    show($('status'), e.message, 'err');
  }
}
status();
setInterval(status, 2000);

// ---- proof of work in Web Workers ----
// A pool of workers, one per core: make(pieces) works each piece
// ({ key, val }) into { salt, work, attempts } and calls done(index,
// result) as each is made; cancel() stops them all.
function pool(n, bits, time, onProgress) {
  const workers = Array.from({ length: n }, () => new Worker('/worker.js', { type: 'module' }));
  let stopped = false;
  const busy = new Map();
  return {
    size: n,
    make(pieces, done, fail) {
      let next = 0;
      const feed = (w) => {
        if (stopped || next >= pieces.length) return;
        const i = next++;
        busy.set(w, i);
        w.postMessage({ id: i, key: pieces[i].key, val: pieces[i].val, time, bits });
      };
      for (const w of workers) {
        w.onmessage = (e) => {
          const m = e.data;
          if (stopped) return;
          if (m.error) return fail(new Error(m.error));
          if (!m.done) return onProgress(m.attempts);
          busy.delete(w);
          done(m.id, m);
          feed(w);
        };
        w.onerror = (e) => fail(new Error('a proof-of-work worker failed: ' + e.message));
        feed(w);
      }
    },
    cancel() {
      stopped = true;
      for (const w of workers) w.terminate();
    },
  };
}

// A signed PUT as the JSON POST /v1/dat takes.
function putJson(key, val, time, m, sk = secret(), pub = hex(publicKey(sk))) {
  return { key: hex(key), val: hex(val), time, salt: hex(m.salt), work: hex(m.work), pubkey: pub, sig: hex(sign(sk, m.work)) };
}

// POST /v1/dat, waiting and trying again when the gateway asks to slow
// down (429) or is busy (503); any other refusal is an error naming the check.
async function postDat(base, body, gone, waited = () => {}) {
  for (let tries = 0; ; tries++) {
    if (gone()) throw new Error('cancelled');
    const r = await call(base, '/v1/dat', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const j = await json(r, base);
    if (r.status === 202) return j;
    if ((r.status === 429 || r.status === 503) && tries < 60) {
      waited();
      await sleep(1000 * Number(r.headers.get('Retry-After') || 1));
      continue;
    }
    throw new Error(`refused (${r.status}): ${j.error}: ${j.message}`);
  }
}

// ---- write a value ----
let valuePool = null;
function stopValue() {
  if (valuePool) valuePool.cancel();
  valuePool = null;
  $('write').disabled = false;
  $('cancel').disabled = true;
  $('progress').hidden = true;
}
$('cancel').onclick = () => {
  stopValue();
  show($('wout'), 'cancelled');
};
$('write').onclick = () => {
  const val = utf8($('val').value);
  const name = $('name').value;
  const key = name ? utf8(name) : nameOf(val);
  const bits = Number($('bits').value);
  const out = $('wout');
  if (key.length > 32) return show(out, 'a name is at most 32 bytes', 'err');
  if (!(bits >= 8 && bits <= 32)) return show(out, 'proof of work: between 8 and 32 bits', 'err');
  const time = Date.now();
  const expect = 2 ** bits;
  const t0 = performance.now();
  $('write').disabled = true;
  $('cancel').disabled = false;
  $('progress').hidden = false;
  $('progress').value = 0;
  show(out, 'proof of work …');
  valuePool = pool(1, bits, time, (attempts) => {
    $('progress').value = Math.min(99, (100 * attempts) / expect);
    const ms = performance.now() - t0;
    show(out, `proof of work: ${attempts} attempts, ${Math.round(attempts / ms)}k a second, ${(ms / 1000).toFixed(1)} s`);
  });
  const fail = (err) => {
    stopValue();
    show(out, 'could not write: ' + err.message, 'err');
  };
  valuePool.make([{ key, val }], async (_, m) => {
    stopValue();
    const body = putJson(key, val, time, m);
    const base = gw();
    try {
      const j = await postDat(base, body, () => false);
      show(out, `accepted and sent to ${j.sent_to} ${j.sent_to === 1 ? 'peer' : 'peers'} (${m.attempts} attempts in ${(m.ms / 1000).toFixed(2)} s)\n` +
        `work   ${j.work}\npubkey ${body.pubkey}\nname   ${name || 'hex:' + hex(key)}`, 'ok');
      $('rwork').value = j.work;
      $('rname').value = name || 'hex:' + hex(key);
    } catch (err) {
      fail(err);
    }
  }, fail);
};

// ---- write a file ----
// Laid out exactly as `daved setf` lays it out (files.js), every dat
// stamped with the same time, worked on every core, each POSTed to
// /v1/dat as soon as it is made.
const FILE_MAX = 16 << 20;
const IN_FLIGHT = 4;
let fileJob = null;
function stopFile() {
  if (fileJob) fileJob.cancel();
  fileJob = null;
  $('fwrite').disabled = false;
  $('fcancel').disabled = true;
}
$('fcancel').onclick = () => {
  stopFile();
  $('fprogress').hidden = true;
  show($('fwout'), 'cancelled', 'err');
};
$('fwrite').onclick = async () => {
  const out = $('fwout');
  const file = $('wfile').files[0];
  const bits = Number($('fbits').value);
  if (!file) return show(out, 'choose a file first', 'err');
  if (file.size > FILE_MAX) return show(out, `the page writes files up to ${FILE_MAX >> 20} MiB; write larger ones with daved setf`, 'err');
  if (!(bits >= 8 && bits <= 32)) return show(out, 'proof of work: between 8 and 32 bits', 'err');
  const name = utf8(file.name);
  let lay;
  try {
    lay = layout(new Uint8Array(await file.arrayBuffer()), name);
  } catch (e) {
    return show(out, 'cannot write this file: ' + e.message, 'err');
  }
  const total = lay.pieces.length;
  const sk = secret();
  const pub = hex(publicKey(sk));
  const base = gw();
  const time = Date.now();
  const cores = Math.max(1, navigator.hardwareConcurrency || 2);
  const t0 = performance.now();
  let made = 0, sent = 0, attempts = 0, sending = 0, failed = null, rootWork = null, powSecs = 0, retries = 0;
  const queue = [];
  const bar = $('fprogress');
  bar.hidden = false;
  bar.value = 0;
  $('fwrite').disabled = true;
  $('fcancel').disabled = false;
  const p = pool(Math.min(cores, total), bits, time, () => {});
  const job = { cancelled: false, cancel() { this.cancelled = true; p.cancel(); } };
  fileJob = job;
  const gone = () => job.cancelled || failed !== null;
  const report = () => {
    bar.value = (100 * (made + sent)) / (2 * total);
    const secs = (performance.now() - t0) / 1000;
    show(out, `${file.name}: ${file.size} bytes in ${total} dats; proof of work ${made} of ${total} (${bits} bits, ${p.size} workers), sent ${sent} of ${total}, ${secs.toFixed(1)} s`);
  };
  const finish = (err) => {
    if (job.cancelled) return;
    stopFile();
    if (err) {
      bar.hidden = true;
      return show(out, `could not write ${file.name}: ${err.message} (sent ${sent} of ${total} dats)`, 'err');
    }
    bar.value = 100;
    const secs = (performance.now() - t0) / 1000;
    show(out, `written: ${file.size} bytes in ${total} dats, ${secs.toFixed(2)} s: proof of work ${powSecs.toFixed(2)} s ` +
      `(${attempts} attempts, ${p.size} workers), ${retries} asked to wait by the gateway\n` +
      `root   ${rootWork}\npubkey ${pub}\nname   hex:${hex(lay.rootKey)}\n` +
      `read it with: daved getf ${rootWork}`, 'ok');
    $('froot').value = rootWork;
    $('fpub').value = pub;
    $('fname').value = 'hex:' + hex(lay.rootKey);
  };
  const pump = () => {
    while (!gone() && sending < IN_FLIGHT && queue.length) {
      const body = queue.shift();
      sending++;
      postDat(base, body, gone, () => retries++).then(() => {
        sending--;
        sent++;
        report();
        if (sent === total) finish(null);
        else pump();
      }, (err) => {
        sending--;
        if (failed === null && !job.cancelled) {
          failed = err;
          p.cancel();
          finish(err);
        }
      });
    }
  };
  report();
  p.make(lay.pieces, (i, m) => {
    made++;
    attempts += m.attempts;
    if (made === total) powSecs = (performance.now() - t0) / 1000;
    const piece = lay.pieces[i];
    if (i === total - 1) rootWork = hex(m.work);
    queue.push(putJson(piece.key, piece.val, time, m, sk, pub));
    report();
    pump();
  }, (err) => {
    if (failed === null) {
      failed = err;
      p.cancel();
      finish(err);
    }
  });
};

// ---- read ----
async function read(path) {
  const base = readGw();
  const out = $('rout');
  show(out, 'asking ' + base + ' …');
  try {
    const r = await call(base, path);
    const d = await json(r, base);
    if (r.status !== 200) return show(out, `${r.status}: ${d.message || d.error}`, 'err');
    const bad = verify(d);
    show(out, (bad ? 'NOT VERIFIED: ' + bad : 'verified in your browser: work and signature check out') +
      `\n\nvalue  ${d.val_utf8 !== undefined ? d.val_utf8 : 'hex:' + d.val}\nwork   ${d.work} (${d.difficulty} bits)` +
      `\npubkey ${d.pubkey}\nname   ${d.key_utf8 !== undefined ? d.key_utf8 : 'hex:' + d.key}\ntime   ${new Date(d.time).toISOString()}`,
      bad ? 'err' : 'ok');
  } catch (err) {
    show(out, 'could not read: ' + err.message, 'err');
  }
}
$('readwork').onclick = () => read('/v1/dat/' + $('rwork').value.trim());
$('readname').onclick = () => {
  const n = $('rname').value;
  const k = n.startsWith('hex:') ? n : encodeURIComponent(n);
  read('/v1/name/' + $('rpub').value.trim() + '/' + k);
};

// ---- read a file ----
let fileUrl = null;
async function readFile(path) {
  const base = readGw();
  const out = $('fout');
  const dl = $('fdl');
  dl.hidden = true;
  if (fileUrl) URL.revokeObjectURL(fileUrl);
  fileUrl = null;
  show(out, 'reading through ' + base + ' …');
  try {
    const r = await call(base, path);
    if (r.status !== 200) {
      const d = await json(r, base);
      return show(out, `${r.status}: ${d.message || d.error}`, 'err');
    }
    const blob = await r.blob();
    const disp = r.headers.get('Content-Disposition') || '';
    const m = /filename="([^"]*)"/.exec(disp);
    const name = m ? m[1] : 'file';
    fileUrl = URL.createObjectURL(blob);
    dl.href = fileUrl;
    dl.download = name;
    dl.textContent = 'Save ' + name;
    dl.hidden = false;
    show(out, `verified by the gateway against its tree: ${blob.size} bytes in ${r.headers.get('X-Dave-Dats')} dats` +
      `\nname   ${name}\nroot   ${r.headers.get('X-Dave-Root')}`, 'ok');
  } catch (err) {
    show(out, 'could not read: ' + err.message, 'err');
  }
}
$('readfile').onclick = () => readFile('/v1/file/' + $('froot').value.trim());
$('readfilename').onclick = () => readFile('/v1/file/' + $('fpub').value.trim() + '/' + $('fname').value.trim());
