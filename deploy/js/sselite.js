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

const CLOSED = 2;
const GAP = 'sselite-gap';
const AUTH = 'sselite-auth';

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
    let generation = 0;            // bumped by drop(): stale token fetches are ignored
    const tokenParam = opts.tokenParam || 'token';

    for (const [type, fn] of Object.entries(opts.on || {})) {
        types.add(type);
        addListener(type, fn);
    }
    types.add(GAP);
    types.add(AUTH);

    function state(name, detail) {
        if (opts.onState)
            opts.onState(name, detail);
    }

    function addListener(type, fn) {
        if (!listeners.has(type))
            listeners.set(type, new Set());
        listeners.get(type).add(fn);
    }

    function dispatch(e) {
        // Only events that carry an id move the cursor (an event without
        // one would leave e.lastEventId as it was, or empty it).
        if (e.lastEventId && e.lastEventId !== lastId) {
            lastId = e.lastEventId;
            store.set(key, lastId);
        }
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

    function resume() {
        if (!closed && (suspended || timer)) {
            failures = 0;
            connect();
        }
    }

    const onOnline = () => { if (timer) resume(); };
    const onPageHide = e => { if (e.persisted) suspend(); };
    const onPageShow = e => { if (e.persisted) resume(); };
    const onVisibility = () => {
        clearTimeout(hiddenTimer);
        hiddenTimer = null;
        if (document.visibilityState === 'hidden')
            hiddenTimer = setTimeout(suspend, opts.pauseWhenHidden);
        else
            resume();
    };
    const win = typeof window === 'undefined' ? null : window;
    if (win) {
        win.addEventListener('online', onOnline);
        win.addEventListener('pagehide', onPageHide);
        win.addEventListener('pageshow', onPageShow);
        if (opts.pauseWhenHidden > 0)
            document.addEventListener('visibilitychange', onVisibility);
    }

    const api = {
        get lastEventId() { return lastId; },
        get readyState() { return es ? es.readyState : CLOSED; },
        get source() { return es; },
        on(type, fn) {
            addListener(type, fn);
            types.add(type);
            attach(type);
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
            if (win) {
                win.removeEventListener('online', onOnline);
                win.removeEventListener('pagehide', onPageHide);
                win.removeEventListener('pageshow', onPageShow);
                document.removeEventListener('visibilitychange', onVisibility);
            }
            state('closed');
        },
    };
    connect();
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
