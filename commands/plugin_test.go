package commands_test

import (
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// pluginArgs reads a query string into the plugin's first-value-per-key arguments.
func pluginArgs(tb testing.TB, query string) map[string]string {
	tb.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for k, vals := range v {
		out[k] = vals[0]
	}
	return out
}

func TestResolvePluginArgv(t *testing.T) {
	tests := []struct {
		major, query string
		want         string // the shown command
		warning      string // a word the warnings hold, when any
	}{
		{"2", "api=render&dag_id=d&task_id=t&execution_date=2024-01-01", "airflow tasks render -- d t 2024-01-01", ""},
		{"3", "api=render&dag_id=d&task_id=t&execution_date=2024-01-01&subdir=my_dag.py", "airflow tasks render -- d t 2024-01-01", "subdir"},
		{"3", "api=variables&cmd=set&key=myVar1&value=myValue1", "airflow variables set -- myVar1 myValue1", ""},
		{"3", "api=variables&cmd=set&key=api_key&value=s3cret", "airflow variables set -- api_key '***'", ""},
		{"3", "api=variables&get=myVar1&json&default=x", "airflow variables get --json --default=x -- myVar1", ""},
		{"3", "api=variables&cmd=get&key=myVar1", "airflow variables get -- myVar1", ""},
		{"3", "api=variables&delete=myVar1", "airflow variables delete -- myVar1", ""},
		{"3", "api=variables", "airflow variables list --output=json", ""},
		{"3", "api=connections&add=on&conn_id=c1&conn_uri=postgres://u:pw@h/db", "airflow connections add '--conn-uri=postgres://u:***@h/db' -- c1", ""},
		{"3", "api=connections&add&conn_id=c1&conn_type=http&conn_extra=%7B%7D", "airflow connections add --conn-type=http '--conn-extra=***' -- c1", ""},
		{"3", "api=connections&delete=true&conn_id=c1", "airflow connections delete -- c1", ""},
		{"3", "api=connections&list", "airflow connections list --output=json", ""},
		{"2", "api=pause&dag_id=d", "airflow dags pause -- d", ""},
		{"3", "api=unpause&dag_id=d", "airflow dags unpause -- d", ""},
		{"2", "api=task_failed_deps&dag_id=d&task_id=t&execution_date=2024-01-01T03:04:05", "airflow tasks failed-deps -- d t 2024-01-01T03:04:05", ""},
		{"2", "api=trigger_dag&dag_id=d&run_id=r1&conf=%7B%22key%22%3A%22value%22%7D&exec_date=2024-01-01", `airflow dags trigger --run-id=r1 '--conf={"key":"value"}' --exec-date=2024-01-01 -- d`, ""},
		{"3", "api=trigger_dag&dag_id=d&exec_date=2024-01-01T00:00:00%2B00:00", "airflow dags trigger --logical-date=2024-01-01T00:00:00+00:00 -- d", ""},
		{"2", "api=test&dag_id=d&task_id=t&execution_date=2024-01-01&dry_run&task_params=%7B%22a%22%3A1%7D", `airflow tasks test --dry-run '--task-params={"a":1}' -- d t 2024-01-01`, ""},
		{"3", "api=test&dag_id=d&task_id=t&execution_date=2024-01-01&dry_run=false", "airflow tasks test -- d t 2024-01-01", ""},
		{"2", "api=dag_state&dag_id=d&execution_date=2024-01-01", "airflow dags state -- d 2024-01-01", ""},
		{"2", "api=run&dag_id=d&task_id=t&execution_date=2024-01-01&local&force=on&mark_success=0&pool=p", "airflow tasks run --force --pool=p --local -- d t 2024-01-01", ""},
		{"2", "api=list_tasks&dag_id=d&tree", "airflow tasks list --tree -- d", ""},
		{"3", "api=list_tasks&dag_id=d&tree", "airflow tasks list -- d", "tree"},
		{"2", "api=backfill&dag_id=d&start_date=2024-01-01&end_date=2024-01-02&dry_run&local&include_adhoc=on", "airflow dags backfill --start-date=2024-01-01 --end-date=2024-01-02 --local --dry-run --yes -- d", "include_adhoc"},
		{"3", "api=backfill&dag_id=d&start_date=2024-01-01&end_date=2024-01-02&dry_run&local", "airflow backfill create --dag-id=d --from-date=2024-01-01 --to-date=2024-01-02 --dry-run", "local"},
		{"2", "api=list_dags", "airflow dags list", ""},
		{"3", "api=list_dags&report", "airflow dags report", ""},
		{"2", "api=task_state&dag_id=d&task_id=t&execution_date=2024-01-01", "airflow tasks state -- d t 2024-01-01", ""},
		{"3", "api=pool&cmd=set&pool_name=myTestpool&slot_count=10&description=myTestpoolDescription", "airflow pools set -- myTestpool 10 myTestpoolDescription", ""},
		{"3", "api=pool&cmd=set&pool_name=p&slot_count=-1&pool_description=d", "airflow pools set -- p -1 d", ""},
		{"2", "api=pool&get=p", "airflow pools get -- p", ""},
		{"2", "api=pool&delete=p", "airflow pools delete -- p", ""},
		{"2", "api=pool", "airflow pools list", ""},
		{"3", "api=clear&dag_id=d&task_regex=ex.*&upstream&only_failed=yes&exclude_subdags", "airflow tasks clear '--task-regex=ex.*' --upstream --only-failed --yes -- d", "exclude_subdags"},
		{"2", "api=clear&dag_id=d&exclude_subdags", "airflow tasks clear --exclude-subdags --yes -- d", ""},
		{"3", "api=refresh_dag&dag_id=d", "airflow dags reserialize", ""},
		{"2", "api=refresh_all_dags", "airflow dags reserialize", ""},
		{"3", "api=%20Version%20", "", ""},
		{"3", "api=variables&cmd=set&key=-k&value=--force", "airflow variables set -- -k --force", ""},
	}
	for _, tt := range tests {
		t.Run(tt.major+"/"+tt.query, func(t *testing.T) {
			p := mustPolicy(t, tt.major)
			args := pluginArgs(t, tt.query)
			call, err := p.ResolvePlugin(args["api"], args, commands.RoleAdmin)
			if err != nil {
				t.Fatal(err)
			}
			shown := ""
			if call.Invocation != nil {
				shown = strings.ReplaceAll(call.Invocation.String(), p.DagsFolder(), "DAGS")
			}
			if shown != tt.want {
				t.Errorf("command:\n got %s\nwant %s", shown, tt.want)
			}
			warnings := strings.Join(call.Warnings, "; ")
			if tt.warning == "" && warnings != "" || !strings.Contains(warnings, tt.warning) {
				t.Errorf("warnings %q, want one naming %q", warnings, tt.warning)
			}
		})
	}
}

func TestPluginSubdirIsConfined(t *testing.T) {
	p := mustPolicy(t, "2")
	args := pluginArgs(t, "api=render&dag_id=d&task_id=t&execution_date=2024-01-01&subdir=my_dag.py")
	call, err := p.ResolvePlugin(args["api"], args, commands.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tasks", "render", "--subdir=" + filepath.Join(p.DagsFolder(), "my_dag.py"), "--", "d", "t", "2024-01-01"}
	if got := call.Invocation.Args(); !reflect.DeepEqual(got, want) {
		t.Errorf("argv %q, want %q", got, want)
	}
}

func TestResolvePluginRefuses(t *testing.T) {
	tests := []struct {
		major, query string
		role         commands.Role
		code, says   string
	}{
		{"3", "", commands.RoleAdmin, commands.EINVALID, "API should be provided"},
		{"3", "api=%20", commands.RoleAdmin, commands.EINVALID, "API should be provided"},
		{"3", "api=nope", commands.RoleAdmin, commands.EINVALID, "API 'nope' was not found"},
		{"3", "api=task_state&execution_date=2024-01-01", commands.RoleAdmin, commands.EINVALID, "The argument(s) ['dag_id', 'task_id'] are required"},
		{"3", "api=render", commands.RoleAdmin, commands.EINVALID, "The argument(s) ['dag_id', 'task_id', 'execution_date'] are required"},
		{"3", "api=variables&cmd=set&key=k", commands.RoleAdmin, commands.EINVALID, "The argument(s) ['value'] are required"},
		{"3", "api=pool&cmd=set&pool_name=p", commands.RoleAdmin, commands.EINVALID, "The argument(s) ['slot_count', 'pool_description'] are required"},
		{"3", "api=pool&cmd=get", commands.RoleAdmin, commands.EINVALID, "The argument(s) ['pool_name'] are required"},
		{"3", "api=variables&cmd=set&get=k&key=k&value=v", commands.RoleAdmin, commands.EINVALID, "one operation per call"},
		{"3", "api=variables&cmd=explode", commands.RoleAdmin, commands.EINVALID, "'cmd' must be one of set, get, delete, list"},
		{"3", "api=connections&add&delete&conn_id=c", commands.RoleAdmin, commands.EINVALID, "one operation per call"},
		{"3", "api=connections&add&conn_id=c", commands.RoleAdmin, commands.EINVALID, "'conn_uri' or 'conn_type'"},
		{"3", "api=pause&dag_id=a%20b", commands.RoleAdmin, commands.EINVALID, "'dag_id' must be an Airflow id"},
		{"3", "api=pause&dag_id=" + strings.Repeat("a", 251), commands.RoleAdmin, commands.EINVALID, "at most 250"},
		{"3", "api=trigger_dag&dag_id=d&run_id=r%3Bx", commands.RoleAdmin, commands.EINVALID, "'run_id' must be a run id"},
		{"3", "api=trigger_dag&dag_id=d&conf=%5B1%5D", commands.RoleAdmin, commands.EINVALID, "'conf' must be a JSON object"},
		{"3", "api=trigger_dag&dag_id=d&conf=5", commands.RoleAdmin, commands.EINVALID, "'conf' must be a JSON object"},
		{"3", "api=trigger_dag&dag_id=d&exec_date=yesterday", commands.RoleAdmin, commands.EINVALID, "'exec_date' must be a date"},
		{"2", "api=dag_state&dag_id=d&execution_date=2024-13-01", commands.RoleAdmin, commands.EINVALID, "'execution_date' must be a date"},
		{"3", "api=dag_state&dag_id=d&execution_date=a%20b", commands.RoleAdmin, commands.EINVALID, "'execution_date' must be a date (YYYY-MM-DD, optionally with a time) or a run id"},
		{"3", "api=refresh_dag&dag_id=..%2Fx", commands.RoleAdmin, commands.EINVALID, "'dag_id' must be an Airflow id"},
		{"3", "api=pool&cmd=set&pool_name=p&slot_count=ten&description=d", commands.RoleAdmin, commands.EINVALID, "'slot_count' must be a whole number"},
		{"3", "api=variables&cmd=set&key=k&value=a%00b", commands.RoleAdmin, commands.EINVALID, "control character"},
		{"2", "api=pause&dag_id=d&subdir=../../etc", commands.RoleAdmin, commands.EINVALID, "inside the DAGs folder"},
		{"3", "api=pause&dag_id=d&subdir=/etc/passwd", commands.RoleAdmin, commands.EINVALID, "inside the DAGs folder"},
		{"2", "api=run&dag_id=d&task_id=t&execution_date=2024-01-01&cfg_path=/etc/x", commands.RoleAdmin, commands.EINVALID, "'cfg_path' is not accepted"},
		{"2", "api=run&dag_id=d&task_id=t&execution_date=2024-01-01&pickle=x", commands.RoleAdmin, commands.EINVALID, "'pickle' is not accepted"},
		{"2", "api=run&dag_id=d&task_id=t&execution_date=2024-01-01&ship_dag", commands.RoleAdmin, commands.EINVALID, "'ship_dag' is not accepted"},
		{"3", "api=variables&import=/tmp/v.json", commands.RoleAdmin, commands.EINVALID, "'import' is not accepted"},
		{"3", "api=variables&export=/tmp/v.json", commands.RoleAdmin, commands.EINVALID, "'export' is not accepted"},
		{"3", "api=scheduler&do_pickle", commands.RoleAdmin, commands.EINVALID, "'do_pickle' is not accepted"},
		{"3", "api=scheduler&pid=/tmp/x", commands.RoleAdmin, commands.EINVALID, "'pid' is not accepted"},
		{"3", "api=scheduler&stdout=/tmp/x", commands.RoleAdmin, commands.EINVALID, "'stdout' is not accepted"},
		{"3", "api=scheduler&stderr=/tmp/x", commands.RoleAdmin, commands.EINVALID, "'stderr' is not accepted"},
		{"3", "api=scheduler&log-file=/tmp/x", commands.RoleAdmin, commands.EINVALID, "'log-file' is not accepted"},
		{"3", "api=flower&flower_conf=/tmp/x", commands.RoleAdmin, commands.EINVALID, "'flower_conf' is not accepted"},
		{"3", "api=run&dag_id=d&task_id=t&execution_date=2024-01-01", commands.RoleAdmin, commands.EINVALID, "use API 'test'"},
		{"3", "api=test&dag_id=d&task_id=t&execution_date=2024-01-01&dry_run", commands.RoleAdmin, commands.EINVALID, "'dry_run' is not available in Airflow 3.3.2"},
		{"3", "api=backfill&dag_id=d&start_date=2024-01-01", commands.RoleAdmin, commands.EINVALID, "The argument(s) ['end_date'] are required"},
		{"2", "api=backfill&dag_id=d", commands.RoleAdmin, commands.EINVALID, "'start_date' or 'end_date'"},
		{"2", "api=scheduler", commands.RoleAdmin, commands.EFORBIDDEN, "allow_daemons = True"},
		{"3", "api=kerberos", commands.RoleAdmin, commands.EFORBIDDEN, "allow_daemons = True"},
		{"3", "api=worker", commands.RoleAdmin, commands.EFORBIDDEN, "allow_daemons = True"},
		{"3", "api=flower", commands.RoleAdmin, commands.EFORBIDDEN, "allow_daemons = True"},
		{"3", "api=serve_logs", commands.RoleAdmin, commands.EFORBIDDEN, "allow_daemons = True"},
		{"3", "api=deploy_dag", commands.RoleOp, commands.EFORBIDDEN, "needs role Admin"},
		{"3", "api=variables", commands.RoleUser, commands.EFORBIDDEN, "needs role Op"},
		{"3", "api=trigger_dag&dag_id=d", commands.RoleViewer, commands.EFORBIDDEN, "needs role User"},
		{"3", "api=pool&cmd=set&pool_name=p&slot_count=1&description=d", commands.RoleViewer, commands.EFORBIDDEN, "`pools set` needs role Op"},
		{"3", "api=scheduler", commands.RoleOp, commands.EFORBIDDEN, "needs role Admin"},
	}
	for _, tt := range tests {
		t.Run(tt.major+"/"+tt.query, func(t *testing.T) {
			p := mustPolicy(t, tt.major)
			args := pluginArgs(t, tt.query)
			call, err := p.ResolvePlugin(args["api"], args, tt.role)
			if err == nil {
				t.Fatalf("resolved to %+v, want an error", call)
			}
			if commands.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("got %s %q, want %s saying %q", commands.ErrorCode(err), err, tt.code, tt.says)
			}
		})
	}
}

func TestPluginDaemonsWhenAllowed(t *testing.T) {
	tests := []struct{ major, query, want, says string }{
		{"2", "api=scheduler&num_runs=3&daemon=on", "airflow scheduler --num-runs=3", ""},
		{"3", "api=kerberos&principal=airflow", "airflow kerberos -- airflow", ""},
		{"3", "api=worker", "", "apache-airflow-providers-celery"},
		{"2", "api=flower", "", "apache-airflow-providers-celery"},
		{"3", "api=serve_logs", "", "serve their logs themselves"},
		{"2", "api=serve_logs", "", "serve their logs themselves"},
	}
	for _, tt := range tests {
		t.Run(tt.major+"/"+tt.query, func(t *testing.T) {
			p := mustPolicy(t, tt.major)
			p.AllowDaemons = true
			args := pluginArgs(t, tt.query)
			call, err := p.ResolvePlugin(args["api"], args, commands.RoleAdmin)
			if tt.says != "" {
				if commands.ErrorCode(err) != commands.EINVALID || !strings.Contains(commands.ErrorMessage(err), tt.says) {
					t.Fatalf("got %v, want 400 saying %q", err, tt.says)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if call.Action != commands.PluginDaemon || call.Invocation.String() != tt.want {
				t.Errorf("action %v, command %s, want %s", call.Action, call.Invocation, tt.want)
			}
		})
	}
}

func TestCommandDialectRefusesPluginOnlyPaths(t *testing.T) {
	for _, line := range []string{"scheduler -D", "tasks run d t 2024-01-01", "kerberos"} {
		if _, err := mustPolicy(t, "2").ResolveLine(line, commands.RoleAdmin); commands.ErrorCode(err) != commands.EINVALID {
			t.Errorf("%s: %v, want 400", line, err)
		}
	}
	for _, c := range mustPolicy(t, "2").Allowed(commands.RoleAdmin).Commands {
		if c.Path == "scheduler" || c.Path == "tasks run" {
			t.Errorf("the listing offers %s", c.Path)
		}
	}
}

func TestMaskArguments(t *testing.T) {
	all := map[string]string{"key": "db_password", "value": "hunter2", "conn_uri": "postgres://u:pw@h/db", "conn_password": "pw", "token": "t", "dag_id": "d"}
	got := commands.MaskArguments(all, all)
	want := map[string]string{"key": "db_password", "value": "***", "conn_uri": "postgres://u:***@h/db", "conn_password": "***", "token": "***", "dag_id": "d"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}
