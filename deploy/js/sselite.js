// sselite.js - an EventSource for sselite streams that resumes exactly.
// SPDX-License-Identifier: MIT
//
// A native EventSource resumes by itself (the browser sends Last-Event-ID)
// only while the same object reconnects: after a stream ends normally or the
// network drops. After a non-200 answer (a proxy's 502/503 while the worker
// restarts) it is CLOSED for good, and a new EventSource would start at the
// end of the log, silently losing what was published meanwhile.
//
// open() keeps the id of the last event received per stream URL (in
// sessionStorage by default, so a reload resumes too) and, when the native
// EventSource is CLOSED, builds a new one after a jittered exponential
// backoff with ?last_event_id=<that id>: sselite then replays exactly the
// events after it. sselite's in-band "sselite-gap" event (the id asked for
// was pruned, or is ahead of the log) goes to onGap.
//
// Pages that come back (the tab shown again, a back/forward-cache restore,
// the network back online) reconnect at once, resuming after that id, when
// their stream is closed or has been silent for more than two heartbeats:
// mobile browsers suspend pages and leave dead connections behind without
// firing onerror.
//
// With shared: true the tabs of one origin share one stream: they elect a
// leader with a Web Lock; only the leader holds an EventSource and passes
// every event on over a BroadcastChannel. When the leader's tab closes, the
// next tab in the lock's queue takes over after the last id it saw; every
// tab drops an id it already has, so each tab gets each event once, in
// order.
//
// With a `token` option (a function returning a signed access token, or a
// promise of one) each EventSource is created with ?token=<a fresh token>:
// before the first connect, when the stream ended with sselite's in-band
// "sselite-auth" event (the token expired; the page then receives exactly
// the events after the last one it saw), and when the server refused the
// stream (401/403), then with the same backoff as any other failure.
//
// htmxSource() does the same for the htmx SSE extension, which recreates its
// EventSource through htmx.createEventSource(url) and would otherwise start
// over with no position. No dependencies; see deploy/js/README.md.

const OPEN = 1;
const CLOSED = 2;
const GAP = 'sselite-gap';
const AUTH = 'sselite-auth';

/* 1 if id a is after id b (decimal strings of any length, as sselite's
   18-digit ids exceed a Number's exact range; '' is before everything). */
function after(a, b) {
    if (!b)
        return !!a;
    if (!/^[0-9]+$/.test(a) || !/^[0-9]+$/.test(b))
        return a !== b;   // not sselite's ids: only repeats are known
    a = a.replace(/^0+(?=.)/, '');
    b = b.replace(/^0+(?=.)/, '');
    return a.length !== b.length ? a.length > b.length : a > b;
}

function canShare() {
    return typeof navigator !== 'undefined' && !!navigator.locks &&
        typeof BroadcastChannel === 'function';
}

/* A storage wrapper that never throws (storage may be disabled, full, or
   forbidden in a sandboxed frame); null storage keeps ids in memory only. */
function makeStore(storage) {
    const mem = new Map();
    return {
        get(key) {
            try {
                const v = storage ? storage.getItem(key) : mem.get(key);
                return v == null ? '' : String(v);
            } catch (e) {
                return mem.get(key) || '';
            }
        },
        set(key, id) {
            mem.set(key, id);
            try {
                if (storage) storage.setItem(key, id);
            } catch (e) { /* quota or disabled: the id stays in memory */ }
        },
    };
}

function defaultStorage() {
    try {
        return globalThis.sessionStorage || null;
    } catch (e) {
        return null;
    }
}

function storageOf(opts) {
    return 'storage' in opts ? opts.storage : defaultStorage();
}

/* Returns url with its query parameter `param` set to id, replacing any
   earlier value, or removed when id is empty. The other parameters are
   kept byte for byte (no re-encoding), and so is a #fragment. */
