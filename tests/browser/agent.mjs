// agent.mjs - the client side of the sselite browser suite: headless
// Chromium (through playwright-core), the npm `eventsource` package and a
// long-poll loop over fetch, driven by run.py over stdin/stdout.
// SPDX-License-Identifier: MIT
//
// Protocol: one JSON object per line on stdin, {"id": N, "cmd": "...", ...};
// one JSON reply per line on stdout, {"id": N, "ok": true, "result": ...} or
// {"id": N, "ok": false, "error": "..."}. Commands run concurrently; replies
// may come out of order. Diagnostics go to stderr. On EOF of stdin, SIGTERM
// or SIGINT the browser is closed and the agent exits.
//
// The agent asserts nothing: it reports what each client's JavaScript
// received (event.lastEventId, event.type, event.data) and run.py compares
// that with what it inserted into SQLite. Node 18 compatible.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';
import { EventSource } from 'eventsource';
import { createParser } from 'eventsource-parser';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
    '--disable-quic', '--no-proxy-server',
    // Background tabs must not have their timers throttled: several test
    // pages run at once and each one's backoff timers matter.
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
];

let context = null;
let profile = null;
const pages = new Map();    // handle -> { page, net: [], log: [] }
const sources = new Map();  // handle -> npm EventSource record
const polls = new Map();    // handle -> long-poll loop record
let next = 1;

function log(...a) {
    process.stderr.write('[agent] ' + a.join(' ') + '\n');
}

function getPage(h) {
    const p = pages.get(h);
    if (!p)
        throw new Error('no page ' + h);
    return p;
}

// ------------------------------------------------------------- Chromium

async function launch({ tmp }) {
    profile = fs.mkdtempSync(path.join(tmp || os.tmpdir(), 'chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ARGS,
        viewport: { width: 1100, height: 760 },
        // Playwright turns the back/forward cache off; sselite.js's restore
        // path is tested with it on, as browsers ship it.
        ignoreDefaultArgs: ['--disable-back-forward-cache'],
        handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
    });
    // The persistent context opens one blank page; keep it, it is harmless.
    return { version: context.browser() ? context.browser().version() : 'persistent', profile };
}

async function pageOpen({ url }) {
    const page = await context.newPage();
    const rec = { page, net: [], log: [] };
    const byReq = new WeakMap();   // playwright Request -> its net entry
    const h = next++;
    pages.set(h, rec);
    page.on('console', m => rec.log.push(m.type() + ': ' + m.text()));
    page.on('pageerror', e => rec.log.push('pageerror: ' + e.message));
    page.on('request', req => {
        if (req.resourceType() !== 'eventsource')
            return;
        const entry = { url: req.url(), t: Date.now(), status: null, failure: null, headers: null };
        rec.net.push(entry);
        byReq.set(req, entry);
        entry.pending = req.allHeaders().then(hd => { entry.headers = hd; }, () => {});
    });
    page.on('response', res => {
        const req = res.request();
        if (req.resourceType() !== 'eventsource')
            return;
        const entry = byReq.get(req);
        if (entry) {
            entry.status = res.status();
            entry.pendingResp = res.allHeaders().then(hd => { entry.respHeaders = hd; }, () => {});
        }
    });
    page.on('requestfailed', req => {
        if (req.resourceType() !== 'eventsource')
            return;
        const entry = byReq.get(req);
        if (entry)
            entry.failure = (req.failure() || {}).errorText || 'failed';
    });
    await page.goto(url, { waitUntil: 'load', timeout: 10000 });
    return { page: h };
}

async function pageEval({ page, expr }) {
    return await getPage(page).page.evaluate(expr);
}

async function pageWait({ page, expr, ms }) {
    const p = getPage(page).page;
    try {
        const handle = await p.waitForFunction(expr, null, { timeout: ms || 5000, polling: 50 });
        const v = await handle.jsonValue();
        await handle.dispose();
        return v;
    } catch (e) {
        if (/Timeout/i.test(e.message))
            return null;
        throw e;
    }
}

async function pageNet({ page }) {
    const rec = getPage(page);
    await Promise.all(rec.net.map(e => Promise.all([e.pending, e.pendingResp])));
    return rec.net.map(({ url, t, status, failure, headers, respHeaders }) =>
        ({ url, t, status, failure, headers, respHeaders }));
}

async function pageLog({ page }) {
    return getPage(page).log;
}

async function pageReload({ page }) {
    await getPage(page).page.reload({ waitUntil: 'load', timeout: 10000 });
    return true;
}

