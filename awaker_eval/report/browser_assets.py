"""The sample browser's stylesheet and script (static text, no external library: the page works from file://).

The script reads ``window.SAMPLE_DATA`` (the sidecar ``samples_data.js``), filters it in memory and renders one
page of ``PAGE_SIZE`` samples at a time, so 30,000 samples never become 30,000 DOM nodes. Every value from the
data is put into the page as text (``textContent``), never as HTML. The filter state lives in the URL fragment
(``#status=wrong&category=count&q=bus&open=ID``), so a link can open the browser on a filtered view.
"""

from __future__ import annotations

PAGE_SIZE = 50

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;font-size:15px;line-height:1.4;margin:1.5em auto;max-width:72em;padding:0 1em;
color:#222;overflow-wrap:anywhere}
h1{margin:0 0 .2em;font-size:1.6em} p.sub{color:#555;margin:0 0 1em}
#controls{display:flex;flex-wrap:wrap;gap:.6em 1em;align-items:flex-end;padding:.7em;background:#f4f4f6;
border:1px solid #ddd;border-radius:6px}
#controls label{display:flex;flex-direction:column;font-size:.85em;color:#444;max-width:100%}
#controls select,#controls input{font-size:15px;padding:3px 4px;max-width:22em}
#controls input[type=search]{width:20em}
#summary{margin:.8em 0 .4em;font-weight:600}
.pager{display:flex;gap:.5em;align-items:center;margin:.6em 0;flex-wrap:wrap}
.pager button{font-size:14px;padding:2px 10px}
.sample{display:grid;grid-template-columns:132px minmax(0,1fr);gap:.8em;border:1px solid #ddd;border-radius:6px;
padding:.6em;margin:.5em 0;background:#fff}
.sample.is-open{border-color:#777;box-shadow:0 1px 4px rgba(0,0,0,.15)}
.thumb{width:128px;max-height:128px;object-fit:contain;background:#eee;border-radius:3px}
.noimg{width:128px;height:72px;display:flex;align-items:center;justify-content:center;background:#f0f0f0;color:#777;
font-size:.8em;text-align:center;border-radius:3px}
.head{display:flex;flex-wrap:wrap;gap:.3em .7em;align-items:baseline}
.open{font:inherit;font-weight:600;color:#0b57d0;background:none;border:0;padding:0;cursor:pointer;text-align:left;
overflow-wrap:anywhere}
.open:hover{text-decoration:underline}
.badge{font-size:.8em;font-weight:700;padding:1px 7px;border-radius:9px;color:#fff;white-space:nowrap}
.b-correct{background:#1b5e20}.b-wrong{background:#b00020}.b-unparsable{background:#8a5a00}.b-failed{background:#555}
.b-hidden{background:#3d5a80}
.levels{color:#555;font-size:.9em}
.facts{margin:.25em 0;font-size:.95em}
.snippet{font-family:ui-monospace,monospace;font-size:13.5px;color:#333;white-space:pre-wrap;margin:.2em 0 0}
.detail{margin-top:.6em;border-top:1px solid #eee;padding-top:.5em}
.detail h4{margin:.7em 0 .2em;font-size:.95em}
.detail small{font-weight:normal;color:#666}
.detail pre{white-space:pre-wrap;overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:13.5px;
background:#f7f7f9;border:1px solid #e4e4e8;padding:.5em;margin:0;max-height:30em;overflow:auto}
.detail figure{margin:0}.detail figure img{max-width:100%;height:auto;border:1px solid #ddd}
.detail figcaption{font-size:.85em;color:#555}
.warn{color:#b00020}
table.routing{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums;max-width:100%}
table.routing td,table.routing th{border:1px solid #ddd;padding:1px 6px;text-align:right}
a{color:#0b57d0}
"""

JS = r"""
(function () {
  'use strict';
  const D = window.SAMPLE_DATA;
  const PAGE = D.page_size;
  const STATUS_TEXT = {correct: 'correct', wrong: 'wrong', unparsable: 'unparsable', failed: 'failed',
                       hidden: 'answer hidden'};
  const R = {ID: 0, STATUS: 1, LEVELS: 2, PROMPT: 3, PSTATUS: 4, OUTPUT: 5, ERROR: 6, LETTER: 7, METHOD: 8,
             ANSWER: 9, THUMB: 10, ROUTING: 11, IMAGE: 12, UNIT: 13, CUT: 14, ORIGINAL: 15};
  const rows = D.rows;
  const state = {status: '', levels: {}, q: '', page: 1, open: null};
  let filtered = [];
  let hay = null;
  let lastHash = null;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined && kid !== false)
      e.appendChild(typeof kid === 'string' || typeof kid === 'number' ? document.createTextNode(String(kid)) : kid);
    return e;
  }
  function promptText(p) {
    return Array.isArray(p) ? p.map(x => typeof x === 'number' ? D.lines[x] : x).join('\n') : p;
  }
  function levelNames(r) {
    return D.levels.map((lv, k) => r[R.LEVELS][k] < 0 ? null : lv.names[r[R.LEVELS][k]]).filter(x => x !== null);
  }
  function haystack(i) {
    if (hay === null) hay = new Array(rows.length);
    if (hay[i] === undefined) {
      const r = rows[i];
      hay[i] = [r[R.ID], promptText(r[R.PROMPT]), r[R.OUTPUT], r[R.ERROR], r[R.IMAGE] || ''].join('\n').toLowerCase();
    }
    return hay[i];
  }
  function matches(i) {
    const r = rows[i];
    if (state.status && r[R.STATUS] !== state.status) return false;
    for (const [k, g] of Object.entries(state.levels)) {
      const lv = D.levels.findIndex(l => l.key === k);
      if (lv >= 0 && g !== '' && D.levels[lv].groups[r[R.LEVELS][lv]] !== g) return false;
    }
    if (state.q) {
      const h = haystack(i);
      for (const t of state.q.toLowerCase().split(/\s+/)) if (t && !h.includes(t)) return false;
    }
    return true;
  }

  // ---- URL fragment <-> state ------------------------------------------------------------------------------
  function readHash() {
    const h = new URLSearchParams(location.hash.replace(/^#/, ''));
    state.status = h.get('status') || '';
    state.levels = {};
    for (const lv of D.levels) if (h.get(lv.key)) state.levels[lv.key] = h.get(lv.key);
    state.q = h.get('q') || '';
    state.page = Math.max(1, parseInt(h.get('page') || '1', 10) || 1);
    state.open = h.get('open');
  }
  function writeHash() {
    const h = new URLSearchParams();
    if (state.status) h.set('status', state.status);
    for (const [k, v] of Object.entries(state.levels)) if (v) h.set(k, v);
    if (state.q) h.set('q', state.q);
    if (state.page > 1) h.set('page', state.page);
    if (state.open) h.set('open', state.open);
    lastHash = '#' + h.toString();
    try { history.replaceState(null, '', lastHash); } catch (e) { /* file:// may refuse: the view still works */ }
  }

  // ---- controls ---------------------------------------------------------------------------------------------
  function option(value, text) { return el('option', {value: value}, text); }
  function buildControls() {
    const box = document.getElementById('controls');
    const st = el('select', {id: 'status', onchange: e => { state.status = e.target.value; state.page = 1; update(); }},
                  option('', `all (${rows.length})`));
    for (const s of D.statuses) if (D.status_counts[s]) st.appendChild(option(s, `${STATUS_TEXT[s]} (${D.status_counts[s]})`));
    box.appendChild(el('label', {}, 'outcome', st));
    D.levels.forEach((lv, k) => {
      const sel = el('select', {'data-level': lv.key, id: 'level-' + lv.key,
                                onchange: e => { state.levels[lv.key] = e.target.value; state.page = 1; update(); }},
                     option('', `all (${rows.length})`));
      lv.groups.forEach((g, j) => sel.appendChild(option(g, `${lv.names[j]} (${lv.counts[j]})`)));
      box.appendChild(el('label', {}, lv.label, sel));
    });
    let timer = null;
    const q = el('input', {type: 'search', id: 'search', placeholder: 'id, prompt or output text',
                           oninput: e => { clearTimeout(timer); timer = setTimeout(() => {
                             state.q = e.target.value.trim(); state.page = 1; update(); }, 150); }});
    box.appendChild(el('label', {}, 'search', q));
  }
  function syncControls() {
    document.getElementById('status').value = state.status;
    for (const lv of D.levels) document.getElementById('level-' + lv.key).value = state.levels[lv.key] || '';
    const q = document.getElementById('search');
    if (q.value.trim() !== state.q) q.value = state.q;
  }

  // ---- rendering ---------------------------------------------------------------------------------------------
  function thumb(r, cls) {
    if (r[R.THUMB]) return el('img', {class: cls, src: r[R.THUMB], loading: 'lazy', alt: 'image of ' + r[R.ID]});
    return el('div', {class: 'noimg'}, r[R.IMAGE] ? 'no thumbnail' : 'no image');
  }
  function method(r) {
    const m = r[R.METHOD];
    if (r[R.STATUS] === 'failed') return 'nothing: the sample failed';
    return m === 'rule' ? `rule, extractor ${D.extractor}` : m === 'judge' ? 'LLM judge' : m === 'none' ? 'no rule matched' : m;
  }
  function routingTable(rt) {
    const [mode, routers, phases] = rt;
    const width = Math.max(1, routers.length);
    const t = el('table', {class: 'routing'});
    const head = el('tr', {}, el('th', {}, 'layer'));
    for (const ph of Object.keys(phases)) for (const name of routers) head.appendChild(el('th', {}, `${ph} ${name}`));
    t.appendChild(head);
    const layers = Math.max(...Object.values(phases).map(p => Math.ceil(p[0].length / width)));
    for (let l = 0; l < layers; l++) {
      const tr = el('tr', {}, el('td', {}, l));
      for (const [ex, pr] of Object.values(phases)) routers.forEach((_, k) => {
        const e = ex[l * width + k], p = pr ? pr[l * width + k] : null;
        const cell = e === undefined || e === null ? '-' : p === undefined || p === null ? `${e}` : `${e} (${p}%)`;
        tr.appendChild(el('td', {}, cell));
      });
      t.appendChild(tr);
    }
    return el('div', {}, el('p', {}, `routing mode ${mode}: chosen expert (its probability) per layer and router`), t);
  }
  function withRouting(k, cb) {
    const have = () => window.SAMPLE_ROUTING && window.SAMPLE_ROUTING[Math.floor(k / D.routing_chunk)];
    if (have() || !D.routing_dir) return cb(have());
    const name = String(Math.floor(k / D.routing_chunk)).padStart(4, '0');
    const s = el('script', {src: `${D.routing_dir}/${name}.js`});
    s.onload = s.onerror = () => cb(have());
    document.head.appendChild(s);
  }
  function detail(i) {
    const r = rows[i];
    const box = el('div', {class: 'detail'});
    const cap = el('figcaption', {}, r[R.IMAGE] ? 'image ' + r[R.IMAGE] : 'no image');
    if (r[R.ORIGINAL]) cap.append(' · ', el('a', {href: r[R.ORIGINAL]}, 'full-size original'));
    box.appendChild(el('figure', {}, thumb(r, 'full'), cap));
    const note = D.prompt_notes[r[R.PSTATUS]];
    box.appendChild(el('h4', {}, 'Prompt ', el('small', {class: r[R.PSTATUS] === 'exact' ? '' : 'warn'}, '(' + note + ')')));
    box.appendChild(el('pre', {class: 'prompt'}, promptText(r[R.PROMPT])));
    box.appendChild(el('h4', {}, 'Raw output', r[R.CUT] ? el('small', {}, ` (first ${D.max_output} characters)`) : null));
    box.appendChild(el('pre', {class: 'output'}, r[R.OUTPUT] === null ? '(no output)' : r[R.OUTPUT]));
    if (r[R.ERROR]) { box.appendChild(el('h4', {}, 'Error')); box.appendChild(el('pre', {class: 'error'}, r[R.ERROR])); }
    box.appendChild(el('p', {class: 'facts'}, `extracted `, el('b', {}, r[R.LETTER] || '(none)'), ` by ${method(r)}; answer `,
                       el('b', {}, r[R.ANSWER] || '(hidden)'), ` → ${STATUS_TEXT[r[R.STATUS]]}`,
                       r[R.UNIT] ? ` · scoring unit ${r[R.UNIT]}` : ''));
    if (r[R.ROUTING] >= 0) {
      const slot = el('div', {class: 'routing-box'}, el('h4', {}, 'Expert routing'), el('p', {}, 'loading…'));
      box.appendChild(slot);
      withRouting(r[R.ROUTING], chunk => {
        slot.lastChild.remove();
        const rt = chunk && chunk[r[R.ROUTING] % D.routing_chunk];
        slot.appendChild(rt ? routingTable(rt) : el('p', {}, `routing records not found (${D.routing_dir}/)`));
      });
    }
    return box;
  }
  function card(i) {
    const r = rows[i];
    const open = state.open === r[R.ID];
    const snippet = r[R.OUTPUT] === null ? '(no output)' : r[R.OUTPUT].length > 240 ? r[R.OUTPUT].slice(0, 240) + '…' : r[R.OUTPUT];
    const body = el('div', {class: 'body'},
      el('div', {class: 'head'},
         el('button', {class: 'open', type: 'button', title: open ? 'close' : 'open this sample',
                       onclick: () => { state.open = open ? null : r[R.ID]; render(); }}, r[R.ID]),
         el('span', {class: 'badge b-' + r[R.STATUS]}, STATUS_TEXT[r[R.STATUS]]),
         el('span', {class: 'levels'}, levelNames(r).join(' · '))),
      el('div', {class: 'facts'}, 'answer ', el('b', {}, r[R.ANSWER] || '(hidden)'), ' · extracted ',
         el('b', {}, r[R.LETTER] || '(none)'), ` by ${method(r)}`),
      el('pre', {class: 'snippet'}, r[R.ERROR] ? r[R.ERROR] : snippet));
    if (open) body.appendChild(detail(i));
    return el('article', {class: 'sample' + (open ? ' is-open' : ''), 'data-id': r[R.ID], 'data-status': r[R.STATUS]},
              thumb(r, 'thumb'), body);
  }
  function pager() {
    const pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    const go = p => () => { state.page = Math.min(pages, Math.max(1, p)); render(); window.scrollTo(0, 0); };
    return el('div', {class: 'pager'},
      el('button', {type: 'button', onclick: go(1), disabled: state.page <= 1 ? '' : null}, '« first'),
      el('button', {type: 'button', onclick: go(state.page - 1), disabled: state.page <= 1 ? '' : null}, '‹ previous'),
      el('span', {class: 'page-of'}, `page ${state.page} of ${pages}`),
      el('button', {type: 'button', onclick: go(state.page + 1), disabled: state.page >= pages ? '' : null}, 'next ›'),
      el('button', {type: 'button', onclick: go(pages), disabled: state.page >= pages ? '' : null}, 'last »'));
  }
  function render() {
    const pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    if (state.page > pages) state.page = pages;
    const start = (state.page - 1) * PAGE;
    const list = document.getElementById('list');
    list.replaceChildren(pager());
    for (const i of filtered.slice(start, start + PAGE)) list.appendChild(card(i));
    if (filtered.length > PAGE) list.appendChild(pager());
    document.getElementById('count').textContent = String(filtered.length);
    document.getElementById('summary').lastChild.textContent =
      filtered.length ? ` of ${rows.length} samples match; showing ${start + 1}-${Math.min(start + PAGE, filtered.length)}`
                      : ` of ${rows.length} samples match`;
    writeHash();
  }
  function update() {
    filtered = [];
    for (let i = 0; i < rows.length; i++) if (matches(i)) filtered.push(i);
    if (state.open && state.page === 1) {  // a link to one sample opens the page it is on
      const pos = filtered.findIndex(i => rows[i][R.ID] === state.open);
      if (pos >= PAGE) state.page = Math.floor(pos / PAGE) + 1;
    }
    render();
  }
  window.addEventListener('hashchange', () => {
    if (location.hash === lastHash) return;
    readHash(); syncControls(); update();
  });
  buildControls();
  readHash();
  syncControls();
  update();
  window.sampleBrowser = {state: state, update: update, filtered: () => filtered.map(i => rows[i][R.ID])};
})();
"""