export function withLastEventId(url, id, param = 'last_event_id') {
    const s = String(url);
    const h = s.indexOf('#');
    const hash = h < 0 ? '' : s.slice(h);
    const rest = h < 0 ? s : s.slice(0, h);
    const q = rest.indexOf('?');
    const path = q < 0 ? rest : rest.slice(0, q);
    const name = encodeURIComponent(param);
    const kept = q < 0 ? [] : rest.slice(q + 1).split('&')
        .filter(p => p !== '' && p !== name && !p.startsWith(name + '='));
    if (id)
        kept.push(name + '=' + encodeURIComponent(id));
    return path + (kept.length ? '?' + kept.join('&') : '') + hash;
}

/* The storage key of a stream: one cursor per absolute URL without the
   resume parameter, so relative and absolute spellings share it. */
function keyFor(url, param) {
    let u = withLastEventId(url, '', param);
    try {
        u = new URL(u, globalThis.document ? document.baseURI : undefined).href;
    } catch (e) { /* not resolvable here: use it as given */ }
    return 'sselite:' + u;
}

function report(err) {
    setTimeout(() => { throw err; });
}

/* Opens a resumable stream; see README.md for the options. Returns
   { lastEventId, readyState, source, on(type, fn), off(type, fn), close() }. */
export function open(url, opts = {}) {
    const param = opts.param || 'last_event_id';
    const store = makeStore(storageOf(opts));
    const key = opts.key || keyFor(url, param);
    const minDelay = opts.minDelay != null ? opts.minDelay : 1000;
    const maxDelay = opts.maxDelay != null ? opts.maxDelay : 30000;
    const heartbeat = opts.heartbeat > 0 ? opts.heartbeat : 15000;
    const shared = !!opts.shared && canShare();
    const listeners = new Map();   // type -> Set of functions
    const types = new Set(opts.types || ['message']);
    const attached = new Set();    // types listened to on the current source
    let lastId = opts.startAt != null && opts.startAt !== ''
        ? String(opts.startAt) : store.get(key);
    let es = null;
    let timer = null;
    let hiddenTimer = null;
    let failures = 0;
    let suspended = false;
    let closed = false;
    let lastActivity = Date.now();   // of the last open or event
    // shared: true. Only the leader has es; the others follow over bc.
    let leader = !shared;
    let bc = null;
    let releaseLock = null;          // ends the leader's hold on the lock
    let lockAbort = null;            // withdraws a follower's lock request
    let sharedId = '';               // the newest id another tab announced
    let leaderState = 0;             // the leader's readyState, for followers
    let generation = 0;            // bumped by drop(): stale token fetches are ignored
    const tokenParam = opts.tokenParam || 'token';

    for (const [type, fn] of Object.entries(opts.on || {})) {
        types.add(type);
        addListener(type, fn);
    }
    types.add(GAP);
    types.add(AUTH);

    function state(name, detail) {
        if (shared && leader && bc && name !== 'closed')
            bc.postMessage({ t: 'state', state: name });
        if (opts.onState)
            opts.onState(name, detail);
    }

    function addListener(type, fn) {
        if (!listeners.has(type))
            listeners.set(type, new Set());
        listeners.get(type).add(fn);
    }

    function dispatch(e) {
        lastActivity = Date.now();
        // Shared: an id this tab has had already comes again from a new
        // leader that resumed further back, or from a late broadcast.
        if (shared && e.lastEventId && !after(e.lastEventId, lastId))
            return;
        // Only events that carry an id move the cursor (an event without
        // one would leave e.lastEventId as it was, or empty it).
        if (e.lastEventId && e.lastEventId !== lastId) {
            lastId = e.lastEventId;
            store.set(key, lastId);
        }
        if (shared && leader && bc)
            bc.postMessage({ t: 'event', type: e.type, data: e.data, id: e.lastEventId });
        if (e.type === GAP && opts.onGap) {
            let info = e.data;
            try {
                info = JSON.parse(e.data);
            } catch (err) { /* pass the raw text */ }
            try {
                opts.onGap(info, e);
            } catch (err) {
                report(err);
            }
        }
        for (const fn of [...(listeners.get(e.type) || [])]) {
            try {
                fn(e);
            } catch (err) {
                report(err);
            }
        }
        // The token ran out: the browser would reconnect with it and be
        // refused; a fresh one resumes right after the last event instead.
        if (e.type === AUTH && opts.token && es && e.target === es) {
            failures = 0;
            connect();
        }
    }

    function attach(type) {
        if (es && !attached.has(type)) {
            es.addEventListener(type, dispatch);
            attached.add(type);
        }
    }

    function drop() {
        generation++;
        clearTimeout(timer);
        timer = null;
        if (es)
            es.close();
        es = null;
        attached.clear();
    }

    function connect() {
        drop();
        suspended = false;
        lastActivity = Date.now();
        if (!opts.token) {
            openSource('');
            return;
        }
        const gen = generation;
        state('connecting');
        let fresh;
        try {
            fresh = Promise.resolve(opts.token());
        } catch (err) {
            fresh = Promise.reject(err);
        }
        fresh.then(tok => {
            if (gen === generation && !closed)
                openSource(tok == null ? '' : String(tok));
        }, err => {
            if (gen === generation && !closed) {
                report(err);
                retry();
            }
        });
    }

    /* A new EventSource after lastId, with tok (if any) as its token. */
    function openSource(tok) {
        let u = withLastEventId(url, lastId, param);
        if (tok)
            u = withLastEventId(u, tok, tokenParam);
        const source = new EventSource(u, { withCredentials: !!opts.withCredentials });
        es = source;
        state('connecting');
        source.onopen = () => {
            if (es !== source)
                return;
            failures = 0;
            lastActivity = Date.now();
            state('open');
        };
        source.onerror = () => {
            if (es !== source)
                return;
            if (source.readyState === CLOSED)
                retry();   // a non-200: the browser gave up, we do not
            else
                state('connecting');   // the browser retries with Last-Event-ID
        };
        for (const type of types)
            attach(type);
    }

    function retry() {
        drop();
        const cap = Math.min(maxDelay, minDelay * Math.pow(2, failures++));
        const delay = Math.round(cap / 2 + Math.random() * cap / 2);
        state('waiting', { delay });
        timer = setTimeout(connect, delay);
    }

    function suspend() {
        if (!closed && !suspended) {
            drop();
            suspended = true;
            state('waiting', { delay: null });
        }
    }

    /* The page is back (shown, restored, online): a source that is gone,
       waiting, or silent for more than two heartbeats (sselite sends one
       every 15 s by default, invisible to EventSource, so events are all a
       page can see) is replaced at once, resuming after lastId. A suspended
       page's connection can be dead without any error. */
    function wake() {
        if (closed || !leader)
            return;
        if (suspended || timer || !es || es.readyState === CLOSED ||
            Date.now() - lastActivity > 2 * heartbeat) {
            failures = 0;
            connect();
        }
    }

    const onOnline = () => wake();
    const onPageHide = e => { if (e.persisted) suspend(); };
    const onPageShow = e => { if (e.persisted) wake(); };
    const onVisibility = () => {
        clearTimeout(hiddenTimer);
        hiddenTimer = null;
        if (document.visibilityState !== 'hidden')
            wake();
        else if (opts.pauseWhenHidden > 0)
            hiddenTimer = setTimeout(suspend, opts.pauseWhenHidden);
    };
    const win = typeof window === 'undefined' ? null : window;
    if (win) {
        win.addEventListener('online', onOnline);
        win.addEventListener('pagehide', onPageHide);
        win.addEventListener('pageshow', onPageShow);
        document.addEventListener('visibilitychange', onVisibility);
    }

    /* shared: tabs announce the types they listen to and their position
       ("hello"); the leader relays events and its state. */
    function hello(ask) {
        bc.postMessage({ t: 'hello', ask, types: [...types], id: lastId });
    }

    function onShared(m) {
        const d = m.data || {};
        if (d.t === 'event') {
            if (!leader)
                dispatch(new MessageEvent(d.type, { data: d.data, lastEventId: d.id || '' }));
        } else if (d.t === 'hello') {
            for (const type of d.types || []) {
                types.add(type);
                attach(type);
            }
            if (d.id && after(d.id, sharedId))
                sharedId = d.id;
            if (d.ask) {
                hello(false);
                if (leader && es)   // the new tab's readyState
                    bc.postMessage({ t: 'state', state: es.readyState === OPEN ? 'open' : 'connecting' });
            }
        } else if (d.t === 'state') {
            leaderState = d.state === 'open' ? OPEN : 0;
        }
    }

    /* Queues for the lock; holds it (as leader) until close() or the tab
       goes away, which hands it to the next tab in the queue. */
    function elect() {
        lockAbort = new AbortController();
        navigator.locks.request('sselite:' + key, { signal: lockAbort.signal }, () => {
            if (closed)
                return undefined;
            leader = true;
            // A tab that never had an event starts where the others are.
            if (!lastId && sharedId)
                lastId = sharedId;
            connect();
            return new Promise(resolve => { releaseLock = resolve; });
        }).catch(() => { /* withdrawn by close() */ });
    }

    const api = {
        get lastEventId() { return lastId; },
        get readyState() {
            if (es)
                return es.readyState;
            return shared && !leader && !closed ? leaderState : CLOSED;
        },
        get source() { return es; },
        get leader() { return leader && !closed; },
        on(type, fn) {
            addListener(type, fn);
            if (!types.has(type)) {
                types.add(type);
                attach(type);
                if (bc)
                    hello(false);
            }
            return api;
        },
        off(type, fn) {
            const set = listeners.get(type);
            if (set)
                set.delete(fn);
            return api;
        },
        close() {
            if (closed)
                return;
            closed = true;
            drop();
            clearTimeout(hiddenTimer);
            if (bc)
                bc.close();
            if (releaseLock)
                releaseLock();
            else if (lockAbort)
                lockAbort.abort();
            if (win) {
                win.removeEventListener('online', onOnline);
                win.removeEventListener('pagehide', onPageHide);
                win.removeEventListener('pageshow', onPageShow);
                document.removeEventListener('visibilitychange', onVisibility);
            }
            state('closed');
        },
    };
    if (shared) {
        bc = new BroadcastChannel('sselite:' + key);
        bc.onmessage = onShared;
        hello(true);
        state('following');
        elect();
    } else {
        connect();
    }
    return api;
}

/* Returns a function for htmx.createEventSource: each EventSource it builds
   starts after the last id recorded for its URL, and records the id of
   every event of every type a listener is added for (plus "message" and
   "sselite-gap"). Options: storage, param, withCredentials (default true,
   as htmx's own). */
export function htmxSource(opts = {}) {
    const param = opts.param || 'last_event_id';
    const store = makeStore(storageOf(opts));
    return (url, cfg) => {
        const key = opts.key || keyFor(url, param);
        const creds = cfg && cfg.withCredentials != null ? cfg.withCredentials
            : opts.withCredentials != null ? opts.withCredentials : true;
        const es = new EventSource(withLastEventId(url, store.get(key), param),
                                   { withCredentials: !!creds });
        const record = e => { if (e.lastEventId) store.set(key, e.lastEventId); };
        const add = es.addEventListener.bind(es);
        const watched = new Set();
        const watch = type => {
            if (!watched.has(type)) {
                watched.add(type);
                add(type, record);   // before the caller's listener
            }
        };
        es.addEventListener = (type, fn, o) => {
            watch(type);
            add(type, fn, o);
        };
        watch('message');
        watch(GAP);
        return es;
    };
}
