// Package commandstest holds test data shared by the tests of every dialect.
package commandstest

import (
	"strings"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// HostileLines are command strings that must be refused with a 4xx before anything runs, on the Airflow
// major version named (both when empty). Each names words the message must hold, so that it says what was
// wrong.
var HostileLines = []struct{ Line, Code, Says, Major string }{
	{"dags list; rm -rf /", commands.EINVALID, "`;`", ""},
	{"dags list && id", commands.EINVALID, "`&&`", ""},
	{"dags list & id", commands.EINVALID, "`&`", ""},
	{"dags list | sh", commands.EINVALID, "`|`", ""},
	{"dags list > /tmp/x", commands.EINVALID, "`>`", ""},
	{"dags list < /etc/passwd", commands.EINVALID, "`<`", ""},
	{"dags list `id`", commands.EINVALID, "backticks", ""},
	{"dags trigger $(id)", commands.EINVALID, "`$(`", ""},
	{"dags trigger \"$(id)\"", commands.EINVALID, "`$(`", ""},
	{"dags list\nid", commands.EINVALID, "control character", ""},
	{"dags list\x00", commands.EINVALID, "control character", ""},
	{`"dags trigger"`, commands.EINVALID, "holds a space", ""},
	{`dags" "trigger gw_conf`, commands.EINVALID, "holds a space", ""},
	{`variables set k a\nb`, commands.EINVALID, "control character after unescaping", ""},
	{`variables set k $"("id`, commands.EINVALID, "after unquoting", ""},
	{"dags list -S ../../etc", commands.EINVALID, "inside the DAGs folder", "2"},
	{"dags list -S /etc/passwd", commands.EINVALID, "inside the DAGs folder", "2"},
	{"dags list --subdir=/tmp", commands.EINVALID, "inside the DAGs folder", "2"},
	{"dags list -S DAGS_FOLDER/../..", commands.EINVALID, "inside the DAGs folder", "2"},
	{"dags test gw_conf -f ../../etc/passwd", commands.EINVALID, "inside the DAGs folder", "3"},
	{"dags test gw_conf --dagfile-path=/etc/passwd", commands.EINVALID, "inside the DAGs folder", "3"},
	{"dags list --out json", commands.EINVALID, "did you mean --output", ""},
	{"dags trigger gw_conf --run run1", commands.EINVALID, "did you mean --run-id", ""},
	{"dags list --outptu json", commands.EINVALID, "did you mean --output", ""},
	{"dags list --bogus", commands.EINVALID, "has no flag --bogus", ""},
	{"dags list -ojson", commands.EINVALID, "-o VALUE", ""},
	{"dags show gw_conf --save /tmp/x.png", commands.EINVALID, "writes a file", ""},
	{"dags show gw_conf --imgcat", commands.EINVALID, "terminal graphics", ""},
	{"dags test gw_conf --save-dagrun /tmp/x", commands.EINVALID, "writes a file", ""},
	{"tasks test gw_conf show_conf --env-vars {}", commands.EINVALID, "environment", ""},
	{"users create -u x", commands.EINVALID, "`users", ""},
	{"db reset -y", commands.EINVALID, "does not run", ""},
	{"db shell", commands.EINVALID, "does not run", ""},
	{"dags backfill gw_conf -s 2024-01-01", commands.EINVALID, "use `backfill create", "3"},
	{"tasks run gw_conf show_conf 2024-01-01", commands.EINVALID, "use `tasks test", "3"},
	{"dags delete gw_conf", commands.EINVALID, "--yes", ""},
	{"tasks clear gw_conf", commands.EINVALID, "--yes", ""},
	{"db clean --clean-before-timestamp 2024-01-01", commands.EINVALID, "--yes", ""},
	{"dags trigger gw_conf -c --verbose", commands.EINVALID, "needs a value", ""},
	{"dags trigger gw_conf -c", commands.EINVALID, "needs a value", ""},
	{"dags trigger gw_conf -c [1]", commands.EINVALID, "JSON object", ""},
	{"dags trigger gw_conf -c notjson", commands.EINVALID, "JSON object", ""},
	{"dags trigger", commands.EINVALID, "needs DAG_ID", ""},
	{"dags trigger a b", commands.EINVALID, "does not take the argument \"b\"", ""},
	{"dags list -o html", commands.EINVALID, "one of table, json, yaml, plain", ""},
	{"connections list -o table", commands.EINVALID, "leave out -o table", ""},
	{"dags list --verbose=yes", commands.EINVALID, "takes no value", ""},
	{"dags trigger gw_conf -r a -r b", commands.EINVALID, "given twice", ""},
	{"tasks test gw_conf show_conf --map-index x", commands.EINVALID, "whole number", ""},
	{"dags trigger gw_conf --logical-date yesterday", commands.EINVALID, "must be a date", "3"},
	{"config get-value database sql_alchemy_conn", commands.EFORBIDDEN, "sensitive", ""},
	{"config get-value core fernet_key", commands.EFORBIDDEN, "sensitive", ""},
	{"config get-value api auth_token_thing", commands.EFORBIDDEN, "sensitive", ""},
	{"dags", commands.EINVALID, "needs a subcommand", ""},
	{"dags frobnicate", commands.EINVALID, "takes one of", ""},
	{"", commands.EINVALID, "no command given", ""},
	{"airflow", commands.EINVALID, "no command given", ""},
	{"'unclosed", commands.EINVALID, "quotes", ""},
	{"variables import /etc/passwd", commands.EINVALID, "does not run", ""},
	{"dags list " + strings.Repeat("x", commands.MaxCommandBytes), commands.EINVALID, "limit", ""},
}
