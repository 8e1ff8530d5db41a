// Package web holds the gateway's pages and assets, embedded in the binary: no logic beyond rendering.
package web

import (
	"embed"
	"html/template"
	"io"
)

//go:embed templates/*.html
var files embed.FS

var templates = template.Must(template.ParseFS(files, "templates/*.html"))

// LoginPage is what the login page shows.
type LoginPage struct {
	Error string // why the last attempt failed, if it did
	Open  bool   // no token is configured: every request is let in
}

// RenderLogin writes the login page.
func RenderLogin(w io.Writer, page LoginPage) error {
	return templates.ExecuteTemplate(w, "login.html", page)
}
