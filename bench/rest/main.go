// Command rest measures Airflow's REST API straight and through a gateway, side by side in one run: the
// median and 90th percentile of sequential calls over kept-alive connections, for each of a list of
// targets, and the ratios the SPEC sets goals for. bench/rest.sh starts the servers and runs it.
//
//	rest -n 200 -pid GATEWAY_PID NAME=URL|AUTHORIZATION ...
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 200, "calls per target, after 10 to warm up")
	pid := flag.Int("pid", 0, "the gateway's pid, to report its CPU time per call through it")
	flag.Parse()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	medians := map[string]time.Duration{}
	var throughGateway int
	cpuStart := cpuTime(*pid)
	for _, arg := range flag.Args() {
		name, rest, _ := strings.Cut(arg, "=")
		target, authorization, _ := strings.Cut(rest, "|")
		var took []time.Duration
		for i := range *n + 10 {
			req, _ := http.NewRequest(http.MethodGet, target, nil)
			req.Header.Set("Authorization", authorization)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				fmt.Fprintln(os.Stderr, name, err)
				os.Exit(1)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fmt.Fprintf(os.Stderr, "%s: %d\n", name, resp.StatusCode)
				os.Exit(1)
			}
			if i >= 10 {
				took = append(took, time.Since(start))
			}
		}
		if strings.HasPrefix(name, "gateway") {
			throughGateway += len(took)
		}
		slices.Sort(took)
		medians[name] = took[len(took)/2]
		fmt.Printf("%-22s median %8s  p90 %8s\n", name, took[len(took)/2].Round(10*time.Microsecond), took[len(took)*9/10].Round(10*time.Microsecond))
	}
	for _, pair := range [][2]string{{"gateway-v2", "direct-v2"}, {"gateway-v1", "gateway-v2"}} {
		if a, b := medians[pair[0]], medians[pair[1]]; a > 0 && b > 0 {
			fmt.Printf("%s / %s: %.2fx\n", pair[0], pair[1], float64(a)/float64(b))
		}
	}
	if *pid > 0 && throughGateway > 0 {
		fmt.Printf("gateway CPU per call through it: %s\n", (cpuTime(*pid)-cpuStart)/time.Duration(throughGateway))
	}
}

// cpuTime is the user and system time of a process so far, from /proc.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks of 1/100 s
}
