package commands_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// quietExecutor answers every command at once with exit 0 and an empty JSON list: deploy_dag's file
// handling is under test here, not Airflow (the integration tests deploy against a real one).
type quietExecutor struct{}

func (quietExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	return &commands.Result{Stdout: "[]\n"}, nil
}

// mustDeployer returns a service over a fresh DAGs folder and state folder, and a resolved deploy_dag call.
func mustDeployer(tb testing.TB, maxUpload int64) (*commands.Service, *commands.PluginCall, string) {
	tb.Helper()
	p := mustPolicy(tb, "3")
	state := tb.TempDir()
	svc := commands.NewService(p, quietExecutor{}, commands.Options{
		MaxConcurrent: 4, QueueTimeout: time.Second, CommandTimeout: time.Minute, LongCommandTimeout: time.Minute,
		StateDir: state, MaxUploadBytes: maxUpload,
	})
	call, err := svc.ResolvePlugin("deploy_dag", map[string]string{"api": "deploy_dag"}, commands.Access{Role: commands.RoleAdmin})
	if err != nil {
		tb.Fatal(err)
	}
	return svc, call, state
}

func TestCheckDAGFileName(t *testing.T) {
	good := []string{"my_dag.py", "a.zip", "dag-1.2.py", "X.py"}
	bad := map[string]string{
		"":                               "no name",
		"../evil.py":                     "path separator",
		"/etc/cron.d/x.py":               "path separator",
		`..\evil.py`:                     "path separator",
		"a..b.py":                        "'..'",
		".hidden.py":                     "starts with a dot",
		"dag.txt":                        "neither .py nor .zip",
		"dag.py.sh":                      "neither .py nor .zip",
		"dag .py":                        "other characters",
		"dåg.py":                         "other characters",
		"dag\x00.py":                     "other characters",
		"py":                             "neither .py nor .zip",
		strings.Repeat("a", 256) + ".py": "over 255",
	}
	for _, name := range good {
		if err := commands.CheckDAGFileName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for name, says := range bad {
		err := commands.CheckDAGFileName(name)
		if commands.ErrorCode(err) != commands.EINVALID || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want 400 saying %q", name, err, says)
		}
	}
}

