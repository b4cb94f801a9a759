// Loom's web UI: one page, hash-routed (#/workflows, #/workflows/NAME, #/workflow-templates,
// #/workflow-templates/NAME, #/cron-workflows, #/training, #/models, #/jobs, #/jobs/NAME). Plain
// DOM and SVG, no framework; every view polls the JSON API under /api/v1/ while it is shown and stops when
// another view replaces it.
'use strict';

const NS = 'default';
const SVGNS = 'http://www.w3.org/2000/svg';
let viewToken = 0;          // bumped on every navigation: pollers of an old view stop
const timers = new Set();

// ---- helpers ----------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'style') e.style.cssText = v;  // CSSOM: allowed by the CSP, unlike the attribute
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c.nodeType ? c : String(c));
  return e;
}
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c.nodeType ? c : String(c));
  return e;
}
async function api(path, options = {}) {
  const init = { method: options.method || 'GET', headers: {} };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers['Content-Type'] = 'application/json';
  } else if (init.method !== 'GET') {
    init.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch('/api/v1/' + path, init);
  // Not logged in (the token changed, or the cookie went): to the login page.
  if (r.status === 401) { location.href = '/login'; throw new Error('not logged in'); }
  const text = await r.text();
  let body;
  try { body = text ? JSON.parse(text) : {}; } catch (e) { body = { error: text }; }
  if (!r.ok) throw new Error(body.error || body.message || (r.status + ' ' + r.statusText));
  return body;
}
function toast(message) {
  const t = el('div', {}, message);
  document.getElementById('toast').append(t);
  setTimeout(() => t.remove(), 6000);
}
// Calls fn now and every `ms` while the current view is shown.
function poll(fn, ms) {
  const token = viewToken;
  let timer = null;
  const tick = async () => {
    if (token !== viewToken) return;
    try { await fn(); } catch (e) { console.error(e); }
    if (token !== viewToken) return;
    timer = setTimeout(tick, ms);
    timers.add(timer);
  };
  tick();
}
function stopPolling() { viewToken++; for (const t of timers) clearTimeout(t); timers.clear(); }
function phaseBadge(phase) { return el('span', { class: 'phase ' + (phase || 'Pending') }, phase || 'Pending'); }
function parseTime(t) { return t ? Date.parse(t) : NaN; }
function fmtTime(t) {
  const ms = parseTime(t);
  return isNaN(ms) ? '' : new Date(ms).toLocaleString();
}
function fmtDuration(start, end) {
  const a = parseTime(start);
  if (isNaN(a)) return '';
  const b = isNaN(parseTime(end)) ? Date.now() : parseTime(end);
  let s = Math.max(0, Math.round((b - a) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + s + 's';
}
function setMain(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children);
  return main;
}
function fmtNum(v) {
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

// ---- a paged, followed log ----------------------------------------------------------------
// url(offset, limit) gives the API path of a page ({content, offset, nextOffset, totalSize}).
// Opens at the tail; "Earlier" pages backwards; "Follow" polls for what is appended.
function logViewer(url, opts = {}) {
  const pageSize = 64 * 1024;
  const maxShown = 4 * 1024 * 1024;
  const pre = el('pre', { class: 'log', tabindex: '0', 'aria-label': 'log' });
  const info = el('span', { class: 'muted' });
  const follow = el('input', { type: 'checkbox', checked: opts.follow !== false });
  const earlier = el('button', { class: 'secondary', type: 'button' }, 'Earlier');
  let start = -1, next = 0, total = 0, loading = false;
  const update = () => {
    info.textContent = `bytes ${start}–${next} of ${total}`;
    earlier.disabled = start <= 0;
  };
  const atBottom = () => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  async function first() {
    const p = await api(url(-pageSize, pageSize));
    start = p.offset; next = p.nextOffset; total = p.totalSize;
    pre.textContent = p.content;
    pre.scrollTop = pre.scrollHeight;
    update();
  }
  async function more() {
    if (loading || start < 0) return;
    loading = true;
    try {
      const stick = atBottom();
      const p = await api(url(next, pageSize));
      if (p.content) {
        pre.append(p.content);
        if (pre.textContent.length > maxShown) {
          pre.textContent = pre.textContent.slice(-maxShown / 2);
          start = p.nextOffset - pre.textContent.length;
        }
        if (stick) pre.scrollTop = pre.scrollHeight;
      }
      next = p.nextOffset; total = p.totalSize;
      update();
    } finally { loading = false; }
  }
  earlier.addEventListener('click', async () => {
    const from = Math.max(0, start - pageSize);
    const p = await api(url(from, start - from));
    const height = pre.scrollHeight;
    pre.prepend(p.content);
    pre.scrollTop += pre.scrollHeight - height;
    start = from;
    update();
  });
  const box = el('div', { class: 'logbox' },
    el('div', { class: 'actions' }, earlier, el('label', {}, follow, ' Follow'), info), pre);
  first().then(() => poll(async () => { if (follow.checked) await more(); }, 1000))
    .catch(e => { pre.textContent = ''; box.append(el('p', { class: 'error' }, e.message)); });
  return box;
}

// ---- workflows -------------------------------------------------------------------------------
const SAMPLE = `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hello-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: echo, arguments: {parameters: [{name: msg, value: a}]}}
      - {name: b, template: echo, dependencies: [a], arguments: {parameters: [{name: msg, value: b}]}}
      - {name: c, template: echo, dependencies: [a], arguments: {parameters: [{name: msg, value: c}]}}
  - name: echo
    inputs: {parameters: [{name: msg}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.msg}}"]}
`;

// The workflow engine's pages: false (after saying so) when this server was built without it.
async function engineHere(title) {
  const info = await api('info');
  if (info.workflows) return true;
  setMain(el('h1', {}, title), el('p', { class: 'muted' }, 'This server was built without the workflow engine.'));
  return false;
}

// A folded panel with a YAML/JSON editor, `extra` inputs beside its button and an error line:
// send(text) posts the text and returns the page to open (a hash).
function editorPanel({ summary, note, sample, id, label, buttonId, buttonLabel, extra = [], send }) {
  const text = el('textarea', { id, 'aria-label': label, spellcheck: 'false' }, sample);
  const err = el('p', { class: 'error', id: buttonId + '-error' });
  const button = el('button', { type: 'button', id: buttonId }, buttonLabel);
  button.addEventListener('click', async () => {
    err.textContent = '';
    button.disabled = true;
    try { location.hash = await send(text.value); } catch (e) { err.textContent = e.message; } finally { button.disabled = false; }
  });
  return el('details', { class: 'panel', style: 'margin-top:14px' }, el('summary', {}, summary),
    el('p', { class: 'muted' }, note), text, el('div', { class: 'actions' }, extra, button), err);
}

async function workflowsView() {
  if (!await engineHere('Workflows')) return;
  const tbody = el('tbody');
  const count = el('span', { class: 'muted' });
  const params = el('input', { id: 'params', placeholder: 'name=value, name2=value2', 'aria-label': 'parameters' });
  setMain(
    el('h1', {}, 'Workflows ', count),
    el('div', { class: 'table-wrap' }, el('table', { id: 'workflow-list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Phase'), el('th', { class: 'hide-narrow' }, 'Started'),
        el('th', {}, 'Duration'), el('th', {}, 'Progress'), el('th', { class: 'hide-narrow' }, 'Message'))),
      tbody)),
    editorPanel({ summary: 'Submit a workflow', note: 'An Argo Workflow in YAML or JSON.', sample: SAMPLE,
      id: 'manifest', label: 'workflow manifest (YAML or JSON)', buttonId: 'submit', buttonLabel: 'Submit', extra: [params],
      send: async (manifest) => {
        const parameters = params.value.split(',').map(x => x.trim()).filter(Boolean);
        const wf = await api(`workflows/${NS}`, { method: 'POST', body: { manifest, submitOptions: { parameters } } });
        return '#/workflows/' + encodeURIComponent(wf.metadata.name);
      } }));
  poll(async () => {
    const list = await api(`workflows/${NS}`);
    const items = list.items || [];
    count.textContent = `(${items.length})`;
    tbody.replaceChildren(...items.map(wf => {
      const st = wf.status || {};
      const name = wf.metadata.name;
      return el('tr', { 'data-name': name },
        el('td', {}, el('a', { href: '#/workflows/' + encodeURIComponent(name) }, name)),
        el('td', {}, phaseBadge(st.phase)),
        el('td', { class: 'hide-narrow' }, fmtTime(st.startedAt)),
        el('td', {}, fmtDuration(st.startedAt, st.finishedAt)),
        el('td', {}, st.progress || ''),
        el('td', { class: 'hide-narrow muted' }, (st.message || '').slice(0, 80)));
    }));
    if (!items.length) tbody.append(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'No workflows yet.')));
  }, 2000);
}

