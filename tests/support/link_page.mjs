// Drives Vanta's wallet signing page (GET /link/{nonce}) in headless Chromium with an injected
// test wallet, the way a user's browser wallet would answer it.
//
//   node tests/support/link_page.mjs <page url> <address> <signature> <file with the expected message>
//
// The injected `window.ethereum` answers `eth_requestAccounts` with <address> and
// `personal_sign` with <signature>, but only when it is asked to sign exactly the expected
// message (hex of its UTF-8 bytes) for that address; anything else gets a wrong signature, so
// the server refuses it and this script fails. Prints one JSON line: what the page showed, the
// wallet calls it made and any console errors (a CSP violation shows up there). Exit code 0 when
// the page reported success.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [url, address, signature, messageFile] = process.argv.slice(2);
if (!url || !address || !signature || !messageFile) {
  console.error('usage: link_page.mjs <url> <address> <signature> <message file>');
  process.exit(2);
}
const expected = readFileSync(messageFile, 'utf8');

const browser = await chromium.launch({
  executablePath: process.env.VANTA_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const result = { calls: [], console: [], status: null, statusClass: null, ok: false };
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') result.console.push(m.text()); });
  page.on('pageerror', (e) => result.console.push(String(e)));
  await page.exposeFunction('__vantaTestSign', (hexMessage, account) => {
    result.calls.push({ method: 'personal_sign', account });
    const text = Buffer.from(String(hexMessage).replace(/^0x/, ''), 'hex').toString('utf8');
    const right = text === expected && String(account).toLowerCase() === address.toLowerCase();
    if (!right) result.calls.push({ mismatch: true, got: text });
    return right ? signature : '0x' + '11'.repeat(65);
  });
  await page.addInitScript((addr) => {
    window.ethereum = {
      isVantaTestWallet: true,
      request: async ({ method, params }) => {
        if (method === 'eth_requestAccounts') return [addr];
        if (method === 'personal_sign') return window.__vantaTestSign(params[0], params[1]);
        throw new Error('unsupported method ' + method);
      },
    };
  }, address);
  const response = await page.goto(url);
  result.httpStatus = response ? response.status() : null;
  await page.click('#sign');
  await page.waitForFunction(() => {
    const s = document.getElementById('status');
    return s && (s.className === 'bad' || (s.className === 'ok' && /verified/i.test(s.textContent)));
  }, null, { timeout: 20000 });
  result.status = await page.textContent('#status');
  result.statusClass = await page.getAttribute('#status', 'class');
  result.ok = result.statusClass === 'ok';
} catch (e) {
  result.error = String(e && e.message ? e.message : e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