func TestDeployWritesReplacesAndKeepsBackups(t *testing.T) {
	svc, call, state := mustDeployer(t, 1<<20)
	ctx := context.Background()
	target := filepath.Join(svc.DagsFolder(), "gw_new.py")

	if _, err := svc.Deploy(ctx, call, commands.Upload{Name: "gw_new.py", Content: strings.NewReader("v1\n")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "v1\n" {
		t.Fatalf("deployed %q", got)
	}
	_, err := svc.Deploy(ctx, call, commands.Upload{Name: "gw_new.py", Content: strings.NewReader("v2\n")})
	if commands.ErrorCode(err) != commands.EINVALID || err.Error() != "The file 'gw_new.py' already exists; send force=on to replace it (the old file is kept as a backup)" {
		t.Fatalf("second upload without force: %v", err)
	}
	if strings.Contains(err.Error(), svc.DagsFolder()) {
		t.Errorf("the message shows a server path: %v", err)
	}
	d, err := svc.Deploy(ctx, call, commands.Upload{Name: "gw_new.py", Content: strings.NewReader("v2\n"), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "v2\n" {
		t.Errorf("after force: %q", got)
	}
	backup, err := os.ReadFile(filepath.Join(state, d.Backup))
	if err != nil || string(backup) != "v1\n" {
		t.Errorf("backup %s: %q, %v", d.Backup, backup, err)
	}
	if !strings.HasPrefix(d.Backup, "dag-backups/gw_new.py.") || !strings.Contains(d.Output, d.Backup) {
		t.Errorf("backup %q, output %q", d.Backup, d.Output)
	}
	assertNoTempFiles(t, svc.DagsFolder())
	assertNoTempFiles(t, filepath.Join(state, "dag-backups"))
}

// TestDeployKeepsTheFileWhenTheBackupFails: with force, a file that cannot be backed up is not replaced,
// and the upload leaves nothing behind.
func TestDeployKeepsTheFileWhenTheBackupFails(t *testing.T) {
	svc, call, state := mustDeployer(t, 1<<20)
	ctx := context.Background()
	if _, err := svc.Deploy(ctx, call, commands.Upload{Name: "gw_kept.py", Content: strings.NewReader("v1\n")}); err != nil {
		t.Fatal(err)
	}
	// A file where the backups folder should be: the backup cannot be written.
	if err := os.WriteFile(filepath.Join(state, "dag-backups"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deploy(ctx, call, commands.Upload{Name: "gw_kept.py", Content: strings.NewReader("v2\n"), Force: true}); err == nil {
		t.Error("deployed without a backup")
	}
	if got, _ := os.ReadFile(filepath.Join(svc.DagsFolder(), "gw_kept.py")); string(got) != "v1\n" {
		t.Errorf("the file holds %q", got)
	}
	assertNoTempFiles(t, svc.DagsFolder())
}

func TestDeployRefusesOversizedAndMissingFiles(t *testing.T) {
	svc, call, _ := mustDeployer(t, 100)
	_, err := svc.Deploy(context.Background(), call, commands.Upload{Name: "big.py", Content: bytes.NewReader(make([]byte, 101))})
	if commands.ErrorCode(err) != commands.ETOOLARGE {
		t.Errorf("101 bytes over a limit of 100: %v", err)
	}
	if _, err := os.Stat(filepath.Join(svc.DagsFolder(), "big.py")); !os.IsNotExist(err) {
		t.Errorf("the oversized file was written: %v", err)
	}
	if _, err := svc.Deploy(context.Background(), call, commands.Upload{Name: "exact.py", Content: bytes.NewReader(make([]byte, 100))}); err != nil {
		t.Errorf("exactly the limit: %v", err)
	}
	_, err = svc.Deploy(context.Background(), call, commands.Upload{})
	if err == nil || err.Error() != "The argument(s) ['dag_file'] are required" {
		t.Errorf("no file: %v", err)
	}
	assertNoTempFiles(t, svc.DagsFolder())
}

// TestConcurrentUploadsOfOneName sends 20 different versions of one file at once, with force: the file
// ends as exactly one of them, and every backup is a whole version too.
func TestConcurrentUploadsOfOneName(t *testing.T) {
	svc, call, state := mustDeployer(t, 1<<20)
	versions := map[string]bool{}
	var contents []string
	for i := range 20 {
		c := strings.Repeat(fmt.Sprintf("# version %02d\n", i), 2000) // 28 kB each
		contents = append(contents, c)
		versions[c] = true
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(contents))
	for _, c := range contents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Deploy(context.Background(), call, commands.Upload{Name: "gw_race.py", Content: strings.NewReader(c), Force: true})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	final, _ := os.ReadFile(filepath.Join(svc.DagsFolder(), "gw_race.py"))
	if !versions[string(final)] {
		t.Errorf("the final file (%d bytes) is not one of the uploads", len(final))
	}
	backups, _ := filepath.Glob(filepath.Join(state, "dag-backups", "gw_race.py.*"))
	if len(backups) != 19 {
		t.Errorf("%d backups, want 19", len(backups))
	}
	for _, b := range backups {
		if data, _ := os.ReadFile(b); !versions[string(data)] {
			t.Errorf("backup %s is not one of the uploads", filepath.Base(b))
		}
	}
	assertNoTempFiles(t, svc.DagsFolder())
	assertNoTempFiles(t, filepath.Join(state, "dag-backups"))
}

func assertNoTempFiles(tb testing.TB, dir string) {
	tb.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")) // as package atomicfile names them
	if len(left) > 0 {
		tb.Errorf("temporary files left behind: %v", left)
	}
}

// FuzzCheckDAGFileName checks that every name the rule accepts is a plain file directly inside the folder.
func FuzzCheckDAGFileName(f *testing.F) {
	for _, s := range []string{"my_dag.py", "../x.py", ".x.py", "a/b.zip", "x.zip", "..", "x.py\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if commands.CheckDAGFileName(name) != nil {
			return
		}
		dir := "/dags"
		if p := filepath.Join(dir, name); filepath.Dir(p) != dir || filepath.Base(p) != name {
			t.Errorf("accepted %q, which lands at %q", name, p)
		}
		if strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".py") || strings.HasSuffix(name, ".zip")) {
			t.Errorf("accepted %q", name)
		}
	})
}

// stalledExecutor stands for an Airflow whose commands all run past their time limit.
type stalledExecutor struct{}

func (stalledExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	return &commands.Result{Stdout: "partial", TimedOut: true}, nil
}

// TestDeployedFileIsNeverReportedLost: once the file is in place, Airflow failing to check it is a
// warning on a successful deploy, so that a client does not send the file again as if it were lost.
func TestDeployedFileIsNeverReportedLost(t *testing.T) {
	p := mustPolicy(t, "3")
	svc := commands.NewService(p, stalledExecutor{}, commands.Options{
		MaxConcurrent: 1, QueueTimeout: time.Second, CommandTimeout: time.Second, LongCommandTimeout: time.Second,
		StateDir: t.TempDir(), MaxUploadBytes: 1 << 20,
	})
	call, err := svc.ResolvePlugin("deploy_dag", map[string]string{"api": "deploy_dag"}, commands.Access{Role: commands.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	d, err := svc.Deploy(context.Background(), call, commands.Upload{Name: "gw_slow.py", Content: strings.NewReader("# dag\n"), Pause: true})
	if err != nil {
		t.Fatalf("deploy answered an error for a file it wrote: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(svc.DagsFolder(), "gw_slow.py")); string(got) != "# dag\n" {
		t.Errorf("the file holds %q", got)
	}
	if w := strings.Join(d.Warnings, "; "); !strings.Contains(w, "the file is deployed, but") || !strings.Contains(w, "time limit") {
		t.Errorf("warnings %q", w)
	}
}