const PHASE_COLOR = { Succeeded: '#1e9e5a', Failed: '#d23c3c', Error: '#d23c3c', Running: '#2f7fe0',
  Pending: '#9aa3ae', Skipped: '#b4bac3', Omitted: '#b4bac3' };

// Layers the node tree (status.nodes, edges = children) top to bottom by longest path from
// the workflow's root, and returns {pos: id -> {x, y}, width, height}.
function layoutGraph(nodes, rootId) {
  const depth = {};
  const ids = Object.keys(nodes);
  const indeg = {};
  for (const id of ids) indeg[id] = 0;
  for (const id of ids) for (const c of nodes[id].children || []) if (c in nodes) indeg[c]++;
  const queue = ids.filter(id => indeg[id] === 0);
  if (rootId in nodes && !queue.includes(rootId)) queue.unshift(rootId);
  for (const id of queue) depth[id] = 0;
  // Kahn's order: each node's depth = 1 + the deepest parent's.
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    for (const c of nodes[id].children || []) {
      if (!(c in nodes)) continue;
      depth[c] = Math.max(depth[c] || 0, depth[id] + 1);
      if (--indeg[c] === 0) queue.push(c);
    }
  }
  for (const id of ids) if (!(id in depth)) depth[id] = 0;  // a cycle: should not happen
  const layers = [];
  const order = queue.concat(ids.filter(id => !queue.includes(id)));
  for (const id of order) (layers[depth[id]] = layers[depth[id]] || []).push(id);
  const W = 170, nodeW = 150;
  const widest = Math.max(1, ...layers.map(l => l.length));
  const width = widest * W + 20;
  // A layer of only group nodes (drawn as small circles) takes less height than one with boxes.
  const pos = {};
  let y = 10;
  layers.forEach((layer) => {
    const offset = (width - layer.length * W) / 2;
    layer.forEach((id, i) => { pos[id] = { x: offset + i * W + (W - nodeW) / 2, y }; });
    y += layer.every(id => isGroupNode(nodes[id])) ? 44 : 74;
  });
  return { pos, width, height: y, nodeW, nodeH: 40 };
}

// Argo draws step groups and task groups as small circles, not boxes.
function isGroupNode(n) { return n.type === 'StepGroup' || n.type === 'TaskGroup'; }

function nodeLabel(n) {
  const label = n.displayName || n.name || n.id;
  return label.length > 20 ? label.slice(0, 19) + '…' : label;
}

