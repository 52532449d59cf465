// The demo page: opens WebGPU through the wasm module, shows the adapter, validates the
// kernels and trains two students live. With ?auto=1 it runs both on its own and posts what
// happened to /report (scripts/web-check.sh reads those lines).
import init, { Demo } from './pkg/distill_web.js';

const params = new URLSearchParams(location.search);
const auto = params.get('auto') === '1';
const $ = (id) => document.getElementById(id);

// One line per event, for scripts/web-check.sh; a plain static server answers it with an
// error, which the page ignores.
async function post(kind, body) {
  try {
    await fetch('/report', { method: 'POST', body: JSON.stringify({ kind, ...body }) });
  } catch (_) { /* no reporting server */ }
}

function say(text, isError = false) {
  const el = $('message');
  el.textContent = text;
  el.className = isError ? 'error' : '';
}

function fail(kind, text) {
  say(text, true);
  return post(kind, { message: text });
}

window.addEventListener('error', (e) => fail('page-error', `Page error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => fail('page-error', `Page error: ${e.reason}`));

async function fetchBytes(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`could not load ${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// Text placed into innerHTML (kernel names, failure reports, adapter limits).
const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

function errorText(e) {
  return e && e.message ? e.message : String(e);
}

let browserAdapter = '';

function showAdapter(demo) {
  const adapter = JSON.parse(demo.adapter());
  adapter.browser_info = browserAdapter;
  $('adapter').textContent = `${browserAdapter} — through wgpu: ${adapter.description}`;
  const rows = adapter.limits.map(([name, value]) => `<tr><td>${escape(name)}</td><td class="num">${escape(value)}</td></tr>`);
  $('limits').innerHTML = rows.join('');
  $('adapter-section').hidden = false;
  return adapter;
}

function showValidation(report) {
  const summary = `${report.checks} checks, ${report.failed} failed, in ${report.seconds.toFixed(1)} s`;
  $('validation-summary').innerHTML = report.passed
    ? `<span class="pass">All passed</span>: ${summary}.`
    : `<span class="fail">Failures</span>: ${summary}.`;
  const head = '<tr><th>kernel</th><th>checks</th><th>result</th><th>max abs err</th><th>max rel err</th><th>atol / rtol</th></tr>';
  const rows = report.kernels.map((k) => `<tr><td>${escape(k.kernel)}</td><td class="num">${k.checks}</td>`
    + `<td class="${k.passed ? 'pass' : 'fail'}">${k.passed ? 'pass' : 'FAIL'}</td>`
    + `<td class="num">${k.max_abs_error.toExponential(2)}</td><td class="num">${k.max_rel_error.toExponential(2)}</td>`
    + `<td class="num">${k.atol_max.toExponential(0)} / ${k.rtol_max.toExponential(0)}</td></tr>`
    + k.failures.map((f) => `<tr><td colspan="6"><pre>${escape(f)}</pre></td></tr>`).join(''));
  $('kernels').innerHTML = head + rows.join('');
  $('validation').hidden = false;
}

// The loss curves: one line per student, loss against epoch.
const curves = { scratch: [], distilled: [] };
const colours = { scratch: '#c0392b', distilled: '#2471a3' };

function drawCurves(epochs) {
  const canvas = $('curve');
  const g = canvas.getContext('2d');
  const [w, h, left, bottom, top, right] = [canvas.width, canvas.height, 56, 34, 14, 110];
  g.clearRect(0, 0, w, h);
  const all = [...curves.scratch, ...curves.distilled].map((p) => p.loss);
  if (all.length === 0) return;
  const max = Math.max(...all) * 1.05;
  const x = (epoch) => left + ((epoch - 1) / Math.max(epochs - 1, 1)) * (w - left - right);
  const y = (loss) => h - bottom - (loss / max) * (h - bottom - top);
  g.strokeStyle = '#888'; g.fillStyle = '#444'; g.font = '12px sans-serif';
  g.beginPath(); g.moveTo(left, top); g.lineTo(left, h - bottom); g.lineTo(w - right, h - bottom); g.stroke();
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    g.fillText(v.toFixed(2), 20, y(v) + 4);
  }
  for (let e = 1; e <= epochs; e++) g.fillText(String(e), x(e) - 3, h - bottom + 16);
  g.fillText('epoch', (w - right) / 2, h - 4);
  g.save(); g.translate(12, top + 90); g.rotate(-Math.PI / 2); g.fillText('loss', 0, 0); g.restore();
  for (const [run, points] of Object.entries(curves)) {
    if (points.length === 0) continue;
    g.strokeStyle = colours[run]; g.lineWidth = 2; g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(p.epoch), y(p.loss)) : g.moveTo(x(p.epoch), y(p.loss))));
    g.stroke();
    g.fillStyle = colours[run];
    const last = points[points.length - 1];
    g.fillText(`${run} (loss)`, x(last.epoch) + 6, y(last.loss) + 4);
  }
}

