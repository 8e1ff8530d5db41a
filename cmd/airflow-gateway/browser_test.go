package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// browser is one headless Chromium with a fresh profile, and every console message its tab wrote.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// newBrowser starts Chromium with the flags a server without a display needs, and a profile of its own.
func newBrowser(tb testing.TB) *browser {
	tb.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testbed.Chromium(tb)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1400, 1100),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start Chromium: %v", err)
	}
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs actions, failing tb when they do not finish within limit.
func (b *browser) do(tb testing.TB, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](tb testing.TB, b *browser, expression string) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// console returns the messages written so far.
func (b *browser) console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.messages)
}

// pageResult is what the admin page's result card shows.
type pageResult struct {
	Title   string            `json:"title"`
	Badge   string            `json:"badge"`
	Message string            `json:"message"`
	Warning string            `json:"warning"`
	Facts   map[string]string `json:"facts"`
	Stdout  string            `json:"stdout"`
	Stderr  string            `json:"stderr"`
}

func (r pageResult) String() string { b, _ := json.Marshal(r); return tail(string(b)) }

// submit clicks the submit button of the form that the CSS selector form names, and waits for the result card to show the answer.
func (b *browser) submit(tb testing.TB, form string) pageResult {
	tb.Helper()
	seq := eval[string](tb, b, `document.getElementById('result').dataset.seq || '0'`)
	var n int
	fmt.Sscan(seq, &n)
	b.do(tb, 5*time.Minute,
		chromedp.Click(chromedp.CSS(form+` button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#result[data-seq="%d"]`, n+1))),
	)
	return eval[pageResult](tb, b, `({
		title: document.getElementById('result-title').textContent,
		badge: document.getElementById('result-status').textContent,
		message: document.getElementById('result-message').textContent,
		warning: document.getElementById('result-warning').textContent,
		facts: Object.fromEntries(Array.from(document.querySelectorAll('#result-facts dd'), d => [d.dataset.fact, d.textContent])),
		stdout: document.getElementById('result-stdout').textContent,
		stderr: document.getElementById('result-stderr').textContent,
	})`)
}

// runAPI opens an API's section from the navigation, fills its form and runs it. fields maps a field
// name to its value; a file field takes a path.
func (b *browser) runAPI(tb testing.TB, api string, fields map[string]string) pageResult {
	tb.Helper()
	b.do(tb, 30*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="#api-`+api+`"]`)), chromedp.WaitVisible(chromedp.ID("api-"+api)))
	for name, value := range fields {
		id := chromedp.ID("f-" + api + "-" + name)
		set := chromedp.SetValue(id, value)
		switch {
		case name == "dag_file":
			set = chromedp.SetUploadFiles(id, []string{value})
		case value == "":
			set = chromedp.Clear(id)
		}
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		err := chromedp.Do(ctx, set)
		cancel()
		if err != nil {
			tb.Fatalf("%s: set %s to %q: %v", api, name, value, err)
		}
	}
	return b.submit(tb, "#api-"+api+" form")
}

// runConsole runs a command line in the command console.
func (b *browser) runConsole(tb testing.TB, line string) pageResult {
	tb.Helper()
	b.do(tb, 30*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="#console"]`)), chromedp.SetValue(chromedp.ID("console-command"), line))
	return b.submit(tb, "#console-form")
}

// dagRows reads the DAG table: id and state of each row.
func (b *browser) dagRows(tb testing.TB) map[string]string {
	tb.Helper()
	return eval[map[string]string](tb, b, `Object.fromEntries(Array.from(document.querySelectorAll('#dags-table tbody tr'),
		tr => [tr.dataset.dagId, tr.querySelector('.state').textContent]))`)
}

