package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// A person is an Airflow user a token of the tests names with airflow_user: its name, its password in
// Airflow, and the gateway token mapped to it.
type person struct{ name, password, token string }

// personTokens writes a tokens file of one token per person, each of gateway role Admin so that Airflow
// alone decides what the person may do, and the token admin of role Admin acting as its role's user.
func personTokens(t *testing.T, people []person, admin string) string {
	var b strings.Builder
	sum := func(token string) string { s := sha256.Sum256([]byte(token)); return hex.EncodeToString(s[:]) }
	fmt.Fprintf(&b, "[role-admin]\nrole = Admin\nsha256 = %s\n\n", sum(admin))
	for _, p := range people {
		fmt.Fprintf(&b, "[as-%s]\nrole = Admin\nsha256 = %s\nairflow_user = %s\n\n", p.name, sum(p.token), p.name)
	}
	path := filepath.Join(t.TempDir(), "tokens.ini")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePrivate writes a file only its owner reads, and returns its path.
func writePrivate(t *testing.T, name, text string) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// personScript is what each person does over Airflow's REST API under prefix (/api/v1 or /api/v2): read
// DAGs, pause one, trigger it, read and set a variable. It returns one line per call: the call and
// whether Airflow allowed it ("ok") or its status, and for the DAG listing the DAG ids it showed. tag
// makes the variable's key differ from one run to the next.
func personScript(t *testing.T, c *testbed.Client, prefix, tag string) []string {
	t.Helper()
	trigger := `{"logical_date": null}`
	if prefix == "/api/v1" {
		trigger = `{}`
	}
	var seen []string
	for _, call := range []struct{ method, path, body string }{
		{"GET", "/dags?limit=100", ""},
		{"GET", "/dags/gw_conf", ""},
		{"GET", "/dags/gw_access", ""},
		{"PATCH", "/dags/gw_conf", `{"is_paused": true}`},
		{"PATCH", "/dags/gw_access", `{"is_paused": true}`},
		{"POST", "/dags/gw_conf/dagRuns", trigger},
		{"GET", "/variables", ""},
		{"POST", "/variables", fmt.Sprintf(`{"key": "person_%s", "value": "v"}`, tag)},
		{"GET", "/pools", ""},
	} {
		var a *testbed.Answer
		if call.body != "" {
			a = c.Do(t, call.method, prefix+call.path, strings.NewReader(call.body), "Content-Type", "application/json")
		} else {
			a = c.Do(t, call.method, prefix+call.path, nil)
		}
		verdict := fmt.Sprint(a.Status)
		if a.Status/100 == 2 {
			verdict = "ok"
		}
		line := call.method + " " + call.path + " " + verdict
		if call.path == "/dags?limit=100" && a.Status == http.StatusOK {
			var list struct {
				DAGs []struct {
					DagID string `json:"dag_id"`
				} `json:"dags"`
			}
			a.Decode(t, &list)
			var ids []string
			for _, d := range list.DAGs {
				ids = append(ids, d.DagID)
			}
			slices.Sort(ids)
			line += " " + strings.Join(ids, ",")
		}
		seen = append(seen, line)
	}
	return seen
}

// samePermissions runs personScript as each person straight to Airflow (the person's own credentials)
// and through the gateway (the token mapped to the person), over v1 and, on Airflow 3, v2 (v1 translated
// on Airflow 3, held to what v2 gives straight), and fails where the gateway gave other than Airflow gives.
// It returns what each person saw, by name.
func samePermissions(t *testing.T, api *testbed.AirflowAPI, gateway string, people []person) map[string][]string {
	t.Helper()
	seen := map[string][]string{}
	for _, p := range people {
		straight := &testbed.Client{URL: api.URL, TokenHeader: "Authorization", Token: api.Authorization(t, p.name, p.password)}
		through := &testbed.Client{URL: gateway, Token: p.token}
		prefix := "/api/v1"
		if api.Major >= 3 {
			prefix = "/api/v2"
		}
		want := personScript(t, straight, prefix, p.name+"_straight")
		seen[p.name] = want
		ways := map[string][]string{"through the gateway": personScript(t, through, prefix, p.name+"_gateway")}
		if api.Major >= 3 {
			ways["through the gateway's v1, translated"] = personScript(t, through, "/api/v1", p.name+"_v1")
		}
		for way, got := range ways {
			if diff := transcriptDiff(want, got); diff != "" {
				t.Errorf("%s %s got other than Airflow gives that user:\n%s", p.name, way, diff)
			}
		}
	}
	return seen
}

// verdict is the line of call in a transcript of personScript.
func verdict(lines []string, call string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, call+" ") {
			return strings.TrimPrefix(l, call+" ")
		}
	}
	return ""
}

