package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/atomicfile"
)

// Upload is a DAG file sent to deploy_dag.
type Upload struct {
	Name    string    // the file name the client sent
	Content io.Reader // nil when no file was sent
	Force   bool      // replace a file of the same name, keeping a backup
	Pause   bool      // pause the DAGs the file defines
	Unpause bool      // unpause them
}

// Deployment is what deploy_dag did.
type Deployment struct {
	Name     string   // the file's name in the DAGs folder
	Backup   string   // the backup of the replaced file, relative to the state folder; "" when nothing was replaced
	DagIDs   []string // the DAGs the file defines, when pause or unpause asked for them
	Commands []string // each Airflow command run after writing, shell-quoted
	Output   string   // a summary for the person who deployed
	Warnings []string
}

var dagFileName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// CheckDAGFileName refuses upload names that are not a plain .py or .zip file name: no path, no "..", no
// leading dot.
func CheckDAGFileName(name string) error {
	const rule = "a DAG file name must be a plain name of letters, digits, '_', '.' and '-', not starting with a dot, ending in .py or .zip"
	switch {
	case name == "":
		return Errorf(EINVALID, "the uploaded file has no name; %s", rule)
	case len(name) > 255:
		return Errorf(EINVALID, "the file name is over 255 characters; %s", rule)
	case strings.ContainsAny(name, `/\`):
		return Errorf(EINVALID, "the file name %q holds a path separator; %s", name, rule)
	case strings.Contains(name, ".."):
		return Errorf(EINVALID, "the file name %q holds '..'; %s", name, rule)
	case strings.HasPrefix(name, "."):
		return Errorf(EINVALID, "the file name %q starts with a dot (a hidden file); %s", name, rule)
	case !dagFileName.MatchString(name):
		return Errorf(EINVALID, "the file name %q holds other characters; %s", name, rule)
	case !strings.HasSuffix(name, ".py") && !strings.HasSuffix(name, ".zip"):
		return Errorf(EINVALID, "the file %q is neither .py nor .zip; %s", name, rule)
	}
	return nil
}

// Deploy writes an uploaded DAG file into the DAGs folder (call is the resolved deploy_dag call), then
// has Airflow reserialize it, reports its import errors as warnings, and pauses or unpauses the DAGs it
// defines. The file is written whole (package atomicfile): readers see the old file or the new one, never
// a part, and once Deploy has put it in place a crash does not take it back.
// The gateway never imports the file itself.
func (s *Service) Deploy(ctx context.Context, call *PluginCall, up Upload) (*Deployment, error) {
	if call.API.Name != "deploy_dag" {
		return nil, Errorf(EINTERNAL, "Deploy called for API '%s'", call.API.Name)
	}
	if up.Content == nil {
		return nil, requiredError([]string{"dag_file"})
	}
	if err := CheckDAGFileName(up.Name); err != nil {
		return nil, err
	}
	d := &Deployment{Name: up.Name}
	target := filepath.Join(s.dagsFolder, up.Name)
	f, err := s.receive(target, up.Content)
	if err != nil {
		return nil, err
	}
	defer f.Discard() // nothing to do once it is in place
	// One deploy at a time: the file's name, and Airflow's reserializing, which clashes with itself.
	s.deployMu.Lock()
	defer s.deployMu.Unlock()
	if err := s.place(f, target, up, d); err != nil {
		return nil, err
	}
	// From here on the file is deployed: what Airflow does with it is reported in warnings, never as a
	// failure, so that a client does not send it again as if it were lost.
	if err := s.afterPlacing(ctx, d, up); err != nil {
		d.warn("the file is deployed, but the gateway could not finish checking it: %s", ErrorMessage(err))
	}
	d.summarize(up)
	return d, nil
}

// afterPlacing has Airflow reserialize the DAGs, reports the file's import errors, and pauses or unpauses
// the DAGs it defines. It returns an error when one of these commands could not run.
func (s *Service) afterPlacing(ctx context.Context, d *Deployment, up Upload) error {
	// The whole DAGs folder: Airflow 2's `reserialize -S FILE` would drop every other DAG's serialization.
	res, err := s.runOwn(ctx, d, "dags", "reserialize")
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		d.warn("Airflow could not reserialize the DAGs (exit code %d): %s", res.ExitCode, s.relative(errorLine(res.Stderr)))
	}
	importErrors := []string{"dags", "list-import-errors", "--output=json"}
	if s.catalog.Major() == "2" {
		importErrors = append(importErrors, "--subdir="+filepath.Join(s.dagsFolder, up.Name))
	}
	if res, err = s.runOwn(ctx, d, importErrors...); err != nil {
		return err
	}
	for _, e := range jsonRows(res.Stdout) {
		if s.sameFile(e["filepath"], up.Name) {
			d.warn("the DAG file '%s' has an import error: %s", up.Name, s.relative(e["error"]))
		}
	}
	switch {
	case up.Pause && up.Unpause:
		d.warn("both pause and unpause were given: neither was applied")
	case up.Pause || up.Unpause:
		return s.setPaused(ctx, d, up.Pause)
	}
	return nil
}

// receive copies an upload into a temporary file beside target, in the DAGs folder, and syncs it to disk,
// before the upload waits for its turn to be put in place.
func (s *Service) receive(target string, content io.Reader) (*atomicfile.File, error) {
	f, err := atomicfile.Create(target, 0o644)
	if err != nil {
		if full := diskFull(err, "the DAGs folder", "the upload could not be written"); full != nil {
			return nil, full
		}
		return nil, fmt.Errorf("create upload file: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(content, s.opts.MaxUploadBytes+1))
	if err == nil && n > s.opts.MaxUploadBytes {
		err = Errorf(ETOOLARGE, "the DAG file is over the limit of %d bytes (max_upload_bytes)", s.opts.MaxUploadBytes)
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		f.Discard()
		var de *Error
		if errors.As(err, &de) {
			return nil, err
		}
		if full := diskFull(err, "the DAGs folder", "the upload could not be written"); full != nil {
			return nil, full
		}
		return nil, Errorf(EINVALID, "the upload could not be read to its end; send it again")
	}
	return f, nil
}

// place puts the received file at target: without force only when no file has that name, even one that
// appears meanwhile; with force, after copying the old file to the backups folder.
func (s *Service) place(f *atomicfile.File, target string, up Upload, d *Deployment) error {
	if !up.Force {
		if err := f.PlaceNew(); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return Errorf(EINVALID, "The file '%s' already exists; send force=on to replace it (the old file is kept as a backup)", up.Name)
			}
			return fmt.Errorf("link the DAG file into place: %w", err)
		}
		return nil
	}
	if _, err := os.Lstat(target); err == nil {
		backup, err := s.backUp(target, up.Name)
		if err != nil {
			return err
		}
		d.Backup = backup
	}
	if err := f.Replace(); err != nil {
		return fmt.Errorf("rename the DAG file into place: %w", err)
	}
	return nil
}

// backUp copies the file at path into the backups folder and returns the backup's name relative to the
// state folder.
func (s *Service) backUp(path, name string) (string, error) {
	dir := filepath.Join(s.opts.StateDir, "dag-backups")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create the backups folder: %w", err)
	}
	src, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open the file to back up: %w", err)
	}
	defer src.Close()
	backup := name + "." + time.Now().UTC().Format("20060102T150405.000000000Z")
	dst, err := atomicfile.Create(filepath.Join(dir, backup), 0o640)
	if err != nil {
		if full := diskFull(err, "the state folder", "the file it replaces could not be backed up"); full != nil {
			return "", full
		}
		return "", fmt.Errorf("create the backup: %w", err)
	}
	defer dst.Discard()
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.PlaceNew() // never over another backup
	}
	if err != nil {
		if full := diskFull(err, "the state folder", "the file it replaces could not be backed up"); full != nil {
			return "", full
		}
		return "", fmt.Errorf("write the backup: %w", err)
	}
	return filepath.Join("dag-backups", backup), nil
}

// diskFull answers a write that failed because the disk under what is full: nothing was changed, and the
// client learns what to free. It returns nil for any other error.
func diskFull(err error, what, failed string) error {
	if !errors.Is(err, syscall.ENOSPC) {
		return nil
	}
	return Errorf(ENOSPACE, "the disk under %s is full: %s, so nothing was changed; free space there and send the file again", what, failed)
}

// setPaused finds the DAGs the deployed file defines through the CLI and pauses or unpauses each.
func (s *Service) setPaused(ctx context.Context, d *Deployment, pause bool) error {
	list := []string{"dags", "list", "--output=json"}
	target := filepath.Join(s.dagsFolder, d.Name)
	if s.catalog.Major() == "2" {
		list = append(list, "--subdir="+target)
	}
	res, err := s.runOwn(ctx, d, list...)
	if err != nil {
		return err
	}
	for _, row := range jsonRows(res.Stdout) {
		if s.sameFile(row["fileloc"], d.Name) {
			d.DagIDs = append(d.DagIDs, row["dag_id"])
		}
	}
	verb := "unpause"
	if pause {
		verb = "pause"
	}
	if len(d.DagIDs) == 0 {
		d.warn("Airflow found no DAG in '%s', so nothing was %sd", d.Name, verb)
		return nil
	}
	for _, id := range d.DagIDs {
		res, err := s.runOwn(ctx, d, "dags", verb, "--", id)
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			d.warn("could not %s %s (exit code %d): %s", verb, id, res.ExitCode, s.relative(errorLine(res.Stderr)))
		}
	}
	return nil
}

// runOwn runs one of deploy_dag's own commands through the policy, as an Admin, and records it.
func (s *Service) runOwn(ctx context.Context, d *Deployment, words ...string) (*Result, error) {
	inv, err := s.Resolve(words, RoleAdmin)
	if err != nil {
		return nil, err
	}
	d.Commands = append(d.Commands, inv.String())
	return s.Run(ctx, inv)
}

// sameFile reports whether a file location Airflow printed (absolute, or relative to the DAGs folder, or
// inside a .zip) is the deployed file.
func (s *Service) sameFile(loc, name string) bool {
	target := filepath.Join(s.dagsFolder, name)
	return loc == target || loc == name || strings.HasPrefix(loc, target+"/") || strings.HasPrefix(loc, name+"/")
}

// relative strips the DAGs folder from Airflow's messages, so that answers do not show server paths.
func (s *Service) relative(msg string) string {
	return strings.TrimSpace(strings.ReplaceAll(msg, s.dagsFolder+string(filepath.Separator), ""))
}

func (d *Deployment) warn(format string, args ...any) {
	d.Warnings = append(d.Warnings, fmt.Sprintf(format, args...))
}

func (d *Deployment) summarize(up Upload) {
	var b strings.Builder
	fmt.Fprintf(&b, "DAG file '%s' deployed", d.Name)
	if d.Backup != "" {
		fmt.Fprintf(&b, "; the file it replaced is kept as %s in the gateway's state folder", d.Backup)
	}
	b.WriteString(".")
	if len(d.DagIDs) > 0 {
		verb := "Unpaused"
		if up.Pause {
			verb = "Paused"
		}
		fmt.Fprintf(&b, " %s: %s.", verb, strings.Join(d.DagIDs, ", "))
	}
	d.Output = b.String()
}

// jsonRows reads a JSON list of objects, as Airflow's -o json prints, keeping string forms of the values.
func jsonRows(stdout string) []map[string]string {
	rows, _ := ParseJSONOutput(stdout).([]any)
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		obj, _ := r.(map[string]any)
		m := map[string]string{}
		for k, v := range obj {
			if v != nil {
				m[k] = fmt.Sprint(v)
			}
		}
		out = append(out, m)
	}
	return out
}

// errorLine picks the line of a Python traceback that says what went wrong: the last one naming an error
// or exception, else the last line.
func errorLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); !strings.HasPrefix(l, "(Background on this error") &&
			(strings.Contains(l, "Error") || strings.Contains(l, "Exception")) {
			return l
		}
	}
	return LastLine(stderr)
}