// TestAdminPageInChromium drives the admin page in a real headless Chromium against a gateway on a real
// Airflow: an Admin session runs the page's forms and console, a Viewer session is offered and allowed
// only what its role may do, and pages of another site cannot use the session. The page is the same for
// both Airflow versions and the dialect suites cover both, so it runs on the newest only (Airflow 3's
// `dags list-runs` takes the DAG as a positional).
func TestAdminPageInChromium(t *testing.T) {
	tokens := mustTokensFile(t, "Admin", "Viewer")
	onAirflow(t, "3", testbed.Config{SecretKey: "browser-test-secret-key-0123456789", TokensFile: tokens}, func(t *testing.T, _ string, home *testbed.Home, g *gatewayClient) {
		waitWarm(t, g)
		admin := newBrowser(t)
		t.Run("admin", func(t *testing.T) { adminSession(t, home, g, admin) })
		t.Run("viewer", func(t *testing.T) { viewerSession(t, home, g) })
		t.Run("MWAA console login and a login link", func(t *testing.T) { consoleLogin(t, g) })
		t.Run("cross-site", func(t *testing.T) { crossSite(t, home, g, admin) })
		t.Run("scoped", func(t *testing.T) { scopedSession(t, g) })
	})
}

// adminSession logs in as Admin and uses every part of the page once.
func adminSession(t *testing.T, home *testbed.Home, g *gatewayClient, b *browser) {
	login := time.Now()
	b.do(t, 2*time.Minute,
		chromedp.Navigate(g.URL+"/login?token="+roleTokenOf("Admin")),
		chromedp.WaitVisible(chromedp.CSS(`#dags-table tr[data-dag-id="gw_two_tasks"]`)),
	)
	t.Logf("the DAG table showed %s after the login link was opened", time.Since(login).Round(time.Millisecond))
	if loc := eval[string](t, b, `location.pathname`); loc != "/admin/rest_api/" {
		t.Fatalf("login led to %s", loc)
	}
	if got, state := eval[string](t, b, `document.getElementById('executor').textContent`),
		eval[string](t, b, `document.getElementById('executor-state').textContent`); got != "warm" || !strings.HasPrefix(state, "warm since ") {
		t.Errorf("executor shown %q %q", got, state)
	}

	// The versions and the example DAGs with their paused state, as the CLI reports them.
	if got, want := eval[string](t, b, `document.getElementById('airflow-version').textContent`), strings.TrimSpace(home.Run(t, "version")); got != want {
		t.Errorf("Airflow version shown %q, the CLI says %q", got, want)
	}
	if got := eval[string](t, b, `document.getElementById('gateway-version').textContent`); got != version {
		t.Errorf("gateway version shown %q, want %q", got, version)
	}
	if got := eval[string](t, b, `document.getElementById('role').textContent`); got != "Admin" {
		t.Errorf("role shown %q", got)
	}
	// The page links the API's description, and the link leads to an OpenAPI 3.1 document.
	if got := eval[string](t, b, `fetch(document.getElementById('openapi-link').href).then(r => r.json()).then(d => d.openapi + ' ' + Object.keys(d.paths).length)`); !strings.HasPrefix(got, "3.1.") {
		t.Errorf("the page's OpenAPI link gave %q", got)
	}
	rows := b.dagRows(t)
	for _, id := range []string{"gw_conf", "gw_fails", "gw_two_tasks"} {
		if want := map[string]string{"true": "paused", "false": "active"}[isPaused(t, home, id)]; rows[id] != want {
			t.Errorf("DAG %s shown as %q, the CLI says %s", id, rows[id], want)
		}
	}

	// Set a variable and get it back; the CLI sees what the form set.
	r := b.runAPI(t, "variables", map[string]string{"cmd": "set", "key": "browser_greeting", "value": "hello from the page"})
	if !strings.HasPrefix(r.Badge, "OK") || r.Facts["exit code"] != "0" || !strings.Contains(r.Facts["airflow_cmd"], "variables set") {
		t.Errorf("variables set: %s", r)
	}
	if got := strings.TrimSpace(home.Run(t, "variables", "get", "browser_greeting")); got != "hello from the page" {
		t.Errorf("the CLI reads the variable as %q", got)
	}
	r = b.runAPI(t, "variables", map[string]string{"cmd": "get", "key": "browser_greeting", "value": ""})
	if !strings.HasPrefix(r.Badge, "OK") || !strings.Contains(r.Stdout, "hello from the page") {
		t.Errorf("variables get: %s", r)
	}

	// An API's example fills its form: the pool example gives myTestpool 10 slots.
	b.do(t, 30*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="#api-pool"]`)), chromedp.Click(chromedp.CSS(`#api-pool button[data-example]`)))
	if r = b.submit(t, "#api-pool form"); !strings.HasPrefix(r.Badge, "OK") || !strings.Contains(r.Facts["airflow_cmd"], "pools set") {
		t.Errorf("pool example: %s", r)
	}
	var pools []map[string]any
	if err := json.Unmarshal([]byte(home.Run(t, "pools", "get", "myTestpool", "-o", "json")), &pools); err != nil || len(pools) != 1 || fmt.Sprint(pools[0]["slots"]) != "10" {
		t.Errorf("after the pool example, the CLI reads %v (%v)", pools, err)
	}

	// Trigger a DAG picked from the DAG table, and see the run in the console.
	b.do(t, 30*time.Second, chromedp.Click(chromedp.CSS(`#dags-table tr[data-dag-id="gw_conf"] td.id button`)))
	if got := eval[string](t, b, `document.getElementById('f-trigger_dag-dag_id').value`); got != "gw_conf" {
		t.Errorf("picking gw_conf filled dag_id with %q", got)
	}
	r = b.runAPI(t, "trigger_dag", map[string]string{"run_id": "browser_run_1", "conf": `{"from": "browser"}`})
	if !strings.HasPrefix(r.Badge, "OK · HTTP 200") || r.Facts["exit code"] != "0" || r.Facts["call_time"] == "" || r.Facts["response_time"] == "" || r.Facts["duration"] == "" {
		t.Errorf("trigger_dag: %s", r)
	}
	if r = b.runConsole(t, "dags list-runs gw_conf"); r.Badge != "exit 0 · HTTP 200" || !strings.Contains(r.Stdout, "browser_run_1") {
		t.Errorf("dags list-runs gw_conf: %s", r)
	}

	// Upload a DAG file through the form; the DAG table lists it.
	file := filepath.Join(t.TempDir(), "gw_browser_upload.py")
	if err := os.WriteFile(file, []byte(testbed.UploadedDAG("gw_browser_upload", "browser")), 0o644); err != nil {
		t.Fatal(err)
	}
	r = b.runAPI(t, "deploy_dag", map[string]string{"dag_file": file})
	if !strings.HasPrefix(r.Badge, "OK") || r.Warning != "" {
		t.Errorf("deploy_dag: %s", r)
	}
	if _, err := os.Stat(filepath.Join(home.Dags, "gw_browser_upload.py")); err != nil {
		t.Errorf("the uploaded file is not in the DAGs folder: %v", err)
	}
	b.do(t, 2*time.Minute, chromedp.WaitVisible(chromedp.CSS(`#dags-table tr[data-dag-id="gw_browser_upload"]`)))

	// The console runs `dags list -o json`; the page shows the parsed list.
	r = b.runConsole(t, "dags list -o json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &listed); err != nil || r.Badge != "exit 0 · HTTP 200" || !strings.Contains(r.Facts["airflow_cmd"], "dags list") {
		t.Errorf("dags list -o json: %v: %s", err, r)
	}
	if !slices.ContainsFunc(listed, func(d map[string]any) bool { return d["dag_id"] == "gw_browser_upload" }) {
		t.Errorf("dags list -o json does not list the uploaded DAG: %s", r)
	}
	// The session cookie is out of the page's reach, and curl can replay it outside the browser, as the
	// managed-service examples do.
	if cookies := eval[string](t, b, `document.cookie`); strings.Contains(cookies, "session=") {
		t.Errorf("the page's script can read the session cookie: %q", cookies)
	}
	jar, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{g.URL}})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(jar.Cookies, func(c *network.Cookie) bool { return c.Name == "session" })
	if i < 0 || !jar.Cookies[i].HTTPOnly || jar.Cookies[i].SameSite != network.CookieSameSiteLax {
		t.Fatalf("the browser holds no HttpOnly, SameSite=Lax session cookie: %v", jar.Cookies)
	}
	out, err := exec.Command("curl", "-sS", "-X", "POST", g.URL+"/api/v1/command?command=version", "-b", "session="+jar.Cookies[i].Value).Output()
	var answer commandAnswer
	if err != nil || json.Unmarshal(out, &answer) != nil || strings.TrimSpace(answer.Stdout) != strings.TrimSpace(home.Run(t, "version")) {
		t.Errorf("curl -X POST -b session=...: %v %s", err, out)
	}

	jobsInPage(t, home, b)

	eval[chromedp.Void](t, b, `window.scrollTo(0, 0)`) // the navigation sticks to the top of the view
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), "admin-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))

	for _, m := range b.console() {
		t.Errorf("console: %s (%s:%d)", m, m.URL, m.Line+1)
	}
}

