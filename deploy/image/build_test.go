package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestImageIsReproducible builds the image twice from this checkout, into two folders, and expects the
// same digest and the same archive; then reads the archive as an OCI layout: one image whose one layer
// holds the binary alone, /airflow-gateway, executable, owned by 65532, and the binary runs; pushed to a
// registry, the image keeps its digest. The first
// build takes the time of a go build; the second finds the binary in Go's build cache.
func TestImageIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway's binary for the image (tens of seconds); run without -short")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	b := Build{
		Repo: repo, Arch: runtime.GOARCH, Version: "0.0.0-test", Revision: strings.Repeat("0123456789abcdef", 3)[:40],
		Commit: "0123456789ab", Source: "https://example.org/airflow-gateway", Epoch: time.Unix(1700000000, 0).UTC(),
	}
	var digests [2]v1.Hash
	var sums [2][sha256.Size]byte
	for i := range digests {
		b.Out = filepath.Join(t.TempDir(), "image.tar")
		if digests[i], err = b.Write(context.Background()); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(b.Out)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = sha256.Sum256(data)
	}
	if digests[0] != digests[1] || sums[0] != sums[1] {
		t.Fatalf("two builds differ: digests %s and %s, archives' SHA-256 %x and %x", digests[0], digests[1], sums[0], sums[1])
	}

	img := readArchive(t, b.Out, digests[0])

	// Pushed as docs/image.md pushes it with crane (an image of the layout, to a registry), it keeps its
	// digest; the registry is go-containerregistry's, in memory.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	ref := strings.TrimPrefix(reg.URL, "http://") + "/airflow-gateway:" + b.Version
	if err := crane.Push(img, ref); err != nil {
		t.Fatal(err)
	}
	if pushed, err := crane.Digest(ref); err != nil || pushed != digests[0].String() {
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
	if err != nil || !strings.Contains(string(out), "(commit "+b.Commit+", ") {
		t.Errorf("the image's binary, asked its version: %v\n%s", err, out)
	}
}

// readArchive unpacks the archive and reads it as an OCI image layout holding one image, with the digest
// want and the reference name its version.
func readArchive(tb testing.TB, archive string, want v1.Hash) v1.Image {
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
	if name := manifest.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; name != "0.0.0-test" {
		tb.Errorf("the image's reference name is %q", name)
	}
	img, err := index.Image(want)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}
