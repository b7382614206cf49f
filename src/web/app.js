// dave's web page: status, a key kept in the browser, writes with proof of
// work in a Web Worker, and reads verified in the browser.
import { hex, unhex, utf8, timeBytes, load, work, verify, sign, publicKey, newSecret, nameOf } from './proto.js';

const $ = (id) => document.getElementById(id);
$('gw').value = location.origin;
const gw = () => $('gw').value.replace(/\/+$/, '');

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
async function status() {
  try {
    const r = await fetch(gw() + '/v1/status');
    const s = await r.json();
    const drops = Object.entries(s.drops).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(' ') || 'none';
    $('status').textContent =
      `peers ${s.peers} (${s.live_peers} live)   clients ${s.clients}   dats ${s.dats} of ${s.dat_cap}   up ${Math.round(s.uptime_s)} s\n` +
      `in ${Math.round(s.rates.packets_in)} pkt/s ${Math.round(s.rates.bytes_in / 1000)} kB/s   ` +
      `out ${Math.round(s.rates.packets_out)} pkt/s ${Math.round(s.rates.bytes_out / 1000)} kB/s   drops ${drops}`;
    $('status').className = 'out';
  } catch (e) {
    $('status').textContent = 'cannot reach ' + gw() + ': ' + e.message;
    $('status').className = 'out err';
  }
}
status();
setInterval(status, 2000);

// ---- write ----
let worker = null;
function stop() {
  if (worker) worker.terminate();
  worker = null;
  $('write').disabled = false;
  $('cancel').disabled = true;
  $('progress').hidden = true;
}
$('cancel').onclick = () => {
  stop();
  $('wout').textContent = 'cancelled';
};
$('write').onclick = () => {
  const val = utf8($('val').value);
  const name = $('name').value;
  const key = name ? utf8(name) : nameOf(val);
  const bits = Number($('bits').value);
  const out = $('wout');
  if (key.length > 32) return (out.textContent = 'a name is at most 32 bytes');
  if (!(bits >= 8 && bits <= 32)) return (out.textContent = 'proof of work: between 8 and 32 bits');
  const time = Date.now();
  worker = new Worker('/worker.js', { type: 'module' });
  $('write').disabled = true;
  $('cancel').disabled = false;
  $('progress').hidden = false;
  out.className = 'out';
  const expect = 2 ** bits;
  worker.onmessage = async (e) => {
    const m = e.data;
    if (!m.done) {
      $('progress').value = Math.min(99, (100 * m.attempts) / expect);
      out.textContent = `proof of work: ${m.attempts} attempts, ${Math.round(m.attempts / m.ms)}k/s, ${(m.ms / 1000).toFixed(1)} s`;
      return;
    }
    stop();
    const sig = sign(secret(), m.work);
    const body = {
      key: hex(key), val: hex(val), time, salt: hex(m.salt), work: hex(m.work),
      pubkey: hex(publicKey(secret())), sig: hex(sig),
    };
    try {
      const r = await fetch(gw() + '/v1/dat', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const j = await r.json();
      if (r.status === 202) {
        out.className = 'out ok';
        out.textContent = `accepted and sent to ${j.sent_to} peers (${m.attempts} attempts in ${(m.ms / 1000).toFixed(2)} s)\n` +
          `work   ${j.work}\npubkey ${body.pubkey}\nname   ${name || 'hex:' + hex(key)}`;
        $('rwork').value = j.work;
        $('rname').value = name || 'hex:' + hex(key);
      } else {
        out.className = 'out err';
        out.textContent = `refused (${r.status}): ${j.error}: ${j.message}`;
      }
    } catch (err) {
      out.className = 'out err';
      out.textContent = 'could not send: ' + err.message;
    }
  };
  worker.postMessage({ key, val, time, bits });
};

// ---- read ----
async function read(path) {
  const base = ($('rgw').value || gw()).replace(/\/+$/, '');
  const out = $('rout');
  out.className = 'out';
  out.textContent = 'asking ' + base + ' …';
  try {
    const r = await fetch(base + path);
    const d = await r.json();
    if (r.status !== 200) {
      out.className = 'out err';
      out.textContent = `${r.status}: ${d.message || d.error}`;
      return;
    }
    const bad = verify(d);
    out.className = bad ? 'out err' : 'out ok';
    out.textContent = (bad ? 'NOT VERIFIED: ' + bad : 'verified in your browser: work and signature check out') +
      `\n\nvalue  ${d.val_utf8 !== undefined ? d.val_utf8 : 'hex:' + d.val}\nwork   ${d.work} (${d.difficulty} bits)` +
      `\npubkey ${d.pubkey}\nname   ${d.key_utf8 !== undefined ? d.key_utf8 : 'hex:' + d.key}\ntime   ${new Date(d.time).toISOString()}`;
  } catch (err) {
    out.className = 'out err';
    out.textContent = 'could not read: ' + err.message;
  }
}
$('readwork').onclick = () => read('/v1/dat/' + $('rwork').value.trim());

// ---- files ----
let fileUrl = null;
async function readFile(path) {
  const base = ($('rgw').value || gw()).replace(/\/+$/, '');
  const out = $('fout');
  const dl = $('fdl');
  dl.hidden = true;
  if (fileUrl) URL.revokeObjectURL(fileUrl);
  fileUrl = null;
  out.className = 'out';
  out.textContent = 'reading through ' + base + ' …';
  try {
    const r = await fetch(base + path);
    if (r.status !== 200) {
      const d = await r.json();
      out.className = 'out err';
      out.textContent = `${r.status}: ${d.message || d.error}`;
      return;
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
    out.className = 'out ok';
    out.textContent = `verified by the gateway against its tree: ${blob.size} bytes in ${r.headers.get('X-Dave-Dats')} dats` +
      `\nname   ${name}\nroot   ${r.headers.get('X-Dave-Root')}`;
  } catch (err) {
    out.className = 'out err';
    out.textContent = 'could not read: ' + err.message;
  }
}
$('readfile').onclick = () => readFile('/v1/file/' + $('froot').value.trim());
$('readfilename').onclick = () => readFile('/v1/file/' + $('fpub').value.trim() + '/' + $('fname').value.trim());
$('readname').onclick = () => {
  const n = $('rname').value;
  const k = n.startsWith('hex:') ? n : encodeURIComponent(n);
  read('/v1/name/' + $('rpub').value.trim() + '/' + k);
};