// liveJob is what the result card showed while a job ran.
type liveJob struct {
	ID       string  `json:"id"`
	State    string  `json:"state"`
	Badge    string  `json:"badge"`
	SawLive  bool    `json:"sawLive"`  // output was on the card while the job ran
	LiveSize int     `json:"liveSize"` // how much, the last time it ran
	FirstMS  float64 `json:"firstMS"`  // when output first showed, from the start of the watch
	EndMS    float64 `json:"endMS"`    // when the watch ended
	Output   string  `json:"output"`
}

// watchJob waits until the result card shows a job other than the job notID, and that job has ended or
// shows until in its output, watching the card every 20 ms for output shown while the job runs.
func watchJob(tb testing.TB, b *browser, notID, until string) liveJob {
	tb.Helper()
	quoted, _ := json.Marshal(until)
	other, _ := json.Marshal(notID)
	return eval[liveJob](tb, b, `new Promise((resolve) => {
		const until = `+string(quoted)+`, notID = `+string(other)+`;
		const card = document.getElementById('result');
		const output = () => document.getElementById('result-stdout').textContent + document.getElementById('result-stderr').textContent;
		let sawLive = false, liveSize = 0, firstMS = 0;
		const t0 = performance.now();
		const tick = () => {
			const state = card.dataset.job === notID ? '' : card.dataset.state || '';
			if (state === 'running' && output().length > 0) {
				if (!sawLive) firstMS = performance.now() - t0;
				sawLive = true;
				liveSize = output().length;
			}
			if (state && state !== 'queued' && (state !== 'running' || output().includes(until))) {
				resolve({id: card.dataset.job, state, badge: document.getElementById('result-status').textContent, sawLive, liveSize,
					firstMS, endMS: performance.now() - t0, output: output()});
				return;
			}
			setTimeout(tick, 20);
		};
		tick();
	})`)
}

