package commands

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
)

// uriPassword finds the password of a URI written in text: scheme://user:PASSWORD@host.
var uriPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)`)

// MaskURIs hides the password of every URI in text.
func MaskURIs(text string) string {
	return uriPassword.ReplaceAllString(text, "${1}"+Mask+"${3}")
}

// maskOutput hides what a command's output may not show (§3, §18): connection passwords, and the values of
// variables whose keys are sensitive. Commands that list them run with -o json, whatever flags the Airflow
// version has; their output is read as JSON and written again with password, the password in get_uri and
// the sensitive keys of extra masked, or the sensitive variables' values. Output that cannot be read so
// is withheld.
func maskOutput(inv *Invocation, res *Result) {
	if !masksWhole(inv) {
		return
	}
	res.Stderr = MaskURIs(res.Stderr)
	if inv.Entry.Output != "json" {
		res.Stdout = MaskURIs(res.Stdout)
		return
	}
	if strings.TrimSpace(res.Stdout) == "" {
		return
	}
	what, mask := "connections", maskConnection
	if inv.Path() == "variables list" {
		what, mask = "variables", maskVariable
	}
	rows, ok := ParseJSONOutput(res.Stdout).([]any)
	if !ok {
		if obj, isObj := ParseJSONOutput(res.Stdout).(map[string]any); isObj {
			rows, ok = []any{obj}, true
		}
	}
	if !ok {
		res.Stdout = "(the " + what + " are withheld: their output could not be read to mask the secrets)\n"
		return
	}
	for _, r := range rows {
		if row, isMap := r.(map[string]any); isMap {
			mask(row)
		}
	}
	out, err := json.Marshal(rows)
	if err != nil {
		res.Stdout = "(the " + what + " are withheld: their output could not be written back)\n"
		return
	}
	res.Stdout = string(out) + "\n"
}

// masksWhole reports whether inv's output is masked as a whole, once the command has ended: the output of
// commands that print connections, and the listing of variables.
func masksWhole(inv *Invocation) bool {
	return strings.HasPrefix(inv.Path(), "connections ") || inv.Path() == "variables list"
}

// maskVariable hides the value of a listed variable whose key holds a sensitive word (Airflow 3.3's
// --show-values lists values as "val").
func maskVariable(row map[string]any) {
	if key, _ := row["key"].(string); !IsSensitiveName(key) {
		return
	}
	for _, field := range []string{"val", "value"} {
		if _, ok := row[field]; ok {
			row[field] = Mask
		}
	}
}

func maskConnection(conn map[string]any) {
	if p, _ := conn["password"].(string); p != "" {
		conn["password"] = Mask
	}
	if uri, ok := conn["get_uri"].(string); ok {
		conn["get_uri"] = maskURIQuery(MaskURI(uri))
	}
	if extra, ok := conn["extra_dejson"].(map[string]any); ok {
		maskSensitiveKeys(extra)
	}
	if extra, ok := conn["extra"].(string); ok && extra != "" {
		var obj map[string]any
		if json.Unmarshal([]byte(extra), &obj) == nil {
			maskSensitiveKeys(obj)
			b, _ := json.Marshal(obj)
			conn["extra"] = string(b)
		} else {
			conn["extra"] = Mask
		}
	}
}

// maskURIQuery hides the query parameters of a connection URI that carry its extra: those with a sensitive
// name, and Airflow's __extra__ (the whole extra as JSON).
func maskURIQuery(uri string) string {
	base, query, found := strings.Cut(uri, "?")
	if !found {
		return uri
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		name, _, _ := strings.Cut(p, "=")
		if decoded, err := url.QueryUnescape(name); err == nil {
			name = decoded
		}
		if name == "__extra__" || IsSensitiveName(name) {
			params[i] = name + "=" + Mask
		}
	}
	return base + "?" + strings.Join(params, "&")
}

// maskSensitiveKeys hides the values of keys holding a sensitive word, at any depth.
func maskSensitiveKeys(m map[string]any) {
	for k, v := range m {
		switch inner := v.(type) {
		case map[string]any:
			if IsSensitiveName(k) {
				m[k] = Mask
			} else {
				maskSensitiveKeys(inner)
			}
		default:
			if IsSensitiveName(k) {
				m[k] = Mask
			}
		}
	}
}

// Mask is what the gateway shows in place of a secret.
const Mask = "***"

// MaskURI hides the password of a connection URI; a value that cannot be read as a URI is hidden whole.
func MaskURI(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		if strings.Contains(s, "@") {
			return Mask
		}
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxx")
		return strings.Replace(u.String(), ":xxx@", ":"+Mask+"@", 1)
	}
	return s
}

// MaskArguments returns values (arguments of one plugin call, first value per key) with secrets replaced
// by Mask: connection secrets, the password of conn_uri, a variable value whose key is sensitive (the key
// is looked up in all, the call's merged arguments), and any argument whose name is sensitive.
func MaskArguments(values, all map[string]string) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		switch {
		case secretFlags[k] || IsSensitiveName(k): // the plugin's names are the flags' dests
			v = Mask
		case k == "conn_uri":
			v = MaskURI(v)
		case k == "value" && IsSensitiveName(all["key"]):
			v = Mask
		}
		out[k] = v
	}
	return out
}
