package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
)

// hostile is one request the gateway must refuse with a clear 4xx before anything runs.
type hostile struct {
	name    string
	method  string
	target  string // path and query
	header  http.Header
	body    io.Reader
	length  int64 // Content-Length to announce; 0 means the body's own
	says    string
	allowed []int // statuses that count as right; any 4xx when empty
}

func authed(extra ...string) http.Header {
	h := http.Header{}
	h.Set(bearer[0], bearer[1])
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

// pluginHostile are plugin calls that must be refused: shell text, traversal, flag smuggling, bad values,
// file arguments, odd Unicode.
var pluginHostile = []struct{ query, says string }{
	{"api=pause&dag_id=gw_conf;id", "cannot be read"},
	{"api=pause&dag_id=gw_conf%3Bid", "must be an Airflow id"},
	{"api=pause&dag_id=gw_conf%20%26%26%20id", "must be an Airflow id"},
	{"api=pause&dag_id=%60id%60", "must be an Airflow id"},
	{"api=pause&dag_id=%24(id)", "must be an Airflow id"},
	{"api=pause&dag_id=--subdir%3D/etc", "must be an Airflow id"},
	{"api=pause&dag_id=gw%00conf", "control character"},
	{"api=pause&dag_id=gw%0Aconf", "must be an Airflow id"},
	{"api=pause&dag_id=gw%01conf", "control character"},
	{"api=pause&dag_id=%E2%80%AEfnoc_wg", "must be an Airflow id"},
	{"api=pause&dag_id=gw_%C3%A7onf", "must be an Airflow id"},
	{"api=pause&dag_id=%FF%FE", "invalid UTF-8"},
	{"api=pause&dag_id=gw_conf&subdir=../../etc", "inside the DAGs folder"},
	{"api=pause&dag_id=gw_conf&subdir=/etc/passwd", "inside the DAGs folder"},
	{"api=pause&dag_id=gw_conf&subdir=DAGS_FOLDER/../..", "inside the DAGs folder"},
	{"api=list_dags&subdir=%2Fproc%2Fself", "inside the DAGs folder"},
	{"api=trigger_dag&dag_id=d&run_id=r%20x", "must be a run id"},
	{"api=trigger_dag&dag_id=d&run_id=run%2F1", "must be a run id"},
	{"api=trigger_dag&dag_id=d&conf=%7B", "must be a JSON object"},
	{"api=trigger_dag&dag_id=d&conf=%22str%22", "must be a JSON object"},
	{"api=trigger_dag&dag_id=d&conf=%7B%7D%3B%20id", "must be a JSON object"},
	{"api=trigger_dag&dag_id=d&exec_date=2024-01-01%3B%20id", "must be a date"},
	{"api=trigger_dag&dag_id=d&exec_date=-1", "must be a date"},
	{"api=test&dag_id=d&task_id=t&execution_date=2024-01-01&task_params=%5B%5D", "must be a JSON object"},
	{"api=test&dag_id=d&task_id=t&execution_date=next%20week", "must be a date"},
	{"api=test&dag_id=d&task_id=t%2F..&execution_date=2024-01-01", "must be an Airflow id"},
	{"api=dag_state&dag_id=d&execution_date=2024-02-30", "must be a date"},
	{"api=pool&cmd=set&pool_name=p&slot_count=1e9&description=d", "whole number"},
	{"api=pool&cmd=set&pool_name=p&slot_count=0x10&description=d", "whole number"},
	{"api=pool&cmd=drop&pool_name=p", "must be one of"},
	{"api=variables&cmd=set&key=k&value=v%00", "control character"},
	{"api=variables&import=/etc/passwd", "'import' is not accepted"},
	{"api=variables&export=/tmp/x.json", "'export' is not accepted"},
	{"api=run&dag_id=d&task_id=t&execution_date=2024-01-01&cfg_path=/etc/airflow.cfg", "'cfg_path' is not accepted"},
	{"api=run&dag_id=d&task_id=t&execution_date=2024-01-01&ship_dag=on", "'ship_dag' is not accepted"},
	{"api=run&dag_id=d&task_id=t&execution_date=2024-01-01&pickle=x", "'pickle' is not accepted"},
	{"api=scheduler&pid=/tmp/p", "'pid' is not accepted"},
	{"api=scheduler&log-file=/tmp/l", "'log-file' is not accepted"},
	{"api=scheduler&stdout=/tmp/o", "'stdout' is not accepted"},
	{"api=scheduler&stderr=/tmp/e", "'stderr' is not accepted"},
	{"api=scheduler&do_pickle=on", "'do_pickle' is not accepted"},
	{"api=flower&flower_conf=/tmp/f", "'flower_conf' is not accepted"},
	{"api=kerberos&keytab=/etc/krb5.keytab", "'keytab' is not accepted"},
	{"api=scheduler", "allow_daemons"},
	{"api=connections&add=on&conn_id=c%3Bid&conn_type=http", "must be a connection id"},
	{"api=connections&add=on&conn_id=c", "'conn_uri' or 'conn_type'"},
	{"api=clear&dag_id=.*", "must be an Airflow id"},
	{"api=backfill&dag_id=d&start_date=2024-01-01", "are required"},
	{"api=render&dag_id=d&task_id=t", "are required"},
	{"api=trigger_dag", "are required"},
	{"api=" + url.QueryEscape("pause; id"), "was not found"},
	{"api=..%2F..%2Fetc", "was not found"},
	{"api=", "API should be provided"},
	{"api=refresh_dag&dag_id=" + strings.Repeat("x", 300), "at most 250"},
	{"api=deploy_dag", "are required"},
	{"api=run&dag_id=d&task_id=t&execution_date=2024-01-01", "use API 'test'"},
}

// buildHostile lists every hostile request: the command dialect's hostile lines sent three ways, the
// plugin's hostile calls sent two ways, and requests that are wrong as HTTP.
func buildHostile() []hostile {
	var all []hostile
	for _, tt := range commandstest.HostileLines {
		if tt.Major == "2" {
			continue
		}
		q := url.Values{"command": {tt.Line}}
		body, _ := json.Marshal(map[string]string{"command": tt.Line})
		all = append(all,
			hostile{name: "GET " + tt.Line, method: "GET", target: "/api/v1/command?" + q.Encode(), header: authed(), says: tt.Says},
			hostile{name: "form " + tt.Line, method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/x-www-form-urlencoded"), body: strings.NewReader(q.Encode()), says: tt.Says},
			hostile{name: "JSON " + tt.Line, method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/json"), body: bytes.NewReader(body), says: tt.Says},
			hostile{name: "job " + tt.Line, method: "POST", target: "/api/v1/jobs?" + q.Encode(), header: authed(), says: tt.Says},
			hostile{name: "MWAA " + tt.Line, method: "POST", target: "/aws_mwaa/cli", header: authed("Content-Type", "text/plain"), body: strings.NewReader(tt.Line), says: tt.Says},
		)
	}
	// The job endpoints: ids, offsets and list parameters that are not what they should be.
	someID := strings.Repeat("0", 32)
	for _, id := range []string{"..%2F..%2Fetc%2Fpasswd", "%27%20OR%201%3D1%20--", strings.Repeat("a", 33), strings.Repeat("a", 4096), "%00" + strings.Repeat("0", 31), "0x" + strings.Repeat("0", 30), "%C3%A9" + strings.Repeat("0", 30)} {
		all = append(all,
			hostile{name: "job id " + id[:min(len(id), 40)], method: "GET", target: "/api/v1/jobs/" + id, header: authed(), says: "not a job ID"},
			hostile{name: "cancel of job id " + id[:min(len(id), 40)], method: "DELETE", target: "/api/v1/jobs/" + id, header: authed(), says: "not a job ID"},
			hostile{name: "output of job id " + id[:min(len(id), 40)], method: "GET", target: "/api/v1/jobs/" + id + "/output", header: authed(), says: "not a job ID"},
		)
	}
	for _, last := range []string{"abc", "-5", "1.5", "1e9", "99999999999999999999", "0x10", "; id"} {
		all = append(all, hostile{name: "Last-Event-ID " + last, method: "GET", target: "/api/v1/jobs/" + someID + "/output", header: authed("Last-Event-ID", last), says: "not a byte offset"})
	}
	for _, q := range []string{"state=done", "state=running%27%20OR%201%3D1", "limit=-1", "limit=501", "limit=1%3B%20DROP%20TABLE%20jobs", "before=%27%20OR%20%271%27%3D%271", "before=" + strings.Repeat("f", 31)} {
		all = append(all, hostile{name: "job list " + q, method: "GET", target: "/api/v1/jobs?" + q, header: authed()})
	}
	all = append(all,
		hostile{name: "job of a missing id", method: "GET", target: "/api/v1/jobs/" + someID, header: authed(), says: "no job"},
		hostile{name: "cancel of a missing id", method: "DELETE", target: "/api/v1/jobs/" + someID, header: authed(), says: "no job"},
		hostile{name: "PUT on a job", method: "PUT", target: "/api/v1/jobs/" + someID, header: authed(), allowed: []int{404, 405}},
		hostile{name: "POST on a job", method: "POST", target: "/api/v1/jobs/" + someID, header: authed(), allowed: []int{404, 405}},
		hostile{name: "job without a token", method: "POST", target: "/api/v1/jobs?command=version", header: http.Header{}, says: "valid token"},
		hostile{name: "job list without a token", method: "GET", target: "/api/v1/jobs", header: http.Header{}, says: "valid token"},
		hostile{name: "Viewer job of a delete", method: "POST", target: "/api/v1/jobs?command=dags%20delete%20gw_conf%20-y", header: http.Header{"Authorization": {"Bearer " + viewerToken}}, says: "needs role Admin"},
		hostile{name: "job from another site", method: "POST", target: "/api/v1/jobs?command=version", header: http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}, "Authorization": {"Bearer " + token}}, allowed: []int{403}},
		hostile{name: "cancel from another site", method: "DELETE", target: "/api/v1/jobs/" + someID, header: http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}, "Authorization": {"Bearer " + token}}, allowed: []int{403}},
	)
	for _, tt := range pluginHostile {
		all = append(all,
			hostile{name: "plugin GET " + tt.query, method: "GET", target: "/admin/rest_api/api?" + tt.query, header: authed(), says: tt.says},
		)
		values, err := url.ParseQuery(tt.query)
		if err != nil || values.Get("api") == "" {
			continue
		}
		api := values.Get("api")
		values.Del("api")
		all = append(all, hostile{name: "plugin form " + tt.query, method: "POST", target: "/admin/rest_api/api?api=" + url.QueryEscape(api),
			header: authed("Content-Type", "application/x-www-form-urlencoded"), body: strings.NewReader(values.Encode()), says: tt.says})
	}
	big := strings.Repeat("a", 2<<20)
	all = append(all,
		// Oversized query strings and bodies.
		hostile{name: "query of 2 MB", method: "GET", target: "/api/v1/command?command=" + strings.Repeat("a", 2<<20), header: authed(), allowed: []int{400, 414, 431}},
		hostile{name: "command of 17 kB", method: "GET", target: "/api/v1/command?command=dags%20list%20" + strings.Repeat("a", 17<<10), header: authed(), says: "bytes"},
		hostile{name: "JSON body of 2 MB", method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{"command": "` + big + `"}`), says: "over"},
		hostile{name: "plugin form of 2 MB", method: "POST", target: "/admin/rest_api/api?api=list_dags", header: authed("Content-Type", "application/x-www-form-urlencoded"), body: strings.NewReader("x=" + big), says: "over"},
		hostile{name: "plugin body announced as 1 GiB", method: "POST", target: "/admin/rest_api/api?api=deploy_dag", header: authed("Content-Type", "multipart/form-data; boundary=x"), body: strings.NewReader("--x--"), length: 1 << 30, says: "over", allowed: []int{413}},
		// Duplicate keys and unreadable queries.
		hostile{name: "two commands", method: "GET", target: "/api/v1/command?command=version&command=dags%20delete%20x%20-y", header: authed(), says: "given 2 times"},
		hostile{name: "raw semicolon in the query", method: "GET", target: "/api/v1/command?command=version;id", header: authed(), says: "cannot be read"},
		hostile{name: "bad percent escape", method: "GET", target: "/api/v1/command?command=%zz", header: authed(), says: "cannot be read"},
		hostile{name: "plugin bad percent escape", method: "GET", target: "/admin/rest_api/api?api=%zz", header: authed(), says: "cannot be read"},
		// Wrong content types.
		hostile{name: "text body", method: "POST", target: "/api/v1/command", header: authed("Content-Type", "text/plain"), body: strings.NewReader("dags list"), says: "not accepted"},
		hostile{name: "XML body", method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/xml"), body: strings.NewReader("<command>dags list</command>"), says: "not accepted"},
		hostile{name: "no content type", method: "POST", target: "/api/v1/command", header: authed(), body: strings.NewReader("command=dags+list"), says: "no command"},
		hostile{name: "JSON array", method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/json"), body: strings.NewReader(`["dags list"]`), says: "cannot be read"},
		hostile{name: "JSON number command", method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{"command": 1}`), says: "cannot be read"},
		hostile{name: "plugin JSON body", method: "POST", target: "/admin/rest_api/api?api=list_dags", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{}`), says: "not accepted"},
		hostile{name: "plugin broken multipart", method: "POST", target: "/admin/rest_api/api?api=list_dags", header: authed("Content-Type", "multipart/form-data; boundary=x"), body: strings.NewReader("garbage"), says: "cannot be read"},
		hostile{name: "plugin multipart without boundary", method: "POST", target: "/admin/rest_api/api?api=list_dags", header: authed("Content-Type", "multipart/form-data"), body: strings.NewReader("garbage"), says: "cannot be read"},
		// Header tricks.
		hostile{name: "no token", method: "GET", target: "/api/v1/command?command=version", header: http.Header{}, says: "valid token"},
		hostile{name: "token in the query string", method: "GET", target: "/api/v1/command?command=version&token=" + token, header: http.Header{}, says: "valid token"},
		hostile{name: "Basic scheme", method: "GET", target: "/api/v1/command?command=version", header: http.Header{"Authorization": {"Basic " + token}}, says: "valid token"},
		hostile{name: "token with a suffix", method: "GET", target: "/api/v1/command?command=version", header: http.Header{"Authorization": {"Bearer " + token + "x"}}, says: "valid token"},
		hostile{name: "token prefix", method: "GET", target: "/api/v1/command?command=version", header: http.Header{"Authorization": {"Bearer " + token[:10]}}, says: "valid token"},
		hostile{name: "Basic that is not base64", method: "GET", target: "/api/v1/dags", header: http.Header{"Authorization": {"Basic !!!not-base64"}}, allowed: []int{401}},
		hostile{name: "Basic without a colon", method: "GET", target: "/api/v2/dags", header: http.Header{"Authorization": {"Basic bm9jb2xvbg=="}}, allowed: []int{401}},
		hostile{name: "Basic on the command dialect", method: "GET", target: "/api/v1/command?command=version", header: http.Header{"Authorization": {"Basic Z3ctYWRtaW46cHctYWRtaW4="}}, allowed: []int{401}},
		hostile{name: "forged forwarding headers", method: "GET", target: "/admin/rest_api/api?api=version", header: http.Header{"X-Forwarded-For": {"127.0.0.1"}, "X-Real-Ip": {"127.0.0.1"}}, says: "Token Authentication Failed"},
		hostile{name: "plugin token under another header", method: "GET", target: "/admin/rest_api/api?api=version", header: http.Header{"X-Rest-Api-Plugin-Http-Token": {token}}, says: "Token Authentication Failed"},
		// Exact words ({"argv": [...]}) that the checks refuse as they refuse a line.
		hostile{name: "argv with a command too", method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{"command": "version", "argv": ["version"]}`), says: "both"},
		hostile{name: "argv of a path in one word", method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{"argv": ["dags delete", "gw_conf", "-y"]}`), says: "holds a space"},
		hostile{name: "argv with NUL", method: "POST", target: "/api/v1/jobs", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{"argv": ["variables", "set", "k", "a\u0000b"]}`), says: "control character"},
		hostile{name: "argv writing a file", method: "POST", target: "/api/v1/command", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{"argv": ["dags", "show", "gw_conf", "--save=/tmp/x.png"]}`), says: "writes a file"},
		hostile{name: "argv outside the DAGs folder", method: "POST", target: "/api/v1/jobs", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{"argv": ["dags", "test", "gw_conf", "-f", "/etc/passwd"]}`), says: "inside the DAGs folder"},
		hostile{name: "Viewer argv for a delete", method: "POST", target: "/api/v1/command", header: http.Header{"Authorization": {"Bearer " + viewerToken}, "Content-Type": {"application/json"}}, body: strings.NewReader(`{"argv": ["dags", "delete", "gw_conf", "-y"]}`), says: "needs role Admin"},
		// Minted tokens no gateway signed, and minting beyond what the caller may.
		hostile{name: "minted token of garbage", method: "GET", target: "/api/v1/command?command=version", header: http.Header{"Authorization": {"Bearer agw1.garbage.AAAA"}}, says: "valid token"},
		hostile{name: "minted token with an Admin role and no signature", method: "GET", target: "/api/v1/command?command=version", header: http.Header{"Authorization": {"Bearer agw1." + base64.RawURLEncoding.EncodeToString([]byte(`{"p":"ci","f":"","r":4,"e":99999999999,"n":""}`)) + "."}}, says: "valid token"},
		hostile{name: "minted token on MWAA", method: "POST", target: "/aws_mwaa/cli", header: http.Header{"Authorization": {"Bearer agw1.e30.AAAA"}, "Content-Type": {"text/plain"}}, body: strings.NewReader("version"), says: "valid token"},
		hostile{name: "minted token in the plugin header", method: "GET", target: "/admin/rest_api/api?api=version", header: http.Header{"Rest_api_plugin_http_token": {"agw1.e30.AAAA"}}, says: "Token Authentication Failed"},
		hostile{name: "Viewer minting an Admin token", method: "POST", target: "/api/v1/tokens", header: http.Header{"Authorization": {"Bearer " + viewerToken}, "Content-Type": {"application/json"}}, body: strings.NewReader(`{"role": "Admin"}`), says: "cannot mint"},
		hostile{name: "minting for a year", method: "POST", target: "/api/v1/tokens", header: authed("Content-Type", "application/json"), body: strings.NewReader(`{"ttl": "8760h"}`), says: "max_token_ttl"},
		hostile{name: "minting without a token", method: "POST", target: "/api/v1/tokens", header: http.Header{"Content-Type": {"application/json"}}, body: strings.NewReader(`{}`), says: "valid token"},
		hostile{name: "minting from another site", method: "POST", target: "/api/v1/tokens", header: http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}, "Authorization": {"Bearer " + token}}, allowed: []int{403}},
		hostile{name: "Viewer token for a delete", method: "GET", target: "/api/v1/command?command=dags%20delete%20gw_conf%20-y", header: http.Header{"Authorization": {"Bearer " + viewerToken}}, says: "needs role Admin"},
		hostile{name: "method override header", method: "GET", target: "/api/v1/command?command=dags%20delete%20gw_conf", header: authed("X-HTTP-Method-Override", "POST"), says: "--yes"},
		hostile{name: "PUT", method: "PUT", target: "/api/v1/command?command=version", header: authed(), allowed: []int{404, 405}},
		hostile{name: "DELETE on the plugin", method: "DELETE", target: "/admin/rest_api/api?api=version", header: authed(), allowed: []int{404, 405}},
		hostile{name: "path traversal in the URL", method: "GET", target: "/api/v1/../../etc/passwd", header: authed(), allowed: []int{301, 307, 308, 400, 404}},
		hostile{name: "encoded traversal in the URL", method: "GET", target: "/api/v1/%2e%2e/%2e%2e/etc/passwd", header: authed(), says: "encoded slash or dot"},
		hostile{name: "encoded slash in Airflow's API", method: "GET", target: "/api/v2/dags%2F..%2F..%2Fconfig", header: authed(), says: "encoded slash or dot"},
		hostile{name: "dot segment in Airflow's API", method: "GET", target: "/api/v2/dags/./x", header: authed(), says: "not a plain path"},
		// A suffix makes it a path of Airflow's REST API, never the command endpoint; with no Airflow API
		// known, it is answered so.
		hostile{name: "endpoint with a suffix", method: "GET", target: "/api/v1/command.json?command=version", header: authed(), allowed: []int{503}, says: "looking for Airflow's REST API"},
	)
	// The login, last: its failures count against the address, so later ones may meet 429.
	loginRefused := []int{400, 401, 403, 429}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	all = append(all,
		hostile{name: "login with a wrong token", method: "GET", target: "/login?token=wrong", header: http.Header{}, allowed: loginRefused},
		hostile{name: "login with a token prefix", method: "GET", target: "/login?token=" + token[:8], header: http.Header{}, allowed: loginRefused},
		hostile{name: "login with NUL", method: "GET", target: "/login?token=" + url.QueryEscape(token+"\x00"), header: http.Header{}, allowed: loginRefused},
		hostile{name: "login with a script", method: "GET", target: "/login?token=%3Cscript%3Ealert(1)%3C%2Fscript%3E", header: http.Header{}, allowed: loginRefused},
		hostile{name: "login form without a token", method: "POST", target: "/login", header: form, body: strings.NewReader("user=admin"), allowed: loginRefused},
		hostile{name: "login as JSON", method: "POST", target: "/login", header: http.Header{"Content-Type": {"application/json"}}, body: strings.NewReader(`{"token": "` + token + `"}`), allowed: loginRefused},
		hostile{name: "login from another site", method: "POST", target: "/login", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, body: strings.NewReader("token=" + token), allowed: []int{403}},
		hostile{name: "login with a broken form", method: "POST", target: "/login", header: form, body: strings.NewReader("token=%zz"), allowed: loginRefused},
		hostile{name: "forged session cookie", method: "GET", target: "/api/v1/command?command=version", header: http.Header{"Cookie": {"session=eyJuIjoiY2kifQ.AAAA"}}, allowed: []int{401, 429}},
		hostile{name: "session cookie of garbage", method: "GET", target: "/admin/rest_api/api?api=version", header: http.Header{"Cookie": {"session=" + strings.Repeat("A", 4000)}}, allowed: []int{403, 429}},
	)
	return all
}

