// Command image builds the gateway's container image as an OCI image archive, with no registry and no
// container runtime: one layer holding only the static binary, /airflow-gateway, run as the user
// 65532:65532. The same commit gives the same archive and digest: the binary is built with -trimpath and
// an empty build id, and every time in the image is SOURCE_DATE_EPOCH's. make image runs it.
//
// The image is meant for an init container that copies the binary into a volume
// (airflow-gateway install DIR), so that the gateway runs in a container of the operator's own Airflow
// image, beside that Airflow's CLI.
//
// It is a module of its own so that go-containerregistry stays out of the gateway's module: its
// dependencies are not the gateway's, and go mod verify, govulncheck and the binary see none of them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	var b Build
	flag.StringVar(&b.Repo, "repo", "../..", "the gateway's repository, where the binary is built")
	flag.StringVar(&b.Out, "out", "", "the archive to write (required)")
	flag.StringVar(&b.Arch, "arch", "amd64", "the image's architecture, a GOARCH")
	flag.StringVar(&b.Version, "version", "", "the gateway's version, for the image's label and reference name (required)")
	flag.StringVar(&b.Revision, "revision", "", "the commit built, in full, for the image's label (required)")
	flag.StringVar(&b.Commit, "commit", "", "what `airflow-gateway version` names as the commit (default: -revision's first 12 characters)")
	flag.StringVar(&b.Source, "source", "https://github.com/airflow-gateway/airflow-gateway", "the repository's URL, for the image's label")
	flag.Parse()
	epoch, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil || b.Out == "" || b.Version == "" || b.Revision == "" {
		fmt.Fprintln(os.Stderr, "usage: SOURCE_DATE_EPOCH=SECONDS image -out FILE -version VERSION -revision COMMIT [-arch GOARCH] [-repo DIR]")
		os.Exit(2)
	}
	b.Epoch = time.Unix(epoch, 0).UTC()
	if b.Commit == "" {
		b.Commit = b.Revision[:min(len(b.Revision), 12)]
	}
	digest, err := b.Write(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Println(b.Out, digest)
}