// jobsInPage runs long commands from the console: they run as jobs whose output shows as it comes, and
// the Jobs panel lists them and cancels one.
func jobsInPage(t *testing.T, home *testbed.Home, b *browser) {
	testbed.PlantSlowDAG(t, home)
	b.do(t, 30*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="#console"]`)),
		chromedp.SetValue(chromedp.ID("console-command"), "dags test gw_two_tasks 2024-01-08"),
		chromedp.Click(chromedp.CSS(`#console-form button[type=submit]`)))
	job := watchJob(t, b, "", "(only its end)")
	if job.State != "succeeded" || !job.SawLive || !strings.Contains(job.Output, "extracted 3 rows") || !strings.Contains(job.Badge, "exit 0") {
		t.Errorf("dags test as a job in the page: %+v", job)
	}
	t.Logf("dags test as a job: output showed on the card %.0f ms after Run, the final state %.0f ms after it", job.FirstMS, job.EndMS)
	if job.FirstMS > job.EndMS/2 {
		t.Errorf("the card showed output only %.0f ms after Run, past half of the job's %.0f ms: it did not come as it was printed", job.FirstMS, job.EndMS)
	}

	// A job that runs until it is canceled from the Jobs panel.
	b.do(t, 30*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="#console"]`)),
		chromedp.SetValue(chromedp.ID("console-command"), "tasks test gw_slow tick 2024-01-01"),
		chromedp.Click(chromedp.CSS(`#console-form button[type=submit]`)))
	slow := watchJob(t, b, job.ID, "\ntick 1\n")
	if slow.State != "running" || !slow.SawLive {
		t.Fatalf("the slow job in the page: %+v", slow)
	}
	pids := testbed.SlowPIDs(t, home)
	row := `#jobs-table tr[data-job-id="` + slow.ID + `"]`
	b.do(t, time.Minute, chromedp.Click(chromedp.CSS(`nav a[href="#jobs"]`)),
		chromedp.Click(chromedp.CSS(row+`[data-state="running"] button[data-action="cancel"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-state="canceled"]`)))
	testbed.AssertExited(t, pids)
	if got := eval[string](t, b, `document.getElementById('result').dataset.state`); got != "canceled" {
		b.do(t, 30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#result[data-state="canceled"]`)))
	}
	owner := eval[string](t, b, `document.querySelector('`+row+` td:nth-child(2)').textContent`)
	if owner != "admin-bot" {
		t.Errorf("the Jobs panel shows the owner as %q", owner)
	}
}

// viewerSession logs in as Viewer: the page offers only the Viewer's APIs, and what is above them is
// refused when sent anyway.
func viewerSession(t *testing.T, home *testbed.Home, g *gatewayClient) {
	b := newBrowser(t)
	b.do(t, 2*time.Minute,
		chromedp.Navigate(g.URL+"/login?token="+roleTokenOf("Viewer")),
		chromedp.WaitVisible(chromedp.CSS(`#dags-table tr[data-dag-id="gw_conf"]`)),
	)
	var want []string
	for _, api := range commands.PluginAPIs() {
		if api.Role <= commands.RoleViewer {
			want = append(want, api.Name)
		}
	}
	offered := eval[[]string](t, b, `Array.from(document.querySelectorAll('nav a[data-api]'), a => a.dataset.api)`)
	forms := eval[[]string](t, b, `Array.from(document.querySelectorAll('form.api-form'), f => f.dataset.api)`)
	if !slices.Equal(offered, want) || !slices.Equal(forms, want) {
		t.Errorf("a Viewer is offered %v with forms %v; want %v", offered, forms, want)
	}
	if withheld := eval[string](t, b, `document.getElementById('withheld').textContent`); !strings.Contains(withheld, "trigger_dag") || !strings.Contains(withheld, "deploy_dag") {
		t.Errorf("the page does not say what the Viewer is not offered: %q", withheld)
	}

	// The console refuses a command above the role, in words.
	r := b.runConsole(t, "dags trigger gw_conf -r viewer_console_run")
	if r.Badge != "HTTP 403" || !strings.Contains(r.Message, "needs role User") {
		t.Errorf("Viewer dags trigger: %s", r)
	}
	// A form the page does not offer, sent from the page with its CSRF token, is refused too.
	type answer struct {
		Status int            `json:"status"`
		Body   map[string]any `json:"body"`
	}
	for _, api := range []string{"trigger_dag&dag_id=gw_conf&run_id=viewer_api_run", "variables&cmd=list", "deploy_dag"} {
		a := eval[answer](t, b, `fetch('/admin/rest_api/api?api=`+api+`', {method: 'POST',
			headers: {'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content}})
			.then(async r => ({status: r.status, body: await r.json()}))`)
		if out, _ := a.Body["output"].(string); a.Status != 403 || !strings.Contains(out, "needs role") {
			t.Errorf("Viewer %s: %d %v", api, a.Status, a.Body)
		}
	}
	if runs := home.Run(t, "dags", "list-runs", "gw_conf"); strings.Contains(runs, "viewer_") {
		t.Errorf("a Viewer's request made a run:\n%s", runs)
	}
	// Logging out ends the session: the admin page sends the browser to the login form.
	b.do(t, time.Minute, chromedp.Click(chromedp.CSS(`.who form button`)), chromedp.WaitVisible(chromedp.ID("token")))
	b.do(t, time.Minute, chromedp.Navigate(g.URL+"/admin/rest_api/"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := eval[string](t, b, `location.pathname`); loc != "/login" {
		t.Errorf("after logging out, the admin page led to %s", loc)
	}

	// The refusals are the only messages: the network errors of the four 403 answers.
	for _, m := range b.console() {
		if m.Source != "network" || !strings.Contains(m.Text, "403") {
			t.Errorf("console: %s (%s:%d)", m, m.URL, m.Line+1)
		}
	}
}

// consoleLogin opens MWAA's console login link with a minted Viewer token in its fragment in a fresh
// browser: its page posts the token and the admin page follows, as that Viewer; then the page's "Login
// link" button mints a 2-hour link for the session's role, which logs another browser in.
func consoleLogin(t *testing.T, g *gatewayClient) {
	minted := g.As(roleTokenOf("Viewer")).Mint(t, "60s", "Viewer").Token
	b := newBrowser(t)
	b.do(t, time.Minute,
		chromedp.Navigate(g.URL+"/aws_mwaa/aws-console-sso?login=true#"+minted),
		chromedp.WaitVisible(chromedp.ID("login-link")),
	)
	if loc, who, role := eval[string](t, b, `location.pathname`), eval[string](t, b, `document.getElementById('who').textContent`),
		eval[string](t, b, `document.getElementById('role').textContent`); loc != "/admin/rest_api/" || who != "viewer-bot/minted" || role != "Viewer" {
		t.Errorf("the console login link led to %s as %s (%s)", loc, who, role)
	}
	b.do(t, time.Minute, chromedp.Click(chromedp.ID("login-link")), chromedp.WaitVisible(chromedp.ID("login-link-url")))
	link := eval[string](t, b, `document.getElementById('login-link-url').value`)
	if !strings.HasPrefix(link, g.URL+"/login?token=agw1.") {
		t.Fatalf("the login link shown: %q", link)
	}
	other := newBrowser(t)
	other.do(t, time.Minute, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("login-link")))
	if who := eval[string](t, other, `document.getElementById('who').textContent`); who != "viewer-bot/minted" {
		t.Errorf("the login link logged in as %q", who)
	}
	for _, m := range append(b.console(), other.console()...) {
		t.Errorf("console: %s (%s:%d)", m, m.URL, m.Line+1)
	}
}

// scopedSession logs a browser in with an Admin token minted with the scope gw_conf: the page names the
// scope, its DAG table lists gw_conf alone, and it offers the forms of the APIs about one DAG, not
// deploy_dag nor the variables.
func scopedSession(t *testing.T, g *gatewayClient) {
	minted := g.As(roleTokenOf("Admin")).MintWith(t, map[string]any{"ttl": "60s", "dags": []string{"gw_conf"}}).Token
	b := newBrowser(t)
	b.do(t, time.Minute,
		chromedp.Navigate(g.URL+"/login?token="+minted),
		chromedp.WaitVisible(chromedp.CSS(`#dags-table tr[data-dag-id="gw_conf"]`)),
	)
	if rows := eval[int](t, b, `document.querySelectorAll('#dags-table tbody tr').length`); rows != 1 {
		t.Errorf("the DAG table of a credential scoped to gw_conf has %d rows", rows)
	}
	if scope := eval[string](t, b, `document.getElementById('scope').textContent`); scope != "dags gw_conf" {
		t.Errorf("the page names the scope %q", scope)
	}
	for api, offered := range map[string]bool{"trigger_dag": true, "list_dags": true, "deploy_dag": false, "variables": false} {
		if got := eval[bool](t, b, `!!document.querySelector('a[data-api="`+api+`"]')`); got != offered {
			t.Errorf("the page offers %s: %v", api, got)
		}
	}
	for _, m := range b.console() {
		t.Errorf("console: %s (%s:%d)", m, m.URL, m.Line+1)
	}
}

// crossSite has the Admin browser, still logged in, follow a link and send a form from a page of another
// site (localhost is another site than 127.0.0.1): both would trigger a DAG, and both are refused.
func crossSite(t *testing.T, home *testbed.Home, g *gatewayClient, b *browser) {
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>another site</title>
<a id="link" href="%[1]s/admin/rest_api/api?api=trigger_dag&amp;dag_id=gw_conf&amp;run_id=evil_link">a link</a>
<form id="form" method="post" action="%[1]s/api/v1/command?command=dags%%20trigger%%20gw_conf%%20-r%%20evil_form"><button>send</button></form>`, g.URL)
	}))
	defer evil.Close()
	page := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	body := func() string { return eval[string](t, b, `document.body.innerText`) }

	b.do(t, time.Minute, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("link")))
	b.do(t, time.Minute, chromedp.Click(chromedp.ID("link")), chromedp.WaitVisible(chromedp.CSS("body pre")))
	if text := body(); !strings.Contains(text, "a link from another site may only run read-only commands") || !strings.Contains(text, "403") {
		t.Errorf("a cross-site link to trigger_dag answered: %s", text)
	}
	b.do(t, time.Minute, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("form")))
	b.do(t, time.Minute, chromedp.Click(chromedp.CSS("#form button")), chromedp.WaitVisible(chromedp.CSS("body pre")))
	if text := body(); !strings.Contains(text, "a request from another site was refused") {
		t.Errorf("a cross-site form POST answered: %s", text)
	}
	if runs := home.Run(t, "dags", "list-runs", "gw_conf"); strings.Contains(runs, "evil_") {
		t.Errorf("a cross-site request made a run:\n%s", runs)
	}
}
