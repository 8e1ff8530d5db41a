package commands_test

import (
	"reflect"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// TestDialectsAgreeOnValues sends the same values through the plugin dialect and the command dialect: both
// must accept them and run the same argv, or both refuse them.
func TestDialectsAgreeOnValues(t *testing.T) {
	tests := []struct {
		name, major, query, line string
		ok                       bool
	}{
		// Airflow reads a null conf as no conf.
		{"null conf", "3", "api=trigger_dag&dag_id=gw_conf&conf=null", "dags trigger gw_conf --conf null", true},
		{"object conf", "2", "api=trigger_dag&dag_id=gw_conf&conf=%7B%22a%22%3A%20%22b%20c%22%7D", `dags trigger gw_conf --conf '{"a": "b c"}'`, true},
		{"list conf", "3", "api=trigger_dag&dag_id=gw_conf&conf=%5B1%5D", "dags trigger gw_conf --conf '[1]'", false},
		{"number conf", "2", "api=trigger_dag&dag_id=gw_conf&conf=5", "dags trigger gw_conf --conf 5", false},
		{"conf not JSON", "3", "api=trigger_dag&dag_id=gw_conf&conf=%7Ba", "dags trigger gw_conf --conf '{a'", false},
		// Airflow's date parser reads a space between the date and the time as a T.
		{"time after a space, 2", "2", "api=trigger_dag&dag_id=gw_conf&exec_date=2024-01-01%2010:00", "dags trigger gw_conf --exec-date '2024-01-01 10:00'", true},
		{"time after a space, 3", "3", "api=trigger_dag&dag_id=gw_conf&exec_date=2024-01-01%2010:00", "dags trigger gw_conf --logical-date '2024-01-01 10:00'", true},
		{"offset without colon", "3", "api=trigger_dag&dag_id=gw_conf&exec_date=2024-01-01T10:00:00%2B0000", "dags trigger gw_conf --logical-date 2024-01-01T10:00:00+0000", true},
		{"RFC 3339 with fraction", "2", "api=trigger_dag&dag_id=gw_conf&exec_date=2024-01-01T10:00:00.5Z", "dags trigger gw_conf --exec-date 2024-01-01T10:00:00.5Z", true},
		{"no such month", "3", "api=trigger_dag&dag_id=gw_conf&exec_date=2024-13-01", "dags trigger gw_conf --logical-date 2024-13-01", false},
		{"no such hour", "2", "api=trigger_dag&dag_id=gw_conf&exec_date=2024-01-01T25:00", "dags trigger gw_conf --exec-date 2024-01-01T25:00", false},
		{"words for a date", "2", "api=trigger_dag&dag_id=gw_conf&exec_date=yesterday", "dags trigger gw_conf --exec-date yesterday", false},
		{"run id", "3", "api=trigger_dag&dag_id=gw_conf&run_id=manual__2024-01-01T00:00:00%2B00:00", "dags trigger gw_conf --run-id manual__2024-01-01T00:00:00+00:00", true},
		{"run id with a semicolon", "3", "api=trigger_dag&dag_id=gw_conf&run_id=r%3B1", "dags trigger gw_conf --run-id 'r;1'", false},
		{"DAG id with a space", "2", "api=pause&dag_id=a%20b", "dags pause 'a b'", false},
		{"DAG id with a slash", "3", "api=unpause&dag_id=..%2Fx", "dags unpause ../x", false},
		{"task params", "3", "api=test&dag_id=d&task_id=t&execution_date=2024-01-01&task_params=%7B%22a%22%3A1%7D", `tasks test d t 2024-01-01 --task-params '{"a":1}'`, true},
		// tasks test updates the task's params with the value: null would fail inside Airflow.
		{"null task params", "2", "api=test&dag_id=d&task_id=t&execution_date=2024-01-01&task_params=null", "tasks test d t 2024-01-01 --task-params null", false},
		{"run id for a date", "3", "api=task_state&dag_id=d&task_id=t&execution_date=run_1", "tasks state d t run_1", true},
		{"time after a space for a run", "2", "api=task_state&dag_id=d&task_id=t&execution_date=2024-01-01%2010:00", "tasks state d t '2024-01-01 10:00'", true},
		{"no such day for a run", "3", "api=task_state&dag_id=d&task_id=t&execution_date=2024-02-30", "tasks state d t 2024-02-30", false},
		{"words for a run", "3", "api=task_state&dag_id=d&task_id=t&execution_date=a%20b", "tasks state d t 'a b'", false},
		{"task id with a dot", "2", "api=task_state&dag_id=d&task_id=group.t&execution_date=2024-01-01", "tasks state d group.t 2024-01-01", true},
		{"slots", "3", "api=pool&cmd=set&pool_name=p&slot_count=-1&pool_description=d", "pools set p -1 d", true},
		{"slots in words", "2", "api=pool&cmd=set&pool_name=p&slot_count=ten&pool_description=d", "pools set p ten d", false},
		{"connection id with a colon", "3", "api=connections&delete&conn_id=my:conn", "connections delete my:conn", true},
		{"connection id with a space", "2", "api=connections&delete&conn_id=my%20conn", "connections delete 'my conn'", false},
		{"subdir inside", "2", "api=pause&dag_id=d&subdir=my_dag.py", "dags pause d --subdir my_dag.py", true},
		{"subdir outside", "2", "api=pause&dag_id=d&subdir=..%2F..%2Fetc", "dags pause d --subdir ../../etc", false},
		{"control character", "3", "api=variables&cmd=set&key=k&value=a%01b", "variables set k \"a\x01b\"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.major)
			args := pluginArgs(t, tt.query)
			call, pluginErr := p.ResolvePlugin(args["api"], args, commands.RoleAdmin)
			inv, commandErr := p.ResolveLine(tt.line, commands.RoleAdmin)
			if pluginErr == nil != tt.ok || commandErr == nil != tt.ok {
				t.Fatalf("plugin: %v; command: %v; want accepted %v by both", pluginErr, commandErr, tt.ok)
			}
			if !tt.ok {
				if commands.ErrorCode(pluginErr) != commands.EINVALID || commands.ErrorCode(commandErr) != commands.EINVALID {
					t.Errorf("plugin %s, command %s; want both %s", commands.ErrorCode(pluginErr), commands.ErrorCode(commandErr), commands.EINVALID)
				}
				return
			}
			if got, want := call.Invocation.Args(), inv.Args(); !reflect.DeepEqual(got, want) {
				t.Errorf("plugin runs %q, command runs %q", got, want)
			}
		})
	}
}

func TestValidDate(t *testing.T) {
	for s, want := range map[string]bool{
		"2024-02-29": true, "2023-02-29": false, "2024-01-01T10:00": true, "2024-01-01 10:00:05": true,
		"2024-01-01T10:00:05.123456789+05:30": true, "2024-01-01T10:00Z": true, "2024-01-01T10:00:00-0130": true,
		"2024-01-01T10": false, "2024-01-01T10:61": false, "2024-1-1": false, "20240101": false, " 2024-01-01": false,
		"2024-01-01T10:00:00+25:00": false, "": false,
	} {
		if got := commands.ValidDate(s); got != want {
			t.Errorf("ValidDate(%q) = %v, want %v", s, got, want)
		}
	}
}