// recordsNameThePerson triggers dag through the gateway as p, and checks that Airflow's records name p:
// the run's triggering_user_name (Airflow 3) and the event log's owner.
func recordsNameThePerson(t *testing.T, api *testbed.AirflowAPI, gateway string, p person, admin *testbed.Client, dag string) {
	t.Helper()
	through := &testbed.Client{URL: gateway, Token: p.token}
	if api.Major >= 3 {
		var run struct {
			RunID string `json:"dag_run_id"`
		}
		a := through.Do(t, "POST", "/api/v2/dags/"+dag+"/dagRuns", strings.NewReader(`{"logical_date": null}`), "Content-Type", "application/json")
		if a.Status != http.StatusOK {
			t.Fatalf("the trigger as %s: %d %s", p.name, a.Status, a.Body)
		}
		a.Decode(t, &run)
		var got struct {
			TriggeringUserName string `json:"triggering_user_name"`
		}
		admin.Get(t, "/api/v2/dags/"+dag+"/dagRuns/"+run.RunID).Decode(t, &got)
		if got.TriggeringUserName != p.name {
			t.Errorf("the run triggered as %s has triggering_user_name %q", p.name, got.TriggeringUserName)
		}
	} else if a := through.Do(t, "POST", "/api/v1/dags/"+dag+"/dagRuns", strings.NewReader(`{}`), "Content-Type", "application/json"); a.Status != http.StatusOK {
		t.Fatalf("the trigger as %s: %d %s", p.name, a.Status, a.Body)
	}
	prefix := "/api/v1"
	if api.Major >= 3 {
		prefix = "/api/v2"
	}
	var logs struct {
		EventLogs []struct {
			Owner string `json:"owner"`
			Event string `json:"event"`
		} `json:"event_logs"`
	}
	admin.Get(t, prefix+"/eventLogs?dag_id="+dag+"&limit=100").Decode(t, &logs)
	var owners []string
	for _, e := range logs.EventLogs {
		owners = append(owners, e.Owner+":"+e.Event)
		if e.Owner == p.name {
			return
		}
	}
	t.Errorf("no entry of Airflow's event log of %s names %s: %v", dag, p.name, owners)
}

// noSecretsShown fails when a secret appears in the gateway's log, or in the command line of the gateway
// (process gateway) or of a process it started.
func noSecretsShown(t *testing.T, logs string, gateway int, secrets ...string) {
	t.Helper()
	ours := func(pid int) bool {
		for range 64 {
			if pid == gateway {
				return true
			}
			p, ok := procfs.Stat(pid)
			if !ok || p.PPID <= 1 {
				return false
			}
			pid = p.PPID
		}
		return false
	}
	var listing strings.Builder
	for _, pid := range procfs.PIDs() {
		if ours(pid) {
			listing.WriteString(strings.Join(procfs.Argv(pid), " ") + "\n")
		}
	}
	if listing.Len() == 0 {
		t.Errorf("the gateway's process %d is not running", gateway)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the gateway's log shows the secret %q", s)
		}
		if strings.Contains(listing.String(), s) {
			t.Errorf("the command line of the gateway or of a process it started shows the secret %q", s)
		}
	}
}