// TestAdversarialSuite sends every hostile request and checks that each gets a clear 4xx (with a message
// that says what was wrong) and that no process starts.
func TestAdversarialSuite(t *testing.T) {
	ex := &scriptedExecutor{}
	// Each request carries its own credentials, or none, in its header; a redirect is an answer.
	anonymous := client(mustServer(t, ex, commands.Options{})).As("").NoRedirects()
	suite := buildHostile()
	if len(suite) < 150 {
		t.Fatalf("the suite has %d requests; it should have at least 150", len(suite))
	}
	for _, h := range suite {
		before := ex.runs.Load()
		var header []string
		for name, values := range h.header {
			for _, v := range values {
				header = append(header, name, v)
			}
		}
		body := h.body
		if h.length > 0 {
			header = append(header, "Content-Length", strconv.FormatInt(h.length, 10))
			body = io.MultiReader(h.body, neverEnding{})
		}
		a, err := anonymous.Send(h.method, h.target, body, header...)
		if err != nil {
			t.Errorf("%s: %v", h.name, err)
			continue
		}
		ok := a.Status/100 == 4
		if len(h.allowed) > 0 {
			ok = false
			for _, s := range h.allowed {
				ok = ok || a.Status == s
			}
		}
		if !ok {
			t.Errorf("%s: status %d: %.300s", h.name, a.Status, a.Body)
			continue
		}
		if h.says != "" && !strings.Contains(messageOf(a.Body), h.says) {
			t.Errorf("%s: %d %.300s does not say %q", h.name, a.Status, a.Body, h.says)
		}
		if ex.runs.Load() != before {
			t.Errorf("%s: a process was started", h.name)
		}
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d processes were started for hostile requests", n)
	}
	t.Logf("%d hostile requests, each refused with a 4xx, no process started", len(suite))
}

// messageOf returns what an answer says: a problem's detail, an envelope's output, or the body itself.
func messageOf(raw []byte) string {
	var doc struct {
		Detail string `json:"detail"`
		Output any    `json:"output"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		return string(raw)
	}
	if s, ok := doc.Output.(string); ok {
		return doc.Detail + s
	}
	return doc.Detail
}
