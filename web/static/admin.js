// airflow-gateway admin page: runs the plugin APIs and console commands of the page's forms and shows
// their results. Everything shown comes from the gateway's answers and is written as text, never as HTML.
'use strict';

(function () {
  const byId = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  // APIs and console commands after which the DAG table is out of date.
  const changesDags = new Set(['pause', 'unpause', 'trigger_dag', 'deploy_dag', 'refresh_dag', 'refresh_all_dags']);
  const dagWords = new Set(['pause', 'unpause', 'trigger', 'delete', 'reserialize']);

  // One section at a time: the console or one API, chosen by the URL's fragment.
  function showPanel() {
    let id = decodeURIComponent(location.hash.slice(1));
    let panel = byId(id);
    if (!panel || !panel.classList.contains('panel')) {
      id = 'console';
      panel = byId(id);
    }
    for (const p of document.querySelectorAll('.panel')) p.hidden = p !== panel;
    for (const a of document.querySelectorAll('nav a')) {
      a.setAttribute('aria-current', a.getAttribute('href') === '#' + id ? 'true' : 'false');
    }
  }

  // send makes a same-origin request with the page's CSRF token and reads the JSON answer.
  async function send(url, init) {
    const started = performance.now();
    const opts = Object.assign({ credentials: 'same-origin' }, init);
    opts.headers = Object.assign({ 'Accept': 'application/json', 'X-CSRF-Token': csrf }, init && init.headers);
    let resp;
    try {
      resp = await fetch(url, opts);
    } catch (err) {
      return { status: 0, body: null, text: '', ms: Math.round(performance.now() - started),
        error: 'The gateway did not answer (' + err.message + '). Is it still running?' };
    }
    const text = await resp.text();
    let body = null;
    try { body = JSON.parse(text); } catch (err) { body = null; }
    return { status: resp.status, body, text, ms: Math.round(performance.now() - started) };
  }

  // explain says in words why a request did not give what was asked.
  function explain(r) {
    if (r.error) return r.error;
    if (r.status === 401) return 'Your session has ended: log in again at /login.';
    const b = r.body;
    if (b && typeof b.detail === 'string') return b.detail;
    if (b && typeof b.output === 'string') return b.output;
    return 'The gateway answered HTTP ' + r.status + (r.text ? ': ' + r.text.slice(0, 300) : '.');
  }

  // --- DAGs ---------------------------------------------------------------------------------------

  async function loadDags() {
    const status = byId('dags-status');
    const table = byId('dags-table');
    status.textContent = 'Loading the DAGs…';
    const r = await send('/api/v1/command?command=' + encodeURIComponent('dags list -o json'));
    const dags = r.status === 200 && r.body && Array.isArray(r.body.data) ? r.body.data : null;
    if (!dags) {
      let why = explain(r);
      if (r.status === 200 && r.body) {
        why = r.body.exit_code !== 0 ? 'Airflow exited ' + r.body.exit_code + '. ' + (r.body.stderr || '')
          : r.body.truncated ? 'the list is longer than max_output_bytes.' : 'Airflow did not answer with JSON.';
      }
      status.textContent = 'The DAGs could not be listed: ' + why;
      table.hidden = true;
      return;
    }
    const rows = dags.map(dagRow);
    table.tBodies[0].replaceChildren(...rows);
    byId('dag-ids').replaceChildren(...dags.map((d) => new Option(d.dag_id)));
    const paused = dags.filter(isPaused).length;
    status.textContent = dags.length + (dags.length === 1 ? ' DAG' : ' DAGs') + ', ' + paused + ' paused. ' +
      'Pick a DAG id to fill it into every form.';
    table.hidden = dags.length === 0;
  }

  function isPaused(d) { return String(d.is_paused).toLowerCase() === 'true'; }

  function dagRow(d) {
    const tr = document.createElement('tr');
    tr.dataset.dagId = d.dag_id;
    const id = document.createElement('td');
    id.className = 'id';
    const pick = document.createElement('button');
    pick.type = 'button';
    pick.textContent = d.dag_id;
    pick.title = 'Fill ' + d.dag_id + ' into every dag_id field';
    pick.addEventListener('click', () => {
      for (const input of document.querySelectorAll('input[name="dag_id"]')) input.value = d.dag_id;
    });
    id.append(pick);
    const file = cell(String(d.fileloc || '').split('/').pop());
    const owners = cell(Array.isArray(d.owners) ? d.owners.join(', ') : String(d.owners || ''));
    const state = document.createElement('td');
    const badge = document.createElement('span');
    badge.className = 'state ' + (isPaused(d) ? 'paused' : 'active');
    badge.textContent = isPaused(d) ? 'paused' : 'active';
    state.append(badge);
    tr.append(id, file, owners, state);
    return tr;
  }

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = text;
    return td;
  }

  // --- results ------------------------------------------------------------------------------------

  // showResult fills the result card: title, a badge, a message in words, a warning, facts and output.
  function showResult(title, ok, badge, message, warning, facts, stdout, stderr) {
    byId('result-title').textContent = title;
    const b = byId('result-status');
    b.textContent = badge;
    b.className = 'badge ' + (ok ? 'ok' : 'error');
    const m = byId('result-message');
    m.textContent = message || '';
    m.className = 'message' + (ok ? '' : ' error');
    m.hidden = !message;
    const w = byId('result-warning');
    w.textContent = warning ? 'Warning: ' + warning : '';
    w.hidden = !warning;
    const dl = byId('result-facts');
    dl.replaceChildren();
    for (const [name, value] of facts) {
      if (value === undefined || value === null || value === '') continue;
      const dt = document.createElement('dt');
      dt.textContent = name;
      const dd = document.createElement('dd');
      dd.textContent = String(value);
      dd.dataset.fact = name;
      dl.append(dt, dd);
    }
    byId('result-stdout').textContent = stdout || '';
    byId('result-stderr').textContent = stderr || '';
    const card = byId('result');
    card.dataset.seq = String(Number(card.dataset.seq || 0) + 1); // counts the results shown
    card.hidden = false;
    card.scrollIntoView({ block: 'nearest' });
  }

  // showEnvelope shows a plugin API's answer.
  function showEnvelope(api, r) {
    const env = r.body;
    if (!env || typeof env.status !== 'string') {
      showResult(api, false, r.status ? 'HTTP ' + r.status : 'no answer', explain(r), '', [['round trip', r.ms + ' ms']]);
      return;
    }
    const ran = env.output && typeof env.output === 'object';
    const ok = env.status === 'OK';
    showResult(api, ok, env.status + ' · HTTP ' + env.http_response_code,
      ran ? '' : String(env.output === undefined ? '' : env.output), env.warning, [
        ['HTTP code', env.http_response_code],
        ['status', env.status],
        ['exit code', env.exit_code],
        ['airflow_cmd', env.airflow_cmd],
        ['call_time', env.call_time],
        ['response_time', env.response_time],
        ['duration', env.duration_ms === undefined ? '' : env.duration_ms + ' ms'],
        ['round trip', r.ms + ' ms'],
        ['truncated', env.truncated ? 'yes: output past max_output_bytes was dropped' : ''],
        ['daemon pid', env.daemon ? env.daemon.pid : ''],
        ['request id', env.request_id],
      ], ran ? env.output.stdout : '', ran ? env.output.stderr : '');
  }

  // showCommand shows a console command's answer: its output, or a problem document.
  function showCommand(line, r) {
    const b = r.body;
    if (r.status === 200 && b && typeof b.exit_code === 'number') {
      const ok = b.exit_code === 0;
      const stdout = b.data !== undefined && b.data !== null ? JSON.stringify(b.data, null, 2) : b.stdout;
      showResult('airflow ' + line, ok, 'exit ' + b.exit_code + ' · HTTP 200',
        ok ? '' : 'Airflow exited with code ' + b.exit_code + '; its stderr says why.', '', [
          ['HTTP code', 200],
          ['exit code', b.exit_code],
          ['airflow_cmd', b.airflow_cmd],
          ['duration', b.duration_ms + ' ms'],
          ['round trip', r.ms + ' ms'],
          ['truncated', b.truncated ? 'yes: output past max_output_bytes was dropped' : ''],
        ], stdout, b.stderr);
      return;
    }
    showResult('airflow ' + line, false, r.status ? 'HTTP ' + r.status : 'no answer', explain(r), '', [
      ['HTTP code', r.status || ''],
      ['round trip', r.ms + ' ms'],
      ['request id', b && b.request_id],
    ], b && b.stdout, b && b.stderr);
  }

  // --- forms --------------------------------------------------------------------------------------

  // busy disables a form's button while its request runs.
  async function busy(form, work) {
    const button = form.querySelector('button[type=submit]');
    const label = button.textContent;
    button.disabled = true;
    button.textContent = 'Running…';
    try {
      await work();
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  async function runAPI(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const api = form.dataset.api;
    const data = new FormData(form);
    for (const [name, value] of Array.from(data.entries())) {
      if (value === '' || (value instanceof File && value.name === '')) data.delete(name);
    }
    await busy(form, async () => {
      const r = await send('/admin/rest_api/api?api=' + encodeURIComponent(api), { method: 'POST', body: data });
      showEnvelope(api, r);
      if (r.status === 200 && changesDags.has(api)) await loadDags();
    });
  }

  // --- jobs -------------------------------------------------------------------------------------

  // longPaths are the command paths that always run as jobs, from the console's suggestions.
  const longPaths = Array.from(document.querySelectorAll('#console-commands option[data-long]')).map((o) => o.value);

  function isLong(line) {
    const words = line.replace(/^airflow\s+/, '').split(/\s+/);
    return longPaths.some((p) => p.split(' ').every((w, i) => words[i] === w));
  }

  let following = null; // the EventSource of the job the result card shows

  // showJob fills the result card with a job's record; its output is added as it comes.
  function showJob(job, note) {
    const ended = !['queued', 'running'].includes(job.state);
    const ok = job.state === 'succeeded' || job.state === 'running' || job.state === 'queued';
    const card = byId('result');
    card.dataset.job = job.id;
    card.dataset.state = job.state;
    const stdout = byId('result-stdout').textContent;
    const stderr = byId('result-stderr').textContent;
    showResult('job · airflow ' + job.command, ok, job.state + (ended && job.exit_code !== null ? ' · exit ' + job.exit_code : ''),
      note || job.detail || '', '', [
        ['job', job.id],
        ['state', job.state],
        ['exit code', job.exit_code],
        ['owner', job.owner],
        ['airflow_cmd', job.airflow_cmd],
        ['duration', job.duration_ms === null ? '' : job.duration_ms + ' ms'],
        ['truncated', job.truncated ? 'yes: output past max_output_bytes was dropped' : ''],
      ], stdout, stderr);
  }

  // followJob shows a job in the result card and its output as the gateway sends it.
  function followJob(job) {
    if (following) following.close();
    byId('result-stdout').textContent = '';
    byId('result-stderr').textContent = '';
    showJob(job);
    const source = new EventSource('/api/v1/jobs/' + encodeURIComponent(job.id) + '/output');
    following = source;
    for (const stream of ['stdout', 'stderr']) {
      source.addEventListener(stream, (ev) => {
        if (following !== source) return;
        byId('result-' + stream).textContent += ev.data;
      });
    }
    source.addEventListener('end', (ev) => {
      source.close();
      if (following !== source) return;
      following = null;
      showJob(JSON.parse(ev.data));
      loadJobs();
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED && following === source) {
        following = null;
        byId('result-message').textContent = 'The job\'s output could not be followed: reload the Jobs panel.';
        byId('result-message').hidden = false;
      }
    });
  }

  async function startJob(line) {
    const r = await send('/api/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ command: line }),
    });
    if (r.status !== 202 || !r.body) {
      showCommand(line, r);
      return;
    }
    followJob(r.body);
    loadJobs();
  }

  async function cancelJob(id) {
    const r = await send('/api/v1/jobs/' + encodeURIComponent(id), { method: 'DELETE' });
    if (r.status !== 200) {
      byId('jobs-status').textContent = 'The job could not be canceled: ' + explain(r);
    }
    await loadJobs();
  }

  async function loadJobs() {
    const status = byId('jobs-status');
    const table = byId('jobs-table');
    const r = await send('/api/v1/jobs?limit=50');
    if (r.status !== 200 || !r.body || !Array.isArray(r.body.jobs)) {
      status.textContent = 'The jobs could not be listed: ' + explain(r);
      table.hidden = true;
      return;
    }
    const jobs = r.body.jobs;
    table.tBodies[0].replaceChildren(...jobs.map(jobRow));
    const running = jobs.filter((j) => j.state === 'running' || j.state === 'queued').length;
    status.textContent = jobs.length + (jobs.length === 1 ? ' job' : ' jobs') + ', ' + running + ' running.';
    table.hidden = jobs.length === 0;
  }

  function jobRow(j) {
    const tr = document.createElement('tr');
    tr.dataset.jobId = j.id;
    tr.dataset.state = j.state;
    const command = cell(j.command);
    command.className = 'id';
    const state = document.createElement('td');
    const badge = document.createElement('span');
    badge.className = 'state ' + j.state;
    badge.textContent = j.state + (j.exit_code !== null && j.state !== 'succeeded' ? ' (' + j.exit_code + ')' : '');
    state.append(badge);
    const started = cell(j.started_at ? j.started_at.replace('T', ' ').replace(/\.\d+/, '').replace('Z', ' UTC') : '');
    const duration = cell(j.duration_ms === null ? '' : (j.duration_ms / 1000).toFixed(1) + ' s');
    const actions = document.createElement('td');
    const follow = document.createElement('button');
    follow.type = 'button';
    follow.className = 'small secondary';
    follow.textContent = 'Follow';
    follow.dataset.action = 'follow';
    follow.addEventListener('click', () => followJob(j));
    actions.append(follow);
    if (j.state === 'running' || j.state === 'queued') {
      const cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.className = 'small';
      cancel.textContent = 'Cancel';
      cancel.dataset.action = 'cancel';
      cancel.addEventListener('click', () => cancelJob(j.id));
      actions.append(cancel);
    }
    tr.append(command, cell(j.owner), state, started, duration, actions);
    return tr;
  }

  async function runConsole(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const line = byId('console-command').value.trim();
    if (!line) return;
    if (byId('console-job').checked || isLong(line)) {
      await busy(form, () => startJob(line));
      return;
    }
    await busy(form, async () => {
      const r = await send('/api/v1/command', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ command: line }),
      });
      showCommand(line, r);
      const words = line.split(/\s+/);
      if (r.status === 200 && r.body.exit_code === 0 && words[0] === 'dags' && dagWords.has(words[1])) await loadDags();
    });
  }

  // fillExample puts an API's example arguments into its form.
  function fillExample(event) {
    const form = event.currentTarget.closest('section').querySelector('form.api-form');
    form.reset();
    for (const [name, value] of new URLSearchParams(event.currentTarget.dataset.example)) {
      const field = form.elements.namedItem(name);
      if (!field || field.type === 'file') continue;
      if (field.type === 'checkbox') field.checked = !['false', '0', 'off', 'no'].includes(value.toLowerCase());
      else field.value = value;
    }
  }

  // --- Login link ----------------------------------------------------------------------------------

  // mintLoginLink mints a 2-hour token of the session's role and shows the link that logs a browser in
  // with it, as the DMS console hands one out.
  async function mintLoginLink() {
    const out = byId('login-link-result');
    const r = await send('/api/v1/tokens', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ttl: '2h' }) });
    out.hidden = false;
    out.textContent = '';
    if (r.status !== 201 || !r.body) {
      out.className = 'banner error';
      out.textContent = explain(r);
      return;
    }
    out.className = 'banner';
    out.append('A login link for ' + r.body.name + ' (role ' + r.body.role + '), valid until ' + r.body.expires_at + ': ');
    const link = document.createElement('input');
    link.id = 'login-link-url';
    link.readOnly = true;
    link.value = r.body.login_url;
    link.size = 60;
    out.append(link);
    link.select();
  }

  window.addEventListener('hashchange', showPanel);
  for (const button of document.querySelectorAll('button[data-example]')) button.addEventListener('click', fillExample);
  showPanel();
  for (const form of document.querySelectorAll('form.api-form')) form.addEventListener('submit', runAPI);
  byId('console-form').addEventListener('submit', runConsole);
  byId('dags-refresh').addEventListener('click', loadDags);
  byId('jobs-refresh').addEventListener('click', loadJobs);
  if (byId('login-link')) byId('login-link').addEventListener('click', mintLoginLink);
  loadDags();
  loadJobs();
})();