// personREST runs Airflow 3's REST API as persons (SPEC §20) on the API server the REST test started,
// with the simple auth manager: a token mapped to each of its users of roles viewer, user and op gets
// what Airflow gives that user, and Airflow's records name the user. The gateway is a process of its own,
// for SIGHUP: a key Airflow does not trust (as after its key was rotated) answers 502 naming the setting,
// while role tokens go on, and the right key after SIGHUP makes it right again.
func personREST(t *testing.T, home *testbed.Home, api *testbed.AirflowAPI) {
	// The gateway reads the simple auth manager's users from Airflow's configuration, as the server does.
	home.SetConfig(t, "core", "simple_auth_manager_users", api.SimpleAuthManagerUsers())
	people := []person{
		{api.Users["Viewer"], api.Password("Viewer"), "as-viewer-token-0123456789"},
		{api.Users["User"], api.Password("User"), "as-user-token-0123456789"},
		{api.Users["Op"], api.Password("Op"), "as-op-token-0123456789"},
	}
	const adminToken = "role-admin-token-0123456789"
	secretFile := writePrivate(t, "jwt-secret", testbed.JWTSecret+"\n")
	logs := &testbed.Buffer{}
	proc, url := testbed.GatewayProcess(t, testbed.Config{Home: home, Executor: "subprocess", TokensFile: personTokens(t, people, adminToken),
		AirflowAPIURL: api.URL, AirflowAPIUsersFile: api.UsersFile(t), AirflowAPIJWTSecret: secretFile}, logs)

	seen := samePermissions(t, api, url, people)
	viewer, op := seen[people[0].name], seen[people[2].name]
	if verdict(viewer, "POST /dags/gw_conf/dagRuns") != "403" || verdict(op, "POST /dags/gw_conf/dagRuns") != "ok" {
		t.Errorf("Airflow let the viewer and the op trigger: %q, %q; want 403 and ok", verdict(viewer, "POST /dags/gw_conf/dagRuns"), verdict(op, "POST /dags/gw_conf/dagRuns"))
	}
	admin := &testbed.Client{URL: api.URL, TokenHeader: "Authorization", Token: api.Authorization(t, api.Users["Admin"], api.Password("Admin"))}
	recordsNameThePerson(t, api, url, people[2], admin, "gw_fails")

	// A JWT from the caller, even one signed with Airflow's own key, is not a gateway token: 401.
	forged := (&testbed.Client{URL: url, TokenHeader: "Authorization", Token: admin.Token}).Do(t, "GET", "/api/v2/dags", nil)
	if forged.Status != http.StatusUnauthorized {
		t.Errorf("a JWT of Airflow's sent to the gateway: %d %s", forged.Status, forged.Body)
	}

	// A key Airflow does not trust: 502 naming the setting; role tokens go on; the right key after SIGHUP.
	as := &testbed.Client{URL: url, Token: people[2].token}
	roleAdmin := &testbed.Client{URL: url, Token: adminToken}
	if err := os.WriteFile(secretFile, []byte("a-key-airflow-does-not-trust"), 0o600); err != nil {
		t.Fatal(err)
	}
	reloadPeople(t, proc.Process, logs)
	a := as.Do(t, "GET", "/api/v2/dags?limit=1", nil)
	if a.Status != http.StatusBadGateway || !strings.Contains(string(a.Body), "jwt_secret_file") {
		t.Errorf("a key Airflow does not trust: %d %s", a.Status, a.Body)
	}
	if a := roleAdmin.Do(t, "GET", "/api/v2/dags?limit=1", nil); a.Status != http.StatusOK {
		t.Errorf("a role token while the key is wrong: %d %s", a.Status, a.Body)
	}
	if err := os.WriteFile(secretFile, []byte(testbed.JWTSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	reloadPeople(t, proc.Process, logs)
	if a := as.Do(t, "GET", "/api/v2/dags?limit=1", nil); a.Status != http.StatusOK {
		t.Errorf("after the key was put right and SIGHUP: %d %s", a.Status, a.Body)
	}
	noSecretsShown(t, logs.String(), proc.Process.Pid, testbed.JWTSecret, "a-key-airflow-does-not-trust", api.Password("Op"), api.Password("Admin"))
	if !strings.Contains(logs.String(), "airflow_user="+people[2].name) {
		t.Errorf("the access log does not name the Airflow user a call acted as:\n%s", logs)
	}
}

// reloadPeople sends the gateway SIGHUP and waits until it has read its keys for Airflow users again.
func reloadPeople(t *testing.T, proc interface{ Signal(os.Signal) error }, logs *testbed.Buffer) {
	t.Helper()
	const want = "SIGHUP: the keys that act as Airflow users reloaded"
	before := strings.Count(logs.String(), want)
	if err := proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Count(logs.String(), want) > before {
			return
		}
	}
	t.Fatalf("no log line %q within 2 minutes of SIGHUP:\n%s", want, logs)
}

// TestRESTAsAPersonOnFAB: on Airflow 2.10 and on Airflow 3.3 with the FAB auth manager, a token mapped to
// each of three FAB users (roles Viewer and Op, and TeamA, which reaches one DAG by its access_control) gets
// what Airflow gives that user over REST v1 and v2, and Airflow's records name the user. On Airflow 2 the
// gateway sends the user's password from the users file; on Airflow 3 a JWT it signs with the user's id. A
// user deleted from Airflow gets a clear refusal; a user without a users file section on Airflow 2, or
// without a key on Airflow 3, is refused rather than acted as its role.
func TestRESTAsAPersonOnFAB(t *testing.T) {
	testbed.SkipShort(t, "Airflow's REST API against a real Airflow with FAB")
	for _, version := range []string{"2", testbed.FAB3} {
		t.Run("airflow-"+version, func(t *testing.T) {
			t.Parallel()
			home := testbed.MustHome(t, version, filepath.Join(testbed.Dir(), "gw_access.py"))
			api := testbed.StartAirflowAPIFor(t, home, []string{"Admin", "Viewer", "Op"})
			api.Run(t, "roles", "create", "TeamA")
			api.Run(t, "sync-perm", "--include-dags")
			api.CreateUser(t, "tara", "pw-tara", "TeamA")
			people := []person{
				{api.Users["Viewer"], api.Password("Viewer"), "as-viewer-token-0123456789"},
				{api.Users["Op"], api.Password("Op"), "as-op-token-0123456789"},
				{"tara", "pw-tara", "as-tara-token-0123456789"},
			}
			// The users file: the role Admin's user, and each person's password for Airflow 2.
			usersFile := api.UsersFile(t)
			f, _ := os.OpenFile(usersFile, os.O_APPEND|os.O_WRONLY, 0o600)
			for _, p := range people {
				fmt.Fprintf(f, "[user:%s]\npassword = %s\n\n", p.name, p.password)
			}
			f.Close()
			cfg := testbed.Config{Home: home, Executor: "subprocess", TokensFile: personTokens(t, append(people, person{"nobody", "", "as-nobody-token-0123456789"}), "role-admin-token-0123456789"),
				AirflowAPIURL: api.URL, AirflowAPIUsersFile: usersFile}
			if api.Major >= 3 {
				cfg.AirflowAPIJWTSecret = writePrivate(t, "jwt-secret", testbed.JWTSecret)
				// The same gateway runs the command dialect as these users (cliAsFABPeople): warm, it gets
				// warm while the REST API is asked, and answers a permission check in milliseconds.
				cfg.Executor = ""
			}
			logs := &testbed.Buffer{}
			proc, url := testbed.GatewayProcess(t, cfg, logs)

			seen := samePermissions(t, api, url, people)
			// tara reaches gw_access alone. (FAB on Airflow 3 lists her no DAG at all, straight as through the
			// gateway; Airflow 2 lists her gw_access.)
			tara := seen["tara"]
			if verdict(tara, "GET /dags/gw_conf") != "403" || verdict(tara, "GET /dags/gw_access") != "ok" || verdict(tara, "PATCH /dags/gw_access") != "ok" ||
				api.Major < 3 && verdict(tara, "GET /dags?limit=100") != "ok gw_access" {
				t.Errorf("Airflow's DAG-level access_control did not hold for tara: %q", tara)
			}
			admin := &testbed.Client{URL: api.URL, TokenHeader: "Authorization", Token: api.Authorization(t, api.Users["Admin"], api.Password("Admin"))}
			recordsNameThePerson(t, api, url, people[1], admin, "gw_fails")

			// An Airflow user the gateway cannot act as: refused, naming what to configure, never acted
			// as the token's role.
			nobody := (&testbed.Client{URL: url, Token: "as-nobody-token-0123456789"}).Do(t, "GET", "/api/v1/dags", nil)
			want := "[user:nobody]"
			if api.Major >= 3 {
				want = "does not exist in Airflow"
			}
			if nobody.Status != http.StatusForbidden || !strings.Contains(string(nobody.Body), want) {
				t.Errorf("a token of an Airflow user the gateway cannot act as: %d %s", nobody.Status, nobody.Body)
			}
			if api.Major >= 3 {
				start := time.Now()
				cliAsFABPeople(t, home, url, people[2], people[0])
				t.Logf("the command dialect as FAB users took %s", time.Since(start).Round(time.Millisecond))
				// Deleted from Airflow while the gateway holds a JWT for it: a clear refusal.
				api.Run(t, "users", "delete", "--username", "tara")
				a := (&testbed.Client{URL: url, Token: people[2].token}).Do(t, "GET", "/api/v2/dags", nil)
				if a.Status != http.StatusForbidden || !strings.Contains(string(a.Body), "tara, who does not exist in Airflow") {
					t.Errorf("a user deleted from Airflow: %d %s", a.Status, a.Body)
				}
			}
			noSecretsShown(t, logs.String(), proc.Process.Pid, testbed.JWTSecret, "pw-tara", api.Password("Op"), api.Password("Viewer"))
		})
	}
}

// cliAsFABPeople runs the command dialect as FAB users on Airflow 3 (§20), through the gateway that serves
// the REST API as them: tara, whose role reaches gw_access alone, triggers it and is named as the run's
// triggering user; her trigger of another DAG is refused with 403 and runs nothing; her dags list shows
// gw_access alone, and viewer's every DAG.
func cliAsFABPeople(t *testing.T, home *testbed.Home, url string, tara, viewer person) {
	t.Helper()
	as := func(p person) *testbed.Client { return &testbed.Client{URL: url, Token: p.token} }
	if r := scopedCommand(t, as(tara), "dags trigger gw_access -r person_cli_tara"); r.Status != http.StatusOK || r.ExitCode != 0 {
		t.Errorf("dags trigger gw_access as tara: %d exit %d %s %s", r.Status, r.ExitCode, r.Detail, tail(r.Stderr))
	}
	if got := strings.TrimSpace(home.SQL(t, "select triggering_user_name from dag_run where run_id = 'person_cli_tara'")); got != "tara" {
		t.Errorf("the run tara triggered on the command dialect names %q", got)
	}
	if r := scopedCommand(t, as(tara), "dags trigger gw_conf -r person_cli_refused"); r.Status != http.StatusForbidden ||
		!strings.Contains(r.Detail, `"tara"`) || !strings.Contains(r.Detail, "is_authorized_dag with method PUT") {
		t.Errorf("dags trigger gw_conf as tara: %d %s, want 403 naming tara and is_authorized_dag", r.Status, r.Detail)
	}
	if n := strings.TrimSpace(home.SQL(t, "select count(*) from dag_run where run_id = 'person_cli_refused'")); n != "0" {
		t.Errorf("a trigger refused to tara made %s runs", n)
	}
	if got := dagsListed(t, as(tara), ""); !slices.Equal(got, []string{"gw_access"}) {
		t.Errorf("tara's dags list on the command dialect: %v, want gw_access alone", got)
	}
	if got := dagsListed(t, as(viewer), ""); len(got) < 4 || !slices.Contains(got, "gw_access") || !slices.Contains(got, "gw_conf") {
		t.Errorf("the viewer's dags list on the command dialect: %v, want every DAG", got)
	}
}
