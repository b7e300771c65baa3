// Where the token comes from when there is no dev form: the URL fragment,
// and an embedding page's postMessage (accepted from an allowed origin only).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { launch } from './chromium.js';
import { startServer, freePort } from './server.js';
import { WAIT_MS } from './people.js';

async function devToken(url, session, user, role = 'participant') {
  const res = await fetch(`${url}/dev/token?${new URLSearchParams({ session, user, role })}`);
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

/** An embedding site on another origin: it posts the token when the client is ready. */
async function embedder(clientURL, token, session) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const page = `<!doctype html><title>Care portal</title>
<iframe id="f" allow="microphone; autoplay" width="600" height="600"
  src="${clientURL}/?origins=${encodeURIComponent(origin)}&autojoin=1"></iframe>
<script>
  window.addEventListener('message', (e) => {
    if (e.origin === ${JSON.stringify(clientURL)} && e.data && e.data.type === 'sanctuary-ready') {
      document.getElementById('f').contentWindow.postMessage(
        { type: 'sanctuary-token', token: ${JSON.stringify(token)}, session: ${JSON.stringify(session)} },
        ${JSON.stringify(clientURL)});
    }
  });
</script>`;
  const srv = createServer((_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { origin, close: () => new Promise((r) => srv.close(r)) };
}

describe('tokens from a link or an embedding page', { timeout: 240000 }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('tokens');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('the dev endpoint answers a probe and refuses a request without a user', async () => {
    assert.deepEqual(await (await fetch(`${server.url}/dev/token`)).json(), { dev: true });
    assert.equal((await fetch(`${server.url}/dev/token?session=s`)).status, 400);
    assert.equal((await fetch(`${server.url}/dev/token?session=s&user=u&role=king`)).status, 400);
  });

  it('joins with #token=…&session=… and removes the token from the address bar', async () => {
    const token = await devToken(server.url, 'e2e-link', 'link-user');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/#token=${token}&session=e2e-link`);
    assert.equal(await page.getByLabel('Session', { exact: true }).inputValue(), 'e2e-link');
    assert.ok(!page.url().includes(token), 'the token left the URL');
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.waitForFunction(() => window.sanctuary?.client?.status === 'connected', null, { timeout: WAIT_MS });
    await context.close();
  });

  it('joins with a token posted by an allowed embedding origin', async () => {
    const token = await devToken(server.url, 'e2e-embed', 'embed-user');
    const site = await embedder(server.url, token, 'e2e-embed');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${site.origin}/`);
    const frame = page.frameLocator('#f');
    await frame.locator('#room-view').waitFor({ state: 'visible', timeout: WAIT_MS });
    const f = page.frames().find((fr) => fr.url().startsWith(server.url));
    await f.waitForFunction(() => window.sanctuary?.client?.status === 'connected', null, { timeout: WAIT_MS });
    await context.close();
    await site.close();
  });

  it('ignores a token posted by an origin that is not allowed', async () => {
    const token = await devToken(server.url, 'e2e-embed', 'intruder');
    const site = await embedder(server.url, token, 'e2e-embed');
    const context = await browser.newContext();
    const page = await context.newPage();
    // The frame allows only some other origin, so the embedder's message is dropped.
    await page.goto(`${site.origin}/`);
    await page.evaluate((u) => {
      document.getElementById('f').src = `${u}/?origins=${encodeURIComponent('https://elsewhere.example')}&autojoin=1`;
    }, server.url);
    const frame = page.frameLocator('#f');
    await frame.locator('#join-view').waitFor({ state: 'visible', timeout: WAIT_MS });
    // The client announces itself only to its allowed origins, so post anyway, as an attacker would.
    await page.evaluate((t) => {
      document.getElementById('f').contentWindow.postMessage({ type: 'sanctuary-token', token: t, session: 'e2e-embed' }, '*');
    }, token);
    await page.waitForTimeout(500);
    const f = page.frames().find((fr) => fr.url().startsWith(server.url));
    assert.equal(await f.evaluate(() => window.sanctuary.client), null, 'no join happened');
    assert.equal(await frame.locator('#join-view').isVisible(), true);
    await context.close();
    await site.close();
  });
});