async function pageShot({ page, file, fullPage }) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await getPage(page).page.screenshot({ path: file, fullPage: !!fullPage });
    return file;
}

async function pageClick({ page, selector }) {
    await getPage(page).page.click(selector, { timeout: 5000 });
    return true;
}

async function pageGoto({ page, url }) {
    await getPage(page).page.goto(url, { waitUntil: 'load', timeout: 10000 });
    return true;
}

/* Back in history; a page restored from the back/forward cache fires no
   load event, so this waits for the navigation to commit only. */
async function pageBack({ page }) {
    await getPage(page).page.goBack({ waitUntil: 'commit', timeout: 10000 });
    return true;
}

async function setOffline({ offline }) {
    await context.setOffline(!!offline);
    return true;
}

async function pageClose({ page }) {
    const rec = pages.get(page);
    if (rec) {
        pages.delete(page);
        await rec.page.close();
    }
    return true;
}

// --------------------------------------------------- npm eventsource

function esOpen({ url, types, withCredentials }) {
    const h = next++;
    const rec = { events: [], opens: 0, errors: [], es: null };
    const es = new EventSource(url, { withCredentials: !!withCredentials });
    rec.es = es;
    es.onopen = () => { rec.opens++; };
    es.onerror = e => { rec.errors.push([Date.now(), es.readyState, String(e.message || e.code || '')]); };
    for (const t of types)
        es.addEventListener(t, e => rec.events.push([e.lastEventId, e.type, e.data, rec.opens]));
    sources.set(h, rec);
    return { es: h };
}

function esInfo({ es, from }) {
    const rec = sources.get(es);
    if (!rec)
        throw new Error('no eventsource ' + es);
    const n = rec.events.length;
    return {
        n, opens: rec.opens, errors: rec.errors, readyState: rec.es.readyState,
        last: n ? rec.events[n - 1][0] : null,
        events: from == null ? undefined : rec.events.slice(from),
    };
}

async function esWait({ es, count, last, ms }) {
    const rec = sources.get(es);
    const end = Date.now() + (ms || 5000);
    const done = () => rec.events.length >= (count || 0) &&
        (last == null || (rec.events.length && Number(rec.events[rec.events.length - 1][0]) >= last));
    while (!done() && Date.now() < end)
        await new Promise(r => setTimeout(r, 20));
    return { reached: done(), ...esInfo({ es }) };
}

function esClose({ es }) {
    const rec = sources.get(es);
    if (rec) {
        rec.es.close();
        sources.delete(es);
    }
    return true;
}

// ------------------------------------------------------------- HTTP

/* Reads a response's body as text, at most maxBytes of it (then aborts).
   When the request is aborted or times out midway, returns what came. */
async function readBody(res, ctl, maxBytes) {
    const reader = res.body.getReader();
    const chunks = [];
    let n = 0;
    let partial = false;
    try {
        for (;;) {
            const { done, value } = await reader.read();
            if (done)
                break;
            chunks.push(Buffer.from(value));
            n += value.length;
            if (maxBytes && n >= maxBytes) {
                ctl.abort();
                partial = true;
                break;
            }
        }
    } catch (e) {
        if (!ctl.signal.aborted)
            throw e;
        partial = true;
    }
    return { body: Buffer.concat(chunks).toString('utf8'), partial };
}

/* GET url; returns status, headers, body (text), partial (the body was cut
   by maxBytes or by the ms timeout), and with parse the events and comments
   of the body. */
async function httpGet({ url, headers, maxBytes, ms, parse, signal }) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), ms || 10000);
    const onAbort = () => ctl.abort();
    if (signal)
        signal.addEventListener('abort', onAbort);
    try {
        const res = await fetch(url, { headers: headers || {}, signal: ctl.signal });
        const hd = {};
        res.headers.forEach((v, k) => { hd[k] = v; });
        const { body, partial } = await readBody(res, ctl, maxBytes);
        if (partial && signal && signal.aborted)
            throw new Error('aborted');
        return { status: res.status, headers: hd, body, partial,
                 ...(parse ? parseEvents(body) : {}) };
    } finally {
        clearTimeout(timer);
        if (signal)
            signal.removeEventListener('abort', onAbort);
    }
}

/* Parses a long-poll body (the text/event-stream format) into events and
   comments with eventsource-parser, the parser the npm eventsource uses. */
