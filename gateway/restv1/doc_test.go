package restv1

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// docsTable is the table of docs/rest-api.md, made from the translation table.
func docsTable() string {
	var b strings.Builder
	b.WriteString("| Airflow 2 (`/api/v1`) | Airflow 3 (`/api/v2`) | request | answer |\n|---|---|---|---|\n")
	for _, ep := range table {
		if ep.Gone != "" {
			fmt.Fprintf(&b, "| `%s %s` | 404: %s | | |\n", ep.Method, ep.Path, ep.Gone)
			continue
		}
		answer := funcName(ep.Answer)
		if ep.Object != nil {
			answer = funcName(ep.Object)
			if ep.List != "" {
				answer += " in `" + ep.List + "`"
			}
		}
		if ep.Status != 0 {
			answer = strings.TrimPrefix(answer+", ", ", ") + fmt.Sprintf("status %d", ep.Status)
		}
		if ep.Retry != nil {
			answer += ", then " + funcName(ep.Retry)
		}
		fmt.Fprintf(&b, "| `%s %s` | `%s %s` | %s | %s |\n", ep.Method, ep.Path, ep.V2Method, ep.V2Path, funcName(ep.Request), answer)
	}
	return b.String()
}

// funcName names a translation function as the code does; closures are named by their maker.
func funcName(f any) string {
	v := reflect.ValueOf(f)
	if !v.IsValid() || v.IsNil() {
		return ""
	}
	name := runtime.FuncForPC(v.Pointer()).Name()
	name = name[strings.LastIndex(name, ".")+1:]
	if i := strings.Index(name, ".func"); i >= 0 {
		name = name[:i]
	}
	return "`" + strings.TrimSuffix(name, "-fm") + "`"
}

func TestTableInDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/rest-api.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := docsTable(); !strings.Contains(string(doc), want) {
		t.Errorf("docs/rest-api.md does not show the translation table as it is; paste this:\n\n%s", want)
	}
}
