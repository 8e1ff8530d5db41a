package charttest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/strvals"
)

// Schema is the part of a JSON schema these tests read.
type Schema struct {
	Type                 any                `json:"type"`
	Description          string             `json:"description"`
	Properties           map[string]*Schema `json:"properties"`
	AdditionalProperties any                `json:"additionalProperties"`
	Items                *Schema            `json:"items"`
	Enum                 []any              `json:"enum"`
}

// readSchema reads the chart's values.schema.json.
func readSchema(tb testing.TB) *Schema {
	tb.Helper()
	return readSchemaFile(tb, filepath.Join(chartDir, "values.schema.json"))
}

func readSchemaFile(tb testing.TB, path string) *Schema {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var s Schema
	if err := json.Unmarshal(data, &s); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return &s
}

// typeName writes a schema's type as the table shows it.
func (s *Schema) typeName() string {
	switch t := s.Type.(type) {
	case string:
		return t
	case []any:
		var names []string
		for _, n := range t {
			names = append(names, fmt.Sprint(n))
		}
		return strings.Join(names, " or ")
	}
	return ""
}

// valuesTable is the table of every value of the chart: each leaf of values.schema.json (an object
// without properties of its own, or a value), its type, its default in values.yaml and its description.
func valuesTable(tb testing.TB) string {
	tb.Helper()
	defaults := readValues(tb, filepath.Join(chartDir, "values.yaml"))
	lines := []string{"| value | type | default | what it does |", "|---|---|---|---|"}
	var walk func(path, parent string, s *Schema, def any)
	walk = func(path, parent string, s *Schema, def any) {
		if len(s.Properties) > 0 {
			names := make([]string, 0, len(s.Properties))
			for n := range s.Properties {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				var sub any
				if m, ok := def.(map[string]any); ok {
					sub = m[n]
				}
				walk(strings.TrimPrefix(path+"."+n, "."), s.Description, s.Properties[n], sub)
			}
			if !strings.HasPrefix(path, "config.") || path == "config" {
				return
			}
		}
		shown := "–"
		switch {
		case def == nil && strings.HasPrefix(path, "config."):
			shown = "the gateway's"
		case def != nil:
			data, _ := json.Marshal(def)
			shown = "`" + strings.ReplaceAll(string(data), "|", `\|`) + "`"
		}
		desc := s.Description
		if len(desc) < 60 && parent != "" && !strings.HasPrefix(path, "config.") {
			desc = parent + " " + desc // a short line says what it is a part of
		}
		if len(s.Enum) > 0 {
			var enum []string
			for _, e := range s.Enum {
				enum = append(enum, fmt.Sprint(e))
			}
			desc += " One of " + strings.Join(enum, ", ") + "."
		}
		lines = append(lines, fmt.Sprintf("| `%s` | %s | %s | %s |", path, s.typeName(), shown, strings.ReplaceAll(desc, "|", `\|`)))
	}
	walk("", "", readSchema(tb), defaults)
	return strings.Join(lines, "\n")
}

// TestValuesTableInDocs keeps the table of docs/kubernetes.md equal to values.schema.json and values.yaml.
func TestValuesTableInDocs(t *testing.T) {
	const marker = "<!-- The table below is written from values.schema.json and values.yaml: TestValuesTableInDocs fails when they differ. -->\n"
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, found := strings.Cut(string(doc), marker)
	want := valuesTable(t)
	if !found || !strings.HasPrefix(after, want+"\n") {
		t.Errorf("docs/kubernetes.md does not show the values after its marker; it should read:\n%s", want)
	}
}

// TestSchemaDescribesEveryValue: every value of values.yaml is in values.schema.json with a description,
// and every object of the schema refuses keys it does not list, unless it holds Kubernetes' own fields.
func TestSchemaDescribesEveryValue(t *testing.T) {
	schema := readSchema(t)
	var walk func(path string, s *Schema, def any)
	walk = func(path string, s *Schema, def any) {
		if s.Description == "" && path != "" {
			t.Errorf("%s has no description in values.schema.json", path)
		}
		if len(s.Properties) > 0 && s.AdditionalProperties != false {
			t.Errorf("%s takes keys it does not list (additionalProperties is not false)", path)
		}
		m, ok := def.(map[string]any)
		if !ok || len(s.Properties) == 0 {
			return
		}
		for k, v := range m {
			sub, ok := s.Properties[k]
			if !ok {
				t.Errorf("%s.%s is in values.yaml but not in values.schema.json", path, k)
				continue
			}
			walk(strings.TrimPrefix(path+"."+k, "."), sub, v)
		}
	}
	walk("", schema, readValues(t, filepath.Join(chartDir, "values.yaml")))
}

// TestDocsInstallCommandsRender renders the chart with the values of every `helm upgrade --install` of
// docs/kubernetes.md that installs it (its --set and --values, as Helm reads them): what the page tells a
// reader to run renders, and its objects decode strictly.
func TestDocsInstallCommandsRender(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(doc), "\\\n", " ")
	ch := loadChart(t)
	n := 0
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "helm upgrade --install airflow-gateway deploy/chart/airflow-gateway") {
			continue
		}
		n++
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			vals := map[string]any{}
			args := strings.Fields(line)
			for i := 0; i < len(args)-1; i++ {
				switch args[i] {
				case "--set":
					if err := strvals.ParseInto(args[i+1], vals); err != nil {
						t.Fatalf("--set %s: %v", args[i+1], err)
					}
				case "--values":
					for k, v := range readValues(t, filepath.Join("..", "..", "..", args[i+1])) {
						vals[k] = v
					}
				}
			}
			r := mustRender(t, ch, vals)
			gatewayConfig(t, r)
		})
	}
	if n < 2 {
		t.Errorf("docs/kubernetes.md shows %d installs of the chart, want the one beside the official chart and the replicas'", n)
	}
}
