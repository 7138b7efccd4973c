// collect.js - records what EventSources receive, for run.py to compare
// with what it inserted. SPDX-License-Identifier: MIT
//
// T.native(url, types, init)  a plain EventSource listening to `types`
// T.lib(url, types, opts)     deploy/js/sselite.js open() (lib.html only)
// T.htmx(url, swapTypes)      an hx-ext="sse" element appending "tick N"
//                             fragments (htmx.html only)
// T.info(i), T.events(i, from), T.lastId(i), T.close(i)
// Each event is recorded as [lastEventId, type, data, connection number].
'use strict';
window.T = (function () {
    const recs = [];

    function record(kind, url) {
        const r = { kind, url, events: [], opens: 0, errors: [], states: [], gaps: [], obj: null };
        recs.push(r);
        return r;
    }

    function push(r, e) {
        r.events.push([e.lastEventId, e.type, e.data, r.opens]);
    }

    return {
        native(url, types, init) {
            const r = record('native', url);
            const es = new EventSource(url, init || {});
            r.obj = es;
            es.onopen = () => { r.opens++; };
            es.onerror = () => { r.errors.push([Math.round(performance.now()), es.readyState]); };
            for (const t of types)
                es.addEventListener(t, e => push(r, e));
            return recs.length - 1;
        },

        lib(url, types, opts) {
            const r = record('lib', url);
            const o = Object.assign({}, opts || {}, {
                types,
                onState: (s, d) => {
                    r.states.push(d && d.delay != null ? s + ' ' + d.delay : s);
                    if (s === 'open')
                        r.opens++;
                },
                onGap: info => { r.gaps.push(info); },
            });
            r.obj = window.SSELITE.open(url, o);
            for (const t of types)
                r.obj.on(t, e => push(r, e));
            return recs.length - 1;
        },

        htmx(url, swapTypes) {
            const r = record('htmx', url);
            const box = document.createElement('div');
            box.setAttribute('hx-ext', 'sse');
            box.setAttribute('sse-connect', url);
            const list = document.createElement('div');
            list.className = 'items';
            list.setAttribute('sse-swap', swapTypes.join(','));
            list.setAttribute('hx-swap', 'beforeend');
            box.appendChild(list);
            document.body.appendChild(box);
            box.addEventListener('htmx:sseOpen', () => { r.opens++; });
            box.addEventListener('htmx:sseError', () => { r.errors.push([Math.round(performance.now()), -1]); });
            htmx.process(box);
            r.obj = { box, list, close() { htmx.remove(box); },
                      get readyState() { return -1; } };
            return recs.length - 1;
        },

        info(i) {
            const r = recs[i];
            let n = r.events.length;
            let last = n ? r.events[n - 1][0] : null;
            if (r.kind === 'htmx') {
                const ticks = this.events(i);
                n = ticks.length;
                last = n ? ticks[n - 1][0] : null;
            }
            return { n, last, opens: r.opens, errors: r.errors, states: r.states, gaps: r.gaps,
                     readyState: r.obj.readyState,
                     lastEventId: r.kind === 'lib' ? r.obj.lastEventId : undefined,
                     leader: r.kind === 'lib' ? r.obj.leader : undefined };
        },

        events(i, from) {
            const r = recs[i];
            if (r.kind === 'htmx')   // "tick N" swapped in, one after another
                return Array.from(r.obj.list.textContent.matchAll(/tick (\d+)/g),
                                  m => [m[1], 'swap', m[0], 0]);
            return r.events.slice(from || 0);
        },

        lastId(i) {
            const v = this.info(i).last;
            return v == null ? 0 : Number(v);
        },

        close(i) {
            recs[i].obj.close();
        },
    };
})();