function parseEvents(text) {
    const events = [];
    const comments = [];
    const parser = createParser({
        onEvent: ev => events.push([ev.id == null ? '' : ev.id, ev.event || 'message', ev.data]),
        onComment: c => comments.push(c),
    });
    parser.feed(text);
    parser.feed('\n\n');   // a final event without its blank line would show here
    return { events, comments };
}

/* The long-poll loop a fallback client runs: each request carries
   last_event_id of the last event seen; alternately longpoll=1 and the
   X-Requestor: XHR header when `mode` is "alternate". */
async function pollLoop(rec) {
    while (!rec.stop && rec.polls.length < rec.maxPolls) {
        const i = rec.polls.length;
        const header = rec.mode === 'header' || (rec.mode === 'alternate' && i % 2 === 1);
        const url = rec.base + (rec.base.includes('?') ? '&' : '?') +
            (header ? '' : 'longpoll=1&') + 'last_event_id=' + rec.last;
        const t0 = Date.now();
        let res;
        try {
            res = await httpGet({ url, headers: header ? { 'X-Requestor': 'XHR' } : {},
                                  ms: rec.requestTimeout, signal: rec.abort.signal });
        } catch (e) {
            if (rec.stop)
                break;   // lp_finish aborted the poll in flight
            throw e;
        }
        const { events } = parseEvents(res.body);
        rec.polls.push({ url, header, status: res.status, type: res.headers['content-type'],
                         n: events.length, ms: Date.now() - t0,
                         first: events.length ? events[0][0] : null });
        if (res.status !== 200) {
            rec.error = 'status ' + res.status + ' for ' + url + ': ' + res.body.slice(0, 200);
            break;
        }
        for (const ev of events)
            rec.events.push(ev);
        if (events.length)
            rec.last = events[events.length - 1][0];
    }
}

function lpStart({ base, start, mode, maxPolls, requestTimeout }) {
    const h = next++;
    const rec = { base, last: String(start), mode: mode || 'query', stop: false, polls: [],
                  abort: new AbortController(),
                  events: [], error: null, maxPolls: maxPolls || 10000,
                  requestTimeout: requestTimeout || 10000 };
    rec.done = pollLoop(rec).catch(e => { rec.error = String(e && e.stack || e); });
    polls.set(h, rec);
    return { lp: h };
}

async function lpFinish({ lp, until, ms }) {
    const rec = polls.get(lp);
    const end = Date.now() + (ms || 10000);
    while (!rec.error && Number(rec.last) < until && Date.now() < end)
        await new Promise(r => setTimeout(r, 20));
    rec.stop = true;
    rec.abort.abort();
    await Promise.race([rec.done, new Promise(r => setTimeout(r, rec.requestTimeout))]);
    polls.delete(lp);
    return { events: rec.events, polls: rec.polls, error: rec.error, last: rec.last };
}

// ------------------------------------------------------------ plumbing

const COMMANDS = {
    launch, page_open: pageOpen, page_eval: pageEval, page_wait: pageWait,
    page_net: pageNet, page_log: pageLog, page_reload: pageReload, page_shot: pageShot,
    page_click: pageClick, page_close: pageClose, page_goto: pageGoto, page_back: pageBack,
    set_offline: setOffline,
    es_open: esOpen, es_info: esInfo, es_wait: esWait, es_close: esClose,
    http_get: httpGet, lp_start: lpStart, lp_finish: lpFinish,
    ping: () => 'pong',
};

function reply(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

let quitting = false;

async function quit(code) {
    if (quitting)
        return;
    quitting = true;
    for (const rec of sources.values())
        rec.es.close();
    for (const rec of polls.values()) {
        rec.stop = true;
        rec.abort.abort();
    }
    if (context) {
        try {
            await Promise.race([context.close(), new Promise(r => setTimeout(r, 5000))]);
        } catch (e) {
            log('closing the browser:', e.message);
        }
    }
    if (profile)
        fs.rmSync(profile, { recursive: true, force: true });
    process.exit(code);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async line => {
    if (!line.trim())
        return;
    let msg;
    try {
        msg = JSON.parse(line);
    } catch (e) {
        log('bad request line:', line.slice(0, 200));
        return;
    }
    const fn = COMMANDS[msg.cmd];
    try {
        if (!fn)
            throw new Error('unknown command ' + msg.cmd);
        reply({ id: msg.id, ok: true, result: await fn(msg) });
    } catch (e) {
        reply({ id: msg.id, ok: false, error: String(e && e.message || e) });
    }
});
rl.on('close', () => quit(0));
process.on('SIGTERM', () => quit(0));
process.on('SIGINT', () => quit(0));
process.on('SIGHUP', () => quit(0));
