// Command bareproxy is the standard library's reverse proxy and nothing else: no authentication, no log,
// no metrics. bench/rest.sh puts it beside the gateway in front of the same Airflow API server, so that the
// gateway's CPU per call can be read against what forwarding alone costs on the same machine, in the same
// run.
//
//	bareproxy -upstream http://127.0.0.1:8080
//
// It prints the URL it listens on, then serves until it is killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	upstream := flag.String("upstream", "", "the URL to forward to")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		log.Fatalf("-upstream %q is not a URL", *upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
	}}
	fmt.Fprintf(os.Stdout, "http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, proxy))
}