async function workflowView(name) {
  const title = el('h1', {}, name, ' ');
  const phase = el('span');
  const summary = el('div', { class: 'summary' });
  const graph = el('div', { class: 'graph', id: 'graph' });
  const side = el('div', { class: 'side panel', id: 'node-panel' }, el('p', { class: 'muted' }, 'Select a node to see its inputs, outputs, timing and log.'));
  const action = (verb, cls) => el('button', { type: 'button', class: cls || 'secondary', onclick: async () => {
    try {
      if (verb === 'delete') {
        if (!confirm('Delete workflow ' + name + '?')) return;
        await api(`workflows/${NS}/${encodeURIComponent(name)}`, { method: 'DELETE' });
        location.hash = '#/workflows';
        return;
      }
      const wf = await api(`workflows/${NS}/${encodeURIComponent(name)}/${verb}`, { method: 'PUT', body: {} });
      toast(verb + ': ' + wf.metadata.name);
      if (wf.metadata.name !== name) location.hash = '#/workflows/' + encodeURIComponent(wf.metadata.name);
    } catch (e) { toast(verb + ' failed: ' + e.message); }
  } }, verb[0].toUpperCase() + verb.slice(1));
  setMain(el('p', {}, el('a', { href: '#/workflows' }, '← Workflows')), title,
    el('div', { class: 'actions' }, action('stop'), action('terminate'), action('suspend'), action('resume'),
      action('retry'), action('resubmit'), action('delete', 'danger')),
    el('div', { class: 'panel' }, summary),
    el('div', { class: 'row' }, el('div', { class: 'grow' }, graph), side));
  title.append(phase);
  let selected = null, lastWf = null;

  // The selected node's details are rebuilt on every poll; its log viewer only when another
  // node is selected (it follows the log by itself).
  const details = el('div');
  const logArea = el('div');
  function renderDetails() {
    const n = lastWf.status.nodes[selected];
    const params = (list) => (list || []).map(p => el('div', {}, el('b', {}, p.name), ' = ', String(p.value ?? '')));
    const arts = (list) => (list || []).map(a => el('div', {}, el('b', {}, a.name), ' ', a.path || (a.s3 ? `s3://${a.s3.bucket || ''}/${a.s3.key || ''}` : '')));
    const out = n.outputs || {};
    const rows = [
      ['Name', n.name], ['Type', n.type], ['Phase', phaseBadge(n.phase)], ['Template', n.templateName || ''],
      ...(n.podRuntime ? [['Runtime', n.podRuntime]] : []),
      ['Started', fmtTime(n.startedAt)], ['Finished', fmtTime(n.finishedAt)], ['Duration', fmtDuration(n.startedAt, n.finishedAt)],
      ['Message', n.message || ''],
      ['Inputs', el('div', {}, params(n.inputs && n.inputs.parameters), arts(n.inputs && n.inputs.artifacts))],
      ['Outputs', el('div', {}, params(out.parameters), arts(out.artifacts),
        out.result !== undefined ? el('div', {}, el('b', {}, 'result'), ' = ', String(out.result)) : null,
        out.exitCode !== undefined ? el('div', {}, el('b', {}, 'exitCode'), ' = ', String(out.exitCode)) : null)],
    ];
    details.replaceChildren(el('h2', {}, n.displayName || n.id),
      el('dl', { class: 'kv', id: 'node-details' }, rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
  }
  function showNode(id) {
    if (!lastWf.status.nodes[id]) return;
    selected = id;
    for (const g of graph.querySelectorAll('.node')) g.classList.toggle('selected', g.dataset.id === id);
    renderDetails();
    const n = lastWf.status.nodes[id];
    logArea.replaceChildren();
    if (n.type === 'Pod') {
      logArea.append(el('h2', {}, 'Log'), logViewer((o, l) =>
        `workflows/${NS}/${encodeURIComponent(name)}/nodes/${encodeURIComponent(id)}/log?offset=${o}&limit=${l}`));
    }
    side.replaceChildren(details, logArea);
  }

  function draw(wf) {
    const nodes = (wf.status && wf.status.nodes) || {};
    const rootId = Object.keys(nodes).find(id => nodes[id].name === name) || Object.keys(nodes)[0];
    const L = layoutGraph(nodes, rootId);
    const s = svg('svg', { width: L.width, height: L.height, viewBox: `0 0 ${L.width} ${L.height}`, role: 'group', 'aria-label': 'workflow graph' });
    for (const [id, n] of Object.entries(nodes)) {
      for (const c of n.children || []) {
        if (!L.pos[c]) continue;
        const a = L.pos[id], b = L.pos[c];
        const x1 = a.x + L.nodeW / 2, y1 = a.y + (isGroupNode(n) ? 20 : L.nodeH), x2 = b.x + L.nodeW / 2, y2 = b.y;
        s.append(svg('path', { class: 'edge', d: `M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2}` }));
      }
    }
    for (const [id, n] of Object.entries(nodes)) {
      const p = L.pos[id];
      const g = svg('g', { class: 'node' + (id === selected ? ' selected' : ''), 'data-id': id, 'data-phase': n.phase || 'Pending',
        'data-name': n.displayName || '', tabindex: '0', role: 'button', 'aria-label': `${n.displayName || id}: ${n.phase || 'Pending'}`,
        transform: `translate(${p.x},${p.y})` },
        ...(isGroupNode(n) ? [
          svg('circle', { cx: L.nodeW / 2, cy: 10, r: 10, fill: PHASE_COLOR[n.phase] || PHASE_COLOR.Pending }),
          svg('text', { x: L.nodeW / 2 + 16, y: 14, class: 'group-label' }, nodeLabel(n)),
        ] : [
          svg('rect', { width: L.nodeW, height: L.nodeH, rx: 8, fill: PHASE_COLOR[n.phase] || PHASE_COLOR.Pending }),
          svg('text', { x: 10, y: 17 }, nodeLabel(n)),
          svg('text', { x: 10, y: 32, 'font-size': '10' }, (n.type || '') + ' · ' + (n.phase || 'Pending')),
        ]),
        svg('title', {}, `${n.name}\n${n.type} ${n.phase || ''}`));
      g.addEventListener('click', () => showNode(id));
      g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); showNode(id); } });
      s.append(g);
    }
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('.graph .node');
    const focusId = focused ? focused.dataset.id : null;
    graph.replaceChildren(s);
    if (focusId) { const again = graph.querySelector(`.node[data-id="${CSS.escape(focusId)}"]`); if (again) again.focus(); }
  }

  poll(async () => {
    const wf = await api(`workflows/${NS}/${encodeURIComponent(name)}`);
    lastWf = wf;
    const st = wf.status || {};
    phase.replaceChildren(phaseBadge(st.phase));
    phase.id = 'workflow-phase';
    phase.dataset.phase = st.phase || 'Pending';
    summary.replaceChildren(...[['Started', fmtTime(st.startedAt)], ['Finished', fmtTime(st.finishedAt)],
      ['Duration', fmtDuration(st.startedAt, st.finishedAt)], ['Progress', st.progress || ''], ['Message', st.message || '']]
      .filter(([, v]) => v).map(([k, v]) => el('span', {}, el('span', { class: 'muted' }, k + ' '), v)));
    draw(wf);
    if (selected && st.nodes && st.nodes[selected]) renderDetails();
  }, 1000);

}

// ---- workflow templates ------------------------------------------------------------------------
// Argo UI's Workflow Templates: a list, one template (its spec as YAML or JSON, its parameters),
// a Submit form pre-filled with the parameters' defaults (POST workflows/{ns}/submit, then the
// new workflow's page) and Delete.

