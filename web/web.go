// Package web holds the gateway's pages and assets, embedded in the binary: no logic beyond rendering.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{"mib": mib}).ParseFS(templateFiles, "templates/*.html"))

// mib writes a size in bytes for people: "10 MiB", or "64 KiB".
func mib(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Static is the pages' scripts, styles and icon, served under /admin/rest_api/static/.
func Static() fs.FS {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the folder is embedded above
	}
	return sub
}

// LoginPage is what the login page shows.
type LoginPage struct {
	Error string // why the last attempt failed, if it did
	Open  bool   // no token is configured: every request is let in
}

// RenderLogin writes the login page.
func RenderLogin(w io.Writer, page LoginPage) error {
	return templates.ExecuteTemplate(w, "login.html", page)
}

// RenderSSO writes the page of MWAA's console login link, whose script posts the token of the link's
// fragment to /aws_mwaa/login.
func RenderSSO(w io.Writer) error {
	return templates.ExecuteTemplate(w, "sso.html", nil)
}

// AdminPage is what the admin page shows to one session.
type AdminPage struct {
	User, Role     string // the session's token name and role
	Scope          string // the DAGs the credential reaches, as a refusal names them
	Scoped         bool   // the credential has a scope: it reaches only some DAGs
	Open           bool   // no token is configured: every request is let in
	AirflowVersion string
	AirflowWarning string // why the Airflow version is not one the gateway was tested on, when it is not
	GatewayVersion string
	Executor       commands.ExecutorStatus // which executor runs the commands
	CSRFToken      string                  // carried by the page's forms
	APIs           []*commands.PluginAPI   // the plugin APIs the role may use, with a form each
	Withheld       []string                // the APIs that need a higher role, or that the scope refuses
	Commands       []commands.CommandInfo  // what the console may run, offered as suggestions
	LongCommands   []string                // the paths among Commands that run as jobs
	MaxUploadBytes int64
	// AirflowAPI says whether Airflow's REST API is served and as whom: the upstream's URL and the Airflow
	// user the session's role acts as; empty when the API is not known.
	AirflowAPI, AirflowAPIUser string
}

// RenderAdmin writes the admin page.
func RenderAdmin(w io.Writer, page AdminPage) error {
	return templates.ExecuteTemplate(w, "admin.html", page)
}
