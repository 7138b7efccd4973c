// h2.mjs - headless Chromium for the HTTP/2 suite, driven by run.py.
// SPDX-License-Identifier: MIT
//
// One JSON command per line on stdin, one JSON reply per line on stdout:
//   {"cmd": "open", "url": U, "http1": B}  a new page at U, in a browser that
//        speaks HTTP/2 (http1 false) or was started with --disable-http2
//   {"cmd": "state"}  the page's window.state, its protocol
//        (nextHopProtocol) and the headers of every event-stream response
//   {"cmd": "close"}  closes the page
// Replies: {"ok": true, "result": ...} or {"ok": false, "error": "..."}.
// The generated test certificate is trusted by --ignore-certificate-errors,
// given here, in the test's browser only. Exits at EOF of stdin.

import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// playwright-core is installed for the browser suite (tests/browser).
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BASE_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-proxy-server',
    '--disable-background-networking', '--disable-component-update', '--no-first-run',
    '--ignore-certificate-errors'];

const browsers = {};  // "h2" / "h1" -> Browser
let page = null;
let responses = [];

async function browser(http1) {
    const key = http1 ? 'h1' : 'h2';
    if (!browsers[key])
        browsers[key] = await chromium.launch({
            executablePath: CHROMIUM, headless: true,
            args: BASE_ARGS.concat(http1 ? ['--disable-http2'] : []),
        });
    return browsers[key];
}

async function open({ url, http1 }) {
    if (page)
        await page.context().close();
    const ctx = await (await browser(http1)).newContext({ ignoreHTTPSErrors: true });
    page = await ctx.newPage();
    responses = [];
    page.on('response', r => {
        if (r.request().resourceType() === 'eventsource')
            responses.push({ url: r.url(), status: r.status(), headers: r.headers() });
    });
    await page.goto(url, { waitUntil: 'load', timeout: 15000 });
    return true;
}

async function state() {
    const s = await page.evaluate(() => ({ protocol: window.protocol(), sources: window.state.sources }));
    s.responses = responses;
    return s;
}

const handlers = {
    open,
    state,
    close: async () => { if (page) await page.context().close(); page = null; return true; },
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
    let reply;
    try {
        const msg = JSON.parse(line);
        reply = { ok: true, result: await handlers[msg.cmd](msg) };
    } catch (e) {
        reply = { ok: false, error: String(e && e.stack || e) };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
}
for (const b of Object.values(browsers))
    await b.close();