// YAML for showing a spec (not a general serializer): plain scalars where YAML reads them back
// as the same string, JSON-quoted strings otherwise, block literals for multi-line text.
function toYaml(value, indent = '') {
  const scalar = (v) => {
    if (v === null || v === undefined) return 'null';
    if (typeof v !== 'string') return JSON.stringify(v);
    const plain = /^[A-Za-z_/.][\w ./@()+-]*$/.test(v) && !/ $/.test(v) && !/^(true|false|null|yes|no|on|off|~)$/i.test(v);
    return plain ? v : JSON.stringify(v);
  };
  const block = (s, ind) => {
    const chomp = s.endsWith('\n') ? '|' : '|-';
    return chomp + '\n' + s.replace(/\n$/, '').split('\n').map(l => (l ? ind + l : '')).join('\n');
  };
  const multiline = (v) => typeof v === 'string' && v.includes('\n') && !/^\s/.test(v) && !/[ \t]\n/.test(v);
  const item = (v, ind) => {
    if (multiline(v)) return ' ' + block(v, ind + '  ');
    if (Array.isArray(v)) return v.length ? '\n' + toYaml(v, ind + '  ') : ' []';
    if (v && typeof v === 'object') return Object.keys(v).length ? '\n' + toYaml(v, ind + '  ') : ' {}';
    return ' ' + scalar(v);
  };
  if (Array.isArray(value)) {
    return value.map(v => {
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
        // "- key: value" with the other keys aligned under the first.
        const body = toYaml(v, indent + '  ');
        return indent + '- ' + body.slice(indent.length + 2);
      }
      return indent + '-' + item(v, indent);
    }).join('\n');
  }
  return Object.entries(value).map(([k, v]) => indent + scalar(k) + ':' + item(v, indent)).join('\n');
}

// A parameter's default: its value, else its default; undefined when it has neither.
function paramDefault(p) { return p.value !== undefined ? p.value : p.default; }

// A template's spec.arguments.parameters, [] when it has none.
function templateParams(t) {
  const args = ((t.spec || {}).arguments || {}).parameters;
  return Array.isArray(args) ? args : [];
}

const SAMPLE_TEMPLATE = `apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: hello-template
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: message
      value: hello
      description: what the step prints
  templates:
  - name: main
    container:
      image: alpine
      command: [echo, "{{workflow.parameters.message}}"]
`;

async function templatesView() {
  if (!await engineHere('Workflow Templates')) return;
  const tbody = el('tbody');
  const count = el('span', { class: 'muted' });
  setMain(
    el('h1', {}, 'Workflow Templates ', count),
    el('div', { class: 'table-wrap' }, el('table', { id: 'template-list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Created'), el('th', {}, 'Entrypoint'),
        el('th', {}, 'Templates'))),
      tbody)),
    editorPanel({ summary: 'Create a workflow template', note: 'A WorkflowTemplate in YAML or JSON (one with the same name is replaced).',
      sample: SAMPLE_TEMPLATE, id: 'template-manifest', label: 'workflow template (YAML or JSON)',
      buttonId: 'create-template', buttonLabel: 'Create',
      send: async (manifest) => {
        const t = await api(`workflow-templates/${NS}`, { method: 'POST', body: { manifest } });
        return '#/workflow-templates/' + encodeURIComponent(t.metadata.name);
      } }));
  poll(async () => {
    const list = await api(`workflow-templates/${NS}`);
    const items = list.items || [];
    count.textContent = `(${items.length})`;
    tbody.replaceChildren(...items.map(t => {
      const name = t.metadata.name;
      const spec = t.spec || {};
      return el('tr', { 'data-name': name },
        el('td', {}, el('a', { href: '#/workflow-templates/' + encodeURIComponent(name) }, name)),
        el('td', {}, fmtTime(t.metadata.creationTimestamp)),
        el('td', {}, spec.entrypoint || ''),
        el('td', {}, String((spec.templates || []).length)));
    }));
    if (!items.length) {
      tbody.append(el('tr', {}, el('td', { colspan: '4', class: 'muted', id: 'templates-empty' },
        'No workflow templates. Add one with ', el('code', {}, 'loom template create FILE'),
        ' (a WorkflowTemplate in YAML) or below.')));
    }
  }, 3000);
}

// ---- cron workflows ----------------------------------------------------------------------------
async function cronView() {
  if (!await engineHere('Cron Workflows')) return;
  const tbody = el('tbody');
  const count = el('span', { class: 'muted' });
  setMain(
    el('h1', {}, 'Cron Workflows ', count),
    el('div', { class: 'table-wrap' }, el('table', { id: 'cron-list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Schedules'), el('th', {}, 'Timezone'),
        el('th', {}, 'Last run'), el('th', {}, 'Next run'), el('th', {}, 'Active'), el('th', {}, 'Succeeded'),
        el('th', {}, 'Failed'), el('th', {}, 'Suspended'))),
      tbody)));
  poll(async () => {
    const list = await api(`cron-workflows/${NS}`);
    const items = list.items || [];
    count.textContent = `(${items.length})`;
    tbody.replaceChildren(...items.map(c => {
      const spec = c.spec || {};
      const status = c.status || {};
      const schedules = (spec.schedules && spec.schedules.length ? spec.schedules : [spec.schedule || '']).join(', ');
      const active = (status.active || []).map((a, i) => [i ? ', ' : '',
        el('a', { href: '#/workflows/' + encodeURIComponent(a.name) }, a.name)]).flat();
      const errors = (status.conditions || []).filter(x => x.status === 'True');
      return el('tr', { 'data-name': c.metadata.name },
        el('td', {}, c.metadata.name, ...errors.map(x => el('div', { class: 'error' }, `${x.type}: ${x.message}`))),
        el('td', {}, el('code', {}, schedules)),
        el('td', {}, spec.timezone || 'UTC'),
        el('td', {}, status.lastScheduledTime ? fmtTime(status.lastScheduledTime) : '-'),
        el('td', {}, spec.suspend ? '-' : (status.nextScheduledTime ? fmtTime(status.nextScheduledTime) : '-')),
        el('td', {}, ...active),
        el('td', {}, String(status.succeeded || 0)),
        el('td', {}, String(status.failed || 0)),
        el('td', {}, spec.suspend ? 'yes' : 'no'));
    }));
    if (!items.length) {
      tbody.append(el('tr', {}, el('td', { colspan: '9', class: 'muted', id: 'cron-empty' },
        'No cron workflows. Add one with ', el('code', {}, 'loom cron create FILE'), ' or ',
        el('code', {}, 'loom apply -f FILE'), '.')));
    }
  }, 3000);
}

