// dave's web page, end to end, in headless Chromium: two nodes on loopback,
// each with its HTTP gateway. The page (served by node A) writes a value
// with proof of work in its Web Worker, then reads it back by hash and by
// name through node B's gateway and verifies it in the browser. A value
// written by the Rust CLI is read and verified in the browser, and the
// browser's value is read back by the Rust CLI (which verifies it too). A
// file written by `daved setf` is read whole through node B's gateway and
// saved from the page. A file of random bytes written from the page (its
// pieces laid out, worked in Web Workers, signed and POSTed by the page) is
// read back byte for byte by `daved getf`.
//
//   DAVED=target/debug/daved node tests/e2e/browser.mjs
//
// With DAVE_E2E_MEASURE=1 it also writes a 1 MB file from the page and
// prints how long that took (a measurement, not a check).
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DAVED = process.env.DAVED || 'target/debug/daved';
const SHOT = process.env.SCREENSHOT || 'target/e2e/dave-page.png';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const freeTcp = () => new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const freeUdp = () => new Promise((res) => { const s = createSocket('udp4'); s.bind(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let passed = 0;
const kids = [];
let browser;
const home = mkdtempSync(join(tmpdir(), 'dave-e2e-'));
function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  passed++;
  console.log('ok - ' + what);
}
function daved(args) {
  return execFileSync(DAVED, args, { env: { ...process.env, XDG_CONFIG_HOME: home }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// Writes `n` random bytes to `path`, has the page write it at `bits`, and
// returns what the page printed: root, pubkey, name, and the seconds from
// the click to the last dat accepted.
async function writeFile(page, path, n, bits) {
  const data = randomBytes(n);
  writeFileSync(path, data);
  await page.setInputFiles('#wfile', path);
  await page.fill('#fbits', bits);
  await page.evaluate(() => { document.getElementById('fwout').textContent = ''; });
  const t0 = Date.now();
  await page.click('#fwrite');
  await page.waitForFunction(() => /written:|could not|cancelled/.test(document.getElementById('fwout').textContent), null, { timeout: 600000 });
  const secs = (Date.now() - t0) / 1000;
  const text = await page.textContent('#fwout');
  const field = (k) => (new RegExp(k + '\\s+(\\S+)').exec(text) || [])[1];
  if (!text.includes('written:')) throw new Error('FAILED: the page did not write the file: ' + text);
  return { data, text, secs, root: field('root'), pub: field('pubkey'), name: field('name') };
}

try {
  const [ua, ub, ha, hb] = [await freeUdp(), await freeUdp(), await freeTcp(), await freeTcp()];
  for (const args of [
    ['-l', `127.0.0.1:${ua}`, '--http', `127.0.0.1:${ha}`, '--status', '0'],
    ['-l', `127.0.0.1:${ub}`, '-e', `127.0.0.1:${ua}`, '--http', `127.0.0.1:${hb}`, '--status', '0'],
  ]) {
    // The nodes' log lines (standard output) go to our standard error.
    const k = spawn(DAVED, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    k.stdout.pipe(process.stderr);
    kids.push(k);
  }
  await sleep(500);
  daved(['keygen']);
  const rustPub = daved(['pubkey']).trim();
  daved(['-e', `127.0.0.1:${ua}`, 'set', '--key', 'from-rust', '-d', '10', 'written by daved']);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1000, height: 1300 }, acceptDownloads: true });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${ha}/`);
  await page.waitForFunction(() => document.getElementById('status').textContent.includes('peers'), null, { timeout: 10000 });
  check(true, 'the page loads and shows the node status');
  const pub = (await page.textContent('#pubkey')).replace('public key ', '').trim();
  check(/^[0-9a-f]{64}$/.test(pub), 'the page made a key in the browser');
  const shown = await page.evaluate(() => [...document.querySelectorAll('.out')].filter((e) => e.offsetParent !== null).map((e) => e.id + (e.textContent.trim() ? '' : ' (empty)')));
  check(shown.join(' ') === 'status pubkey', 'no empty result boxes before a result: only the status and the key show (' + shown.join(', ') + ')');
  check(await page.inputValue('#rgw') === `http://127.0.0.1:${ha}`, "the read-through box is the page's own gateway");
  const st = await page.textContent('#status');
  check(st.includes('packets a second') && st.includes('dropped') && !/pkt\/s|filter=/.test(st), 'the status speaks plain words: ' + st.split('\n')[1]);

  await page.fill('#val', 'hello from the browser');
  await page.fill('#name', 'browser-test');
  await page.fill('#bits', '12');
  await page.click('#write');
  await page.waitForFunction(() => /accepted|refused|could not/.test(document.getElementById('wout').textContent), null, { timeout: 60000 });
  const wout = await page.textContent('#wout');
  check(wout.includes('accepted'), 'the write was accepted by the gateway: ' + wout.split('\n')[0]);
  const work = /work\s+([0-9a-f]{64})/.exec(wout)[1];

  // A gateway that is not there: a plain message, not the browser's own.
  let rout;
  await page.fill('#rgw', `http://127.0.0.1:${await freeTcp()}`);
  await page.click('#readwork');
  await page.waitForFunction(() => /could not/.test(document.getElementById('rout').textContent), null, { timeout: 15000 });
  rout = await page.textContent('#rout');
  check(rout.includes('cannot reach a gateway at') && !rout.includes('Failed to fetch'), 'an unreachable gateway is named plainly: ' + rout);

  await page.fill('#rgw', `http://127.0.0.1:${hb}`);
  await page.click('#readwork');
  await page.waitForFunction(() => /^(verified|NOT|could not|\d{3}:)/.test(document.getElementById('rout').textContent), null, { timeout: 15000 });
  rout = await page.textContent('#rout');
  check(rout.includes('verified in your browser') && rout.includes('hello from the browser'), 'read back by hash through the other node, verified in the browser');

  await page.evaluate(() => { document.getElementById('rout').textContent = ''; });
  await page.click('#readname');
  await page.waitForFunction(() => /^(verified|NOT|could not|\d{3}:)/.test(document.getElementById('rout').textContent), null, { timeout: 15000 });
  rout = await page.textContent('#rout');
  check(rout.includes('verified in your browser') && rout.includes('browser-test'), 'read back by name through the other node, verified in the browser');

  await page.fill('#rpub', rustPub);
  await page.fill('#rname', 'from-rust');
  await page.evaluate(() => { document.getElementById('rout').textContent = ''; });
  await page.click('#readname');
  await page.waitForFunction(() => /^(verified|NOT|could not|\d{3}:)/.test(document.getElementById('rout').textContent), null, { timeout: 15000 });
  rout = await page.textContent('#rout');
  check(rout.includes('verified in your browser') && rout.includes('written by daved'), 'a value written by the Rust CLI verifies in the browser');

  // A file written by the Rust CLI, read whole through the other node's
  // gateway from the page.
  const fpath = join(home, 'notes.txt');
  const ftext = 'a line of a file written by daved setf\n'.repeat(3000);
  writeFileSync(fpath, ftext);
  const setf = daved(['-e', `127.0.0.1:${ua}`, 'setf', '-d', '8', fpath]);
  const froot = /root\s+([0-9a-f]{64})/.exec(setf)[1];
  await page.fill('#froot', froot);
  await page.click('#readfile');
  await page.waitForFunction(() => /^(verified|could not|\d{3}:)/.test(document.getElementById('fout').textContent), null, { timeout: 20000 });
  const fout = await page.textContent('#fout');
  check(fout.includes(`verified by the gateway against its tree: ${ftext.length} bytes`) && fout.includes('notes.txt') && fout.includes(froot), 'a file written by the Rust CLI is read whole through the other gateway: ' + fout.split('\n')[0]);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#fdl')]);
  const saved = readFileSync(await download.path(), 'utf8');
  check(saved === ftext && download.suggestedFilename() === 'notes.txt', 'the page saves the file, byte for byte, under its recorded name');

  // A file written from the page: laid out as setf lays it out, worked
  // in Web Workers, POSTed dat by dat; daved getf reads it byte for byte.
  const wrote = await writeFile(page, join(home, 'random.bin'), 100_000, '12');
  check(wrote.text.includes('written: 100000 bytes') && wrote.text.includes('name   hex:'), 'the page writes a 100 kB file: ' + wrote.text.split('\n')[0]);
  const back = join(home, 'back.bin');
  daved(['-e', `127.0.0.1:${ub}`, 'getf', wrote.root, '-o', back]);
  check(readFileSync(back).equals(wrote.data), 'daved getf reads the file the page wrote, byte for byte, through the other node');
  const byName = join(home, 'byname.bin');
  daved(['-e', `127.0.0.1:${ua}`, 'getf', wrote.pub, wrote.name, '-o', byName]);
  check(readFileSync(byName).equals(wrote.data), 'and by the name the page printed');

  const got = daved(['-e', `127.0.0.1:${ub}`, 'get', work]);
  check(got === 'hello from the browser', 'the Rust CLI reads (and verifies) the browser-written value');
  check(errors.length === 0, 'no script errors on the page' + (errors.length ? ': ' + errors.join('; ') : ''));

  mkdirSync(SHOT.replace(/\/[^/]*$/, ''), { recursive: true });
  await page.screenshot({ path: SHOT, fullPage: true });
  console.log('screenshot: ' + SHOT);
  if (process.env.DAVE_E2E_MEASURE) {
    for (const bits of ['16', '12']) {
      const m = await writeFile(page, join(home, `mb-${bits}.bin`), 1_000_000, bits);
      const mback = join(home, `mb-${bits}-back.bin`);
      daved(['-e', `127.0.0.1:${ub}`, 'getf', m.root, '-o', mback]);
      const same = readFileSync(mback).equals(m.data);
      console.log(`measure: a 1 MB file written from the page at ${bits} bits: ${m.secs.toFixed(1)} s from the click (${m.text.split('\n')[0]}); read back by daved getf: ${same ? 'identical' : 'DIFFERENT'}`);
      if (!same) throw new Error('FAILED: daved getf read back a different 1 MB file');
    }
  }
  console.log(`e2e: ${passed} passed, 0 failed`);
} catch (e) {
  console.error(e.stack || String(e));
  console.log(`e2e: ${passed} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  for (const k of kids) k.kill('SIGTERM');
  rmSync(home, { recursive: true, force: true });
}