function onEpoch(line) {
  const e = JSON.parse(line);
  curves[e.run].push(e);
  const row = document.createElement('tr');
  row.innerHTML = `<td>${e.run}</td><td class="num">${e.epoch}/${e.epochs}</td><td class="num">${e.loss.toFixed(4)}</td>`
    + `<td class="num">${e.test_errors} / ${e.test_count}</td><td class="num">${e.samples_per_second.toFixed(0)}</td>`;
  $('runs').appendChild(row);
  const done = curves.scratch.length + curves.distilled.length;
  $('progress').value = done / (2 * e.epochs);
  say(`Training the ${e.run} student: epoch ${e.epoch} of ${e.epochs}, ${e.test_errors} test errors.`);
  drawCurves(e.epochs);
  post('epoch', e);
}

async function loadFiles() {
  const files = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
    't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => fetchBytes(`data/${f}`));
  files.push(fetchBytes('models/teacher-mnist10k.safetensors'));
  return Promise.all(files);
}

async function validate(demo) {
  say('Validating every kernel against the CPU reference…');
  const report = JSON.parse(await demo.validate($('quick').checked));
  showValidation(report);
  say(report.passed ? `Validation passed: ${report.checks} checks.` : `Validation FAILED: ${report.failed} of ${report.checks} checks.`, !report.passed);
  return report;
}

async function train(demo) {
  curves.scratch.length = 0; curves.distilled.length = 0;
  $('runs').querySelectorAll('tr:not(:first-child)').forEach((r) => r.remove());
  $('training').hidden = false; $('progress').hidden = false; $('progress').value = 0;
  say('Loading the MNIST slice and the teacher…');
  const [trainImages, trainLabels, testImages, testLabels, teacher] = await loadFiles();
  const options = {
    train_samples: Number(params.get('samples') || $('samples').value),
    epochs: Number(params.get('epochs') || $('epochs').value),
  };
  // Optional URL settings: ?temperature=4&alpha=0.5&batch=128&lr=0.001&hidden=300,300&seed=2
  for (const key of ['temperature', 'alpha', 'batch', 'lr', 'seed']) {
    if (params.has(key)) options[key] = Number(params.get(key));
  }
  if (params.has('hidden')) options.hidden = params.get('hidden').split(',').map(Number);
  say('Training the scratch student…');
  const report = JSON.parse(await demo.distill(trainImages, trainLabels, testImages, testLabels,
    teacher, JSON.stringify(options), onEpoch));
  $('teacher').textContent = `Teacher ${report.teacher.join('-')}: ${report.teacher_errors} test errors. `
    + `Students trained on ${report.train_samples} samples.`;
  const [scratch, distilled] = report.runs;
  say(`Done. Test errors: scratch ${scratch.test_errors}, distilled ${distilled.test_errors} (of ${scratch.test_count}).`);
  return report;
}

async function busy(action) {
  for (const b of document.querySelectorAll('button')) b.disabled = true;
  try { return await action(); } finally {
    for (const b of document.querySelectorAll('button')) b.disabled = false;
  }
}

async function main() {
  if (!navigator.gpu) {
    return fail('no-webgpu', 'This browser offers no WebGPU (navigator.gpu is missing). Use a '
      + 'recent Chrome, Edge or Firefox with WebGPU enabled; headless Chromium needs '
      + '--enable-unsafe-webgpu. The page must be served from https or localhost.');
  }
  // A browser can expose the API and still offer no adapter (GPU blocklisted, WebGPU off).
  const probe = await navigator.gpu.requestAdapter();
  if (!probe) {
    return fail('no-adapter', 'WebGPU is present but offers no adapter: this GPU or driver may be '
      + 'blocklisted, or WebGPU disabled in the browser settings (chrome://gpu shows why).');
  }
  // wgpu cannot see the adapter's name in a browser; the page's own GPUAdapterInfo can.
  const info = probe.info || {};
  browserAdapter = ['vendor', 'architecture', 'device', 'description']
    .map((k) => info[k]).filter(Boolean).join(' / ') || 'unnamed adapter';
  say('Opening WebGPU…');
  await init();
  let demo;
  try {
    demo = await Demo.open(params.get('small_limits') === '1');
  } catch (e) {
    return fail('refused', `This GPU cannot run distill-wgpu: ${errorText(e)}`);
  }
  const adapter = showAdapter(demo);
  $('actions').hidden = false;
  say(`Ready on ${browserAdapter}.`);
  post('adapter', adapter);
  $('validate').onclick = () => busy(() => validate(demo)).catch((e) => fail('error', `Validation stopped: ${errorText(e)}`));
  $('train').onclick = () => busy(() => train(demo)).catch((e) => fail('error', `Training stopped: ${errorText(e)}`));
  if (!auto) return;
  try {
    if (params.get('validate') !== '0') {
      const validation = await busy(() => validate(demo));
      await post('validation', { checks: validation.checks, failed: validation.failed, passed: validation.passed,
        seconds: validation.seconds, failures: validation.kernels.flatMap((k) => k.failures) });
    }
    const training = await busy(() => train(demo));
    await post('training', training);
    await post('done', {});
  } catch (e) {
    await fail('error', errorText(e));
  }
}

main().catch((e) => fail('error', errorText(e)));
