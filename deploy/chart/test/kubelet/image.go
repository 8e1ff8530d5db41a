package kubelet

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ociDescriptor is the part of an OCI descriptor this package reads.
type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// UnpackOCI unpacks the one image of an OCI image archive (a tar of an OCI layout, as make image writes)
// into dir, layer after layer, as a container runtime pulls it, and returns it with its config's
// environment, user and working folder. Only regular files, folders and symbolic links are known (the
// archives make image writes, whose links are its own); a whiteout is an error.
func UnpackOCI(archive, dir string) (Image, error) {
	blobs := map[string][]byte{}
	f, err := os.Open(archive)
	if err != nil {
		return Image{}, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Image{}, fmt.Errorf("%s: %w", archive, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return Image{}, err
		}
		blobs[path.Clean(h.Name)] = data
	}
	blob := func(d ociDescriptor, v any) ([]byte, error) {
		algo, hex, _ := strings.Cut(d.Digest, ":")
		data, ok := blobs[path.Join("blobs", algo, hex)]
		if !ok {
			return nil, fmt.Errorf("%s: no blob %s", archive, d.Digest)
		}
		if v != nil {
			return data, json.Unmarshal(data, v)
		}
		return data, nil
	}
	var index struct{ Manifests []ociDescriptor }
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		return Image{}, fmt.Errorf("%s: index.json names %d images, want one (%v)", archive, len(index.Manifests), err)
	}
	var manifest struct {
		Config ociDescriptor
		Layers []ociDescriptor
	}
	if _, err := blob(index.Manifests[0], &manifest); err != nil {
		return Image{}, err
	}
	var config struct {
		Config struct {
			Env        []string
			User       string
			WorkingDir string
		}
	}
	if _, err := blob(manifest.Config, &config); err != nil {
		return Image{}, err
	}
	for _, layer := range manifest.Layers {
		data, err := blob(layer, nil)
		if err != nil {
			return Image{}, err
		}
		if err := unpackLayer(bytes.NewReader(data), strings.HasSuffix(layer.MediaType, "+gzip"), dir); err != nil {
			return Image{}, fmt.Errorf("layer %s: %w", layer.Digest, err)
		}
	}
	return Image{Root: dir, Env: config.Config.Env, User: config.Config.User, WorkingDir: config.Config.WorkingDir}, nil
}

// unpackLayer writes a layer's files into dir, with their modes and owners.
func unpackLayer(r io.Reader, gzipped bool, dir string) error {
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + h.Name)
		if strings.HasPrefix(path.Base(name), ".wh.") {
			return fmt.Errorf("%s: a whiteout, which this runtime does not apply", h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, h.FileInfo().Mode().Perm())
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
				err = writeFile(target, tr, h.FileInfo().Mode().Perm())
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, target)
		default:
			return fmt.Errorf("%s: a kind of entry this runtime does not unpack (%c)", h.Name, h.Typeflag)
		}
		if err == nil {
			err = os.Lchown(target, h.Uid, h.Gid)
		}
		if err == nil && h.Typeflag != tar.TypeSymlink {
			err = os.Chmod(target, h.FileInfo().Mode().Perm())
		}
		if err != nil {
			return err
		}
	}
}

func writeFile(name string, r io.Reader, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
