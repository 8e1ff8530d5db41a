package main

import (
	"archive/tar"
	"crypto/sha256"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestMakeImageIsReproducible runs make image twice, into two folders, and expects the same digest and
// the same archive; then reads the archive as an OCI layout: one image, labelled with this commit, whose
// one layer holds the binary alone, /airflow-gateway, executable, owned by 65532, and the binary runs;
// pushed to a registry, the image keeps its digest. The first build takes the time of a go build; the
// second finds the binary in Go's build cache.
func TestMakeImageIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway's binary for the image (tens of seconds); run without -short")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	revision, epoch := git(t, repo, "rev-parse", "HEAD"), git(t, repo, "log", "-1", "--format=%ct", "HEAD")
	seconds, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var archive string
	var digests [2]string
	var sums [2][sha256.Size]byte
	for i := range digests {
		archive = filepath.Join(t.TempDir(), "image.tar")
		cmd := exec.Command("make", "-s", "--no-print-directory", "image", "IMAGE="+archive, "IMAGE_ARCH="+runtime.GOARCH)
		cmd.Dir = repo
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make image: %v\n%s", err, out)
		}
		printed := strings.Fields(string(out))
		if len(printed) != 2 || printed[0] != archive || !strings.HasPrefix(printed[1], "sha256:") {
			t.Fatalf("make image printed %q, not the archive and the digest", out)
		}
		digests[i] = printed[1]
		data, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = sha256.Sum256(data)
	}
	if digests[0] != digests[1] || sums[0] != sums[1] {
		t.Fatalf("two builds differ: digests %s and %s, archives' SHA-256 %x and %x", digests[0], digests[1], sums[0], sums[1])
	}
	digest, err := v1.NewHash(digests[0])
	if err != nil {
		t.Fatal(err)
	}
	commit := revision[:12]
	diff := exec.Command("git", "diff", "--quiet", "HEAD")
	diff.Dir = repo
	if diff.Run() != nil {
		commit += "+changes" // as make image stamps a binary built from changed files
	}
	b := Build{
		Arch: runtime.GOARCH, Revision: revision, Commit: commit,
		Source: "https://github.com/airflow-gateway/airflow-gateway", Epoch: time.Unix(seconds, 0).UTC(),
	}
	img, version := readArchive(t, archive, digest)
	b.Version = version
	doc, err := os.ReadFile(filepath.Join(repo, "docs", "image.md"))
	if name := "dist/airflow-gateway-" + version + "-linux-amd64.oci.tar"; err != nil || !strings.Contains(string(doc), name) {
		t.Errorf("docs/image.md does not show the archive of this version, %s (%v)", name, err)
	}

	// Pushed as docs/image.md pushes it with crane (an image of the layout, to a registry), it keeps its
	// digest; the registry is go-containerregistry's, in memory.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	ref := strings.TrimPrefix(reg.URL, "http://") + "/airflow-gateway:" + b.Version
	if err := crane.Push(img, ref); err != nil {
		t.Fatal(err)
	}
	if pushed, err := crane.Digest(ref); err != nil || pushed != digests[0] {
		t.Errorf("the registry has the image as %s (%v), not %s", pushed, err, digests[0])
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/airflow-gateway" {
		t.Errorf("the entrypoint is %q", got)
	}
	if cfg.Config.User != "65532:65532" || cfg.OS != "linux" || cfg.Architecture != b.Arch || !cfg.Created.Equal(b.Epoch) {
		t.Errorf("the config says user %q, platform %s/%s, created %v", cfg.Config.User, cfg.OS, cfg.Architecture, cfg.Created)
	}
	for key, want := range map[string]string{
		"org.opencontainers.image.source": b.Source, "org.opencontainers.image.revision": b.Revision,
		"org.opencontainers.image.version": b.Version,
	} {
		if got := cfg.Config.Labels[key]; got != want {
			t.Errorf("the label %s is %q, not %q", key, got, want)
		}
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("the image has %d layers (%v), not one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "airflow-gateway" || hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o755 || hdr.Uid != 65532 || hdr.Gid != 65532 || !hdr.ModTime.Equal(b.Epoch) {
		t.Errorf("the layer holds %s (type %c, mode %o, owner %d:%d, time %v), not /airflow-gateway, mode 0755, owner 65532:65532",
			hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime)
	}
	bin := filepath.Join(t.TempDir(), "airflow-gateway")
	f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, tr); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if next, err := tr.Next(); err != io.EOF {
		t.Errorf("the layer holds more than the binary: %v %v", next, err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "airflow-gateway "+b.Version+" (commit "+b.Commit+", ") {
		t.Errorf("the image's binary, asked its version: %v\n%s", err, out)
	}
}

// readArchive unpacks the archive and reads it as an OCI image layout holding one image, with the digest
// want; it returns the image and its reference name, its version.
func readArchive(tb testing.TB, archive string, want v1.Hash) (v1.Image, string) {
	tb.Helper()
	dir := tb.TempDir()
	if out, err := exec.Command("tar", "-xf", archive, "-C", dir).CombinedOutput(); err != nil {
		tb.Fatalf("tar -xf: %v\n%s", err, out)
	}
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		tb.Fatal(err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		tb.Fatal(err)
	}
	if len(manifest.Manifests) != 1 || manifest.Manifests[0].Digest != want {
		tb.Fatalf("the layout's index lists %v, not the image %s alone", manifest.Manifests, want)
	}
	name := manifest.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
	if name == "" {
		tb.Errorf("the image has no reference name")
	}
	img, err := index.Image(want)
	if err != nil {
		tb.Fatal(err)
	}
	return img, name
}

// git runs git in the repository and returns what it printed, trimmed; it skips the test outside a
// checkout.
func git(tb testing.TB, repo string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		tb.Skipf("make image reads the commit, and git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}
