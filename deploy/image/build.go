package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's one file and its owner: a user with no name and no home, as distroless images have it.
const (
	binaryPath = "airflow-gateway" // /airflow-gateway in the image
	uid        = 65532
)

// Build is what goes into an image: the source and how to name it.
type Build struct {
	Repo     string    // the gateway's repository
	Out      string    // the archive to write
	Arch     string    // a GOARCH; the OS is Linux
	Version  string    // the gateway's version: the label org.opencontainers.image.version and the reference name
	Revision string    // the commit: the label org.opencontainers.image.revision
	Commit   string    // what the binary's version line names as its commit (-X main.commit)
	Source   string    // the label org.opencontainers.image.source
	Epoch    time.Time // every time in the image and the archive
}

// Write builds the binary, makes the image of it, writes the image to b.Out as an OCI image layout in a
// tar archive (what skopeo calls oci-archive), and returns the image's digest: its manifest's, which a
// registry shows once the image is pushed.
func (b Build) Write(ctx context.Context) (v1.Hash, error) {
	work, err := os.MkdirTemp("", "airflow-gateway-image-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(work)

	bin := filepath.Join(work, "airflow-gateway")
	if err := b.buildBinary(ctx, bin); err != nil {
		return v1.Hash{}, err
	}
	layerFile := filepath.Join(work, "layer.tar")
	if err := b.writeLayer(bin, layerFile); err != nil {
		return v1.Hash{}, err
	}
	img, err := b.image(layerFile)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}

	dir := filepath.Join(work, "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.AppendImage(img,
		layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": b.Version}),
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: b.Arch}),
	); err != nil {
		return v1.Hash{}, err
	}
	if err := b.writeArchive(dir); err != nil {
		return v1.Hash{}, err
	}
	return digest, nil
}

// buildBinary builds the gateway's static binary for b.Arch at out, reproducibly: no cgo, no paths of this
// machine (-trimpath), no build id, no version control stamp but the commit given.
func (b Build) buildBinary(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X main.commit="+b.Commit, "-o", out, "./cmd/airflow-gateway")
	cmd.Dir = b.Repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+b.Arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, msg)
	}
	return nil
}

// writeLayer writes the layer's tar: the binary alone, mode 0755, owned by 65532:65532, at b.Epoch.
func (b Build) writeLayer(bin, out string) error {
	src, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg, Name: binaryPath, Size: info.Size(), Mode: 0o755,
		Uid: uid, Gid: uid, ModTime: b.Epoch, Format: tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, src); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// image is the OCI image of the layer: its entrypoint the binary, its user 65532, labelled with where it
// comes from.
func (b Build) image(layerFile string) (v1.Image, error) {
	layer, err := tarball.LayerFromFile(layerFile, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: b.Epoch}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "make image", Comment: "the airflow-gateway binary"},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.OS, cfg.Architecture = "linux", b.Arch
	cfg.Config = v1.Config{
		Entrypoint: []string{"/" + binaryPath},
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Labels: map[string]string{
			"org.opencontainers.image.source":   b.Source,
			"org.opencontainers.image.revision": b.Revision,
			"org.opencontainers.image.version":  b.Version,
		},
	}
	return mutate.ConfigFile(img, cfg)
}

// writeArchive puts the OCI layout in dir into a tar at b.Out: its files in lexical order, owned by root,
// at b.Epoch, so that the same layout always makes the same archive. The archive is written under a
// temporary name and renamed into place.
func (b Build) writeArchive(dir string) error {
	if err := os.MkdirAll(filepath.Dir(b.Out), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(b.Out), "."+filepath.Base(b.Out)+"-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		name := filepath.ToSlash(strings.TrimPrefix(path, dir+string(filepath.Separator)))
		hdr := &tar.Header{Name: name, Mode: 0o644, ModTime: b.Epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg}
		if d.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
			return tw.WriteHeader(hdr)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		info, err := src.Stat()
		if err != nil {
			return err
		}
		hdr.Size = info.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), b.Out)
}