async function templateView(name) {
  const t = await api(`workflow-templates/${NS}/${encodeURIComponent(name)}`);
  const spec = t.spec || {};
  const params = templateParams(t);

  // The spec, as YAML or JSON.
  const code = el('pre', { class: 'code', id: 'template-spec', tabindex: '0', 'aria-label': 'template spec' });
  const formats = {};
  const show = (fmt) => {
    code.textContent = fmt === 'json' ? JSON.stringify(t, null, 2) : toYaml(t) + '\n';
    code.dataset.format = fmt;
    for (const [f, b] of Object.entries(formats)) b.setAttribute('aria-pressed', String(f === fmt));
    localStorage.specFormat = fmt;
  };
  for (const fmt of ['yaml', 'json']) {
    formats[fmt] = el('button', { type: 'button', class: 'secondary', id: 'spec-' + fmt, onclick: () => show(fmt) }, fmt.toUpperCase());
  }

  // The parameters, and the submit form pre-filled with their defaults.
  const inputs = [];
  const paramRows = params.map((p, i) => {
    const value = paramDefault(p) ?? '';
    const id = 'param-' + i;
    let input;
    if (Array.isArray(p.enum) && p.enum.length) {
      input = el('select', { id, 'data-param': p.name }, p.enum.map(v => el('option', { value: String(v), selected: String(v) === String(value) }, String(v))));
    } else {
      input = el('input', { id, 'data-param': p.name, value: String(value) });
    }
    inputs.push([p.name, input, paramDefault(p) !== undefined]);
    return el('div', { class: 'param' },
      el('label', { for: id }, el('b', {}, p.name)), input,
      p.description ? el('div', { class: 'muted' }, p.description) : null);
  });
  const paramTable = el('table', { id: 'template-parameters' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Parameter'), el('th', {}, 'Default'), el('th', {}, 'Description'), el('th', {}, 'Enum'))),
    el('tbody', {}, params.length ? params.map(p => el('tr', { 'data-name': p.name },
      el('td', {}, p.name), el('td', {}, String(paramDefault(p) ?? '')),
      el('td', { class: 'wrap' }, p.description || ''), el('td', {}, Array.isArray(p.enum) ? p.enum.map(String).join(', ') : '')))
      : el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No parameters.'))));

  const entry = el('select', { id: 'entrypoint', 'aria-label': 'entrypoint' },
    (spec.templates || []).map(x => el('option', { value: x.name, selected: x.name === spec.entrypoint }, x.name)));
  const err = el('p', { class: 'error', id: 'submit-error' });
  const submit = el('button', { type: 'submit', id: 'submit-template' }, 'Submit');
  const form = el('form', { class: 'panel', id: 'submit-form' },
    el('h2', { style: 'margin-top:0' }, 'Submit'),
    el('div', { class: 'param' }, el('label', { for: 'entrypoint' }, el('b', {}, 'Entrypoint')), entry),
    paramRows, el('div', { class: 'actions' }, submit), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    submit.disabled = true;
    try {
      // A parameter left empty that had no value (one with valueFrom, or a required one) is not
      // sent: the template's own source, or the server's error naming it, applies.
      const parameters = inputs.filter(([, input, had]) => had || input.value !== '').map(([n, input]) => n + '=' + input.value);
      const submitOptions = { parameters };
      if (entry.value && entry.value !== spec.entrypoint) submitOptions.entryPoint = entry.value;
      const wf = await api(`workflows/${NS}/submit`, { method: 'POST',
        body: { namespace: NS, resourceKind: 'WorkflowTemplate', resourceName: name, submitOptions } });
      location.hash = '#/workflows/' + encodeURIComponent(wf.metadata.name);
    } catch (e2) { err.textContent = e2.message; } finally { submit.disabled = false; }
  });

  const del = el('button', { type: 'button', class: 'danger', id: 'delete-template', onclick: async () => {
    if (!confirm('Delete workflow template ' + name + '?')) return;
    try {
      await api(`workflow-templates/${NS}/${encodeURIComponent(name)}`, { method: 'DELETE' });
      location.hash = '#/workflow-templates';
    } catch (e) { toast('delete failed: ' + e.message); }
  } }, 'Delete');
  const toForm = el('button', { type: 'button', onclick: () => { form.scrollIntoView(); (inputs[0] ? inputs[0][1] : entry).focus(); } }, 'Submit…');

  setMain(el('p', {}, el('a', { href: '#/workflow-templates' }, '← Workflow Templates')), el('h1', {}, name),
    el('div', { class: 'actions' }, toForm, del),
    el('div', { class: 'panel summary' }, [['Created', fmtTime(t.metadata.creationTimestamp)], ['Entrypoint', spec.entrypoint || ''],
      ['Templates', String((spec.templates || []).length)], ['Parameters', String(params.length)]]
      .filter(([, v]) => v).map(([k, v]) => el('span', {}, el('span', { class: 'muted' }, k + ' '), v))),
    el('div', { class: 'row' },
      el('div', { class: 'grow' },
        el('h2', {}, 'Parameters'), el('div', { class: 'table-wrap' }, paramTable),
        el('h2', {}, 'Spec'), el('div', { class: 'actions', role: 'group', 'aria-label': 'spec format' }, formats.yaml, formats.json), code),
      el('div', { class: 'side' }, form)));
  show(localStorage.specFormat === 'json' ? 'json' : 'yaml');
}

// ---- training (TensorBoard's scalars view) -----------------------------------------------
const RUN_COLORS = ['#2f5fd0', '#e0642f', '#1e9e5a', '#b03bb0', '#d0a21e', '#2fb0c0', '#7a4a2a', '#d23c6c'];

// TensorBoard's smoothing: an exponential moving average debiased like Adam's moments, so the
// first points are not pulled towards 0.
function smooth(points, weight) {
  let last = 0, n = 0;
  return points.map(([step, , value]) => {
    if (!isFinite(value)) return [step, value];
    last = last * weight + (1 - weight) * value;
    n++;
    const debias = weight === 1 ? 1 : 1 - Math.pow(weight, n);
    return [step, last / debias];
  });
}

function chart(tag, series, weight) {
  const W = 560, H = 300, L = 58, R = 12, T = 10, B = 34;
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  for (const s of series) for (const [x, , y] of s.points) {
    if (!isFinite(y)) continue;
    xmin = Math.min(xmin, x); xmax = Math.max(xmax, x); ymin = Math.min(ymin, y); ymax = Math.max(ymax, y);
  }
  if (!isFinite(xmin)) return el('div', { class: 'chart' }, el('h3', {}, tag), el('p', { class: 'muted' }, 'no finite values'));
  if (xmax === xmin) { xmin -= 1; xmax += 1; }  // one step: centre it
  if (ymax === ymin) { ymax += Math.abs(ymax) * 0.05 || 1; ymin -= Math.abs(ymin) * 0.05 || 1; }
  const pad = (ymax - ymin) * 0.05; ymin -= pad; ymax += pad;
  const sx = x => L + (x - xmin) / (xmax - xmin) * (W - L - R);
  const sy = y => T + (1 - (y - ymin) / (ymax - ymin)) * (H - T - B);
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${tag} against step`, 'data-tag': tag });
  const xLabels = new Set();
  for (let i = 0; i <= 4; i++) {
    const y = ymin + (ymax - ymin) * i / 4, x = Math.round(xmin + (xmax - xmin) * i / 4);
    s.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: sy(y), y2: sy(y) }),
      svg('text', { x: L - 6, y: sy(y) + 4, 'text-anchor': 'end' }, fmtNum(y)));
    if (!xLabels.has(x)) {  // steps are integers: a narrow range would repeat labels
      xLabels.add(x);
      s.append(svg('text', { x: sx(x), y: H - B + 16, 'text-anchor': 'middle' }, fmtNum(x)));
    }
  }
  s.append(svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }), svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, 'step'));
  const path = pts => pts.filter(([, y]) => isFinite(y)).map(([x, y], i) => (i ? 'L' : 'M') + sx(x).toFixed(1) + ',' + sy(y).toFixed(1)).join('');
  for (const ser of series) {
    if (weight > 0) s.append(svg('path', { d: path(ser.points.map(([x, , y]) => [x, y])), fill: 'none', stroke: ser.color, 'stroke-opacity': 0.25, 'stroke-width': 1 }));
    const smoothed = smooth(ser.points, weight);
    s.append(svg('path', { class: 'series', 'data-run': ser.run, d: path(smoothed), fill: 'none', stroke: ser.color, 'stroke-width': 2 }));
    // A few points (an evaluation every N steps) would be an invisible line: mark each.
    if (smoothed.length <= 30) for (const [x, y] of smoothed) if (isFinite(y)) s.append(svg('circle', { cx: sx(x), cy: sy(y), r: 3.5, fill: ser.color }));
  }
  const last = series.map(ser => {
    const sm = smooth(ser.points, weight);
    const v = sm.length ? sm[sm.length - 1][1] : NaN;
    return el('span', {}, el('span', { class: 'swatch', style: `background:${ser.color}` }), `${ser.run}: ${fmtNum(v)}`);
  });
  return el('div', { class: 'chart' }, el('h3', {}, tag), s, el('div', { class: 'legend' }, last));
}

async function trainingView() {
  const runsBox = el('div', { class: 'runs', role: 'group', 'aria-label': 'runs' });
  const slider = el('input', { type: 'range', min: '0', max: '0.99', step: '0.01', value: localStorage.smoothing || '0.6', id: 'smoothing', 'aria-label': 'smoothing' });
  const sliderValue = el('span', {}, slider.value);
  const charts = el('div', { class: 'charts', id: 'charts' });
  const note = el('p', { class: 'muted' });
  setMain(el('h1', {}, 'Training'),
    el('div', { class: 'row' },
      el('div', { class: 'side panel', style: 'flex:0 1 260px' }, el('h2', { style: 'margin-top:0' }, 'Runs'), runsBox,
        el('h2', {}, 'Smoothing'), el('label', {}, slider, ' ', sliderValue), note),
      el('div', { class: 'grow' }, charts)));
  const checked = new Set(JSON.parse(localStorage.hiddenRuns || '[]'));  // runs the user unticked
  let runs = [], data = {};
  const render = () => {
    const w = Number(slider.value);
    const shown = runs.filter(r => !checked.has(r));
    const tags = [...new Set(shown.flatMap(r => Object.keys((data[r] && data[r].tags) || {})))].sort();
    charts.replaceChildren(...tags.map(tag => chart(tag, shown.filter(r => data[r] && data[r].tags[tag]).map(r => ({
      run: r, color: RUN_COLORS[runs.indexOf(r) % RUN_COLORS.length], points: data[r].tags[tag] })), w)));
    if (!tags.length) charts.append(el('p', { class: 'muted' }, runs.length ? 'No scalars in the selected runs.' : 'No runs yet.'));
  };
  slider.addEventListener('input', () => { sliderValue.textContent = slider.value; localStorage.smoothing = slider.value; render(); });
  poll(async () => {
    const r = await api('runs');
    note.textContent = 'logdir: ' + r.logdir;
    if (r.runs.join('\n') !== runs.join('\n')) {
      runs = r.runs;
      runsBox.replaceChildren(...runs.map((run, i) => el('label', {},
        el('input', { type: 'checkbox', checked: !checked.has(run), onchange: (e) => {
          if (e.target.checked) checked.delete(run); else checked.add(run);
          localStorage.hiddenRuns = JSON.stringify([...checked]);
          render();
        } }), ' ', el('span', { class: 'swatch', style: `background:${RUN_COLORS[i % RUN_COLORS.length]}` }), run)));
    }
    const fresh = {};
    await Promise.all(runs.map(async run => { fresh[run] = await api('scalars?run=' + encodeURIComponent(run)); }));
    data = fresh;
    render();
  }, 5000);
}

// ---- models -------------------------------------------------------------------------------
// Turns the drawing (white on black) into MNIST's format: the ink's bounding box scaled to fit
// 20x20 (keeping its aspect ratio), placed in 28x28 so its centre of mass is at the centre,
// values in [0, 1].
function mnistPixels(canvas) {
  const w = canvas.width, h = canvas.height;
  const src = canvas.getContext('2d').getImageData(0, 0, w, h).data;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (src[(y * w + x) * 4] > 20) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const scale = 20 / Math.max(bw, bh);
  const sw = Math.max(1, Math.round(bw * scale)), sh = Math.max(1, Math.round(bh * scale));
  const small = document.createElement('canvas');
  small.width = sw; small.height = sh;
  const sctx = small.getContext('2d');
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = 'high';
  sctx.drawImage(canvas, x0, y0, bw, bh, 0, 0, sw, sh);
  const sp = sctx.getImageData(0, 0, sw, sh).data;
  let mass = 0, cx = 0, cy = 0;
  for (let y = 0; y < sh; y++) for (let x = 0; x < sw; x++) {
    const v = sp[(y * sw + x) * 4];
    mass += v; cx += v * x; cy += v * y;
  }
  cx /= mass; cy /= mass;
  const ox = Math.round(14 - cx - 0.5), oy = Math.round(14 - cy - 0.5);
  const out = new Array(784).fill(0);
  for (let y = 0; y < sh; y++) for (let x = 0; x < sw; x++) {
    const tx = x + ox, ty = y + oy;
    if (tx < 0 || ty < 0 || tx >= 28 || ty >= 28) continue;
    out[ty * 28 + tx] = sp[(y * sw + x) * 4] / 255;
  }
  return out;
}

async function modelsView() {
  const tbody = el('tbody');
  const serverNote = el('p', { class: 'muted' });
  const select = el('select', { id: 'model', 'aria-label': 'model' });
  const canvas = el('canvas', { class: 'digit', id: 'digit', width: '280', height: '280', tabindex: '0', 'aria-label': 'drawing area: draw a digit with the mouse or a finger, or with the arrow keys (Space lifts and lowers the pen, Enter predicts, Escape clears)' });
  const preview = el('canvas', { width: '28', height: '28', style: 'width:84px;height:84px;image-rendering:pixelated;background:#000;border-radius:4px', 'aria-label': 'what the model sees' });
  const result = el('div', { class: 'bars', id: 'prediction', 'aria-live': 'polite' }, el('p', { class: 'muted' }, 'Draw a digit.'));
  const clear = el('button', { type: 'button', class: 'secondary', id: 'clear' }, 'Clear');
  setMain(el('h1', {}, 'Models'), serverNote,
    el('div', { class: 'table-wrap' }, el('table', { id: 'model-list' }, el('thead', {}, el('tr', {},
      el('th', {}, 'Model'), el('th', {}, 'Version'), el('th', {}, 'State'), el('th', {}, 'Status'))), tbody)),
    el('h2', {}, 'Draw a digit'),
    el('div', { class: 'draw-area' }, el('div', {}, canvas, el('div', { class: 'actions' }, select, clear)),
      el('div', {}, el('div', { class: 'muted' }, 'Model input (28×28)'), preview), result));
  const ctx = canvas.getContext('2d');
  const reset = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 280, 280); };
  reset();
  ctx.lineCap = 'round'; ctx.lineJoin = 'round'; ctx.strokeStyle = '#fff'; ctx.lineWidth = 20;
  let drawing = false, last = null;
  const at = (e) => { const r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * 280 / r.width, (e.clientY - r.top) * 280 / r.height]; };
  canvas.addEventListener('pointerdown', (e) => { drawing = true; last = at(e); canvas.setPointerCapture(e.pointerId);
    ctx.beginPath(); ctx.arc(last[0], last[1], 10, 0, 2 * Math.PI); ctx.fillStyle = '#fff'; ctx.fill(); });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const p = at(e);
    ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
    last = p;
  });
  const end = () => { if (!drawing) return; drawing = false; predict(); };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  // The keyboard draws too: arrows move the pen (drawing while it is down), Space lifts or
  // lowers it, Enter asks the model, Escape clears.
  let pen = [140, 140], penDown = false;
  canvas.addEventListener('keydown', (e) => {
    const step = { ArrowUp: [0, -10], ArrowDown: [0, 10], ArrowLeft: [-10, 0], ArrowRight: [10, 0] }[e.key];
    if (step) {
      const next = [Math.min(270, Math.max(10, pen[0] + step[0])), Math.min(270, Math.max(10, pen[1] + step[1]))];
      if (penDown) { ctx.beginPath(); ctx.moveTo(pen[0], pen[1]); ctx.lineTo(next[0], next[1]); ctx.stroke(); }
      pen = next;
    } else if (e.key === ' ') {
      penDown = !penDown;
      if (penDown) { ctx.beginPath(); ctx.arc(pen[0], pen[1], 10, 0, 2 * Math.PI); ctx.fillStyle = '#fff'; ctx.fill(); }
    } else if (e.key === 'Enter') {
      predict();
    } else if (e.key === 'Escape') {
      clear.click();
    } else {
      return;
    }
    e.preventDefault();
  });
  clear.addEventListener('click', () => { reset(); preview.getContext('2d').clearRect(0, 0, 28, 28); result.replaceChildren(el('p', { class: 'muted' }, 'Draw a digit.')); });

  async function predict() {
    const pixels = mnistPixels(canvas);
    if (!pixels) return;
    const img = preview.getContext('2d').createImageData(28, 28);
    pixels.forEach((v, i) => { img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = Math.round(v * 255); img.data[i * 4 + 3] = 255; });
    preview.getContext('2d').putImageData(img, 0, 0);
    if (!select.value) { result.replaceChildren(el('p', { class: 'error' }, 'No model to ask.')); return; }
    try {
      const r = await api(`models/${encodeURIComponent(select.value)}:predict`, { method: 'POST', body: { instances: [pixels] } });
      const p = r.predictions[0];
      const scores = p.scores || p;
      const best = p.classes !== undefined ? p.classes : scores.indexOf(Math.max(...scores));
      result.replaceChildren(el('div', { class: 'prediction', id: 'predicted-class', 'data-class': String(best) }, String(best)),
        ...scores.map((s, d) => el('div', { class: 'bar' + (d === best ? ' best' : '') }, el('span', {}, String(d)),
          el('div', {}, el('div', { class: 'fill', style: `width:${(s * 100).toFixed(1)}%` })), el('span', {}, s.toFixed(4)))));
    } catch (e) { result.replaceChildren(el('p', { class: 'error' }, e.message)); }
  }

  poll(async () => {
    const r = await api('models');
    serverNote.textContent = 'Model server: ' + r.modelServer;
    const rows = [];
    const names = [];
    for (const m of r.items) {
      if (m.error) { rows.push(el('tr', {}, el('td', {}, m.name), el('td', {}), el('td', {}, phaseBadge('Unavailable')), el('td', { class: 'error' }, m.error))); continue; }
      names.push(m.name);
      for (const v of m.model_version_status || []) {
        const st = v.status || {};
        rows.push(el('tr', {}, el('td', {}, m.name), el('td', {}, String(v.version)),
          el('td', {}, el('span', { class: 'phase ' + (v.state === 'AVAILABLE' ? 'Succeeded' : v.state === 'END' ? 'Skipped' : 'Running') }, v.state)),
          el('td', { class: 'muted' }, st.error_code && st.error_code !== 'OK' ? `${st.error_code}: ${st.error_message}` : 'OK')));
      }
    }
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No models.')));
    if (names.join() !== [...select.options].map(o => o.value).join()) {
      const keep = select.value;
      select.replaceChildren(...names.map(n => el('option', { value: n, selected: n === keep }, n)));
    }
  }, 3000);
}

// ---- jobs --------------------------------------------------------------------------------
async function jobsView() {
  const tbody = el('tbody');
  setMain(el('h1', {}, 'Jobs'), el('div', { class: 'table-wrap' }, el('table', { id: 'job-list' }, el('thead', {}, el('tr', {},
    el('th', {}, 'Name'), el('th', {}, 'Kind'), el('th', {}, 'Phase'), el('th', {}, 'Replicas'), el('th', { class: 'hide-narrow' }, 'Started'), el('th', {}, 'Duration'))), tbody)));
  poll(async () => {
    const r = await api('jobs');
    tbody.replaceChildren(...r.items.map(j => {
      const st = j.status || {};
      // A TFJob's or PyTorchJob's replicaStatuses by type; a TrainJob's nodes by state.
      const counts = st.jobsStatus
        ? Object.entries(((st.local || {}).replicas || []).reduce((n, r) => ({ ...n, [r.state]: (n[r.state] || 0) + 1 }), {}))
          .map(([s, n]) => `${n} node${n === 1 ? '' : 's'} ${s}`).join(', ')
        : Object.entries(st.replicaStatuses || {}).map(([t, c]) => `${t}: ${c.active || 0} active, ${c.succeeded || 0} ok, ${c.failed || 0} failed`).join('; ');
      return el('tr', {}, el('td', {}, el('a', { href: '#/jobs/' + encodeURIComponent(j.name) }, j.name)), el('td', { class: 'job-kind' }, j.kind || ''),
        el('td', {}, phaseBadge(j.phase)),
        el('td', {}, counts || j.error || ''), el('td', { class: 'hide-narrow' }, fmtTime(st.startTime)), el('td', {}, fmtDuration(st.startTime, st.completionTime)));
    }));
    if (!r.items.length) tbody.append(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'No jobs. Start one with loom job run.')));
  }, 2000);
}

async function jobView(name) {
  const tbody = el('tbody');
  const logArea = el('div', { id: 'job-log' });
  const conditions = el('div');
  setMain(el('p', {}, el('a', { href: '#/jobs' }, '← Jobs')), el('h1', {}, name),
    el('div', { class: 'table-wrap' }, el('table', { id: 'replica-list' }, el('thead', {}, el('tr', {},
      el('th', {}, 'Replica'), el('th', {}, 'Phase'), el('th', {}, 'Restarts'), el('th', {}, 'Exit code'), el('th', { class: 'hide-narrow' }, 'Address'), el('th', {}, 'Log'))), tbody)),
    el('h2', {}, 'Conditions'), conditions, logArea);
  const replicaPhase = { Running: 'Running', Succeeded: 'Succeeded', Failed: 'Failed', Pending: 'Pending' };
  poll(async () => {
    const j = await api('jobs/' + encodeURIComponent(name));
    const reps = ((j.status || {}).local || {}).replicas || [];
    tbody.replaceChildren(...reps.map(r => el('tr', {}, el('td', {}, r.name), el('td', {}, phaseBadge(replicaPhase[r.state] || r.state)),
      el('td', {}, String(r.restarts ?? 0)), el('td', {}, r.exitCode === undefined || r.exitCode === null ? '' : String(r.exitCode)),
      el('td', { class: 'hide-narrow' }, r.address || ''),
      el('td', {}, el('button', { type: 'button', class: 'secondary', onclick: () => {
        logArea.replaceChildren(el('h2', {}, r.name + ' log'), logViewer((o, l) => `jobs/${encodeURIComponent(name)}/logs/${encodeURIComponent(r.name)}?offset=${o}&limit=${l}`));
      } }, 'Log')))));
    conditions.replaceChildren(...((j.status || {}).conditions || []).map(c =>
      el('div', {}, phaseBadge(c.type), ' ', fmtTime(c.lastTransitionTime), ' ', el('span', { class: 'muted' }, c.message || ''))));
  }, 2000);
}

// ---- routing -------------------------------------------------------------------------------
async function route() {
  stopPolling();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const page = parts[0] || 'workflows';
  for (const a of document.querySelectorAll('nav a')) {
    const on = a.dataset.page === page;
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  try {
    if (page === 'workflows' && parts[1]) await workflowView(parts[1]);
    else if (page === 'workflows') await workflowsView();
    else if (page === 'workflow-templates' && parts[1]) await templateView(parts[1]);
    else if (page === 'workflow-templates') await templatesView();
    else if (page === 'cron-workflows') await cronView();
    else if (page === 'training') await trainingView();
    else if (page === 'models') await modelsView();
    else if (page === 'jobs' && parts[1]) await jobView(parts[1]);
    else if (page === 'jobs') await jobsView();
    else setMain(el('h1', {}, 'Not found'), el('p', {}, el('a', { href: '#/workflows' }, 'Workflows')));
  } catch (e) {
    setMain(el('h1', {}, 'Error'), el('p', { class: 'error' }, e.message));
  }
}
window.addEventListener('hashchange', () => { route(); document.getElementById('main').focus({ preventScroll: true }); });
window.addEventListener('DOMContentLoaded', route);
// The log-out button (a POST form: logging out changes state), when this server wants a token.
window.addEventListener('DOMContentLoaded', async () => {
  const info = await api('info').catch(() => ({}));
  if (info.authMode === 'client') document.querySelector('form.logout').hidden = false;
});
