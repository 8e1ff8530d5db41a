// Command rest measures Airflow's REST API straight and through a gateway, side by side in one run: the
// median and 90th percentile of sequential calls over kept-alive connections, for each of a list of
// targets, and the ratios the SPEC sets goals for. A target may name the process that serves it: then the
// CPU time that process spent during the target's calls, per call, is reported too. bench/rest.sh starts
// the servers and runs it; bench/person.sh runs it for calls as a person against calls as a role.
//
//	rest -n 200 NAME=URL|AUTHORIZATION[|PID] ...
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 200, "calls per target, after 10 to warm up")
	flag.Parse()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	medians := map[string]time.Duration{}
	cpu := map[string]time.Duration{}
	for _, arg := range flag.Args() {
		name, rest, _ := strings.Cut(arg, "=")
		fields := strings.Split(rest, "|")
		target, authorization := fields[0], fields[1]
		pid := 0
		if len(fields) > 2 {
			pid, _ = strconv.Atoi(fields[2])
		}
		var took []time.Duration
		var cpuStart time.Duration
		for i := range *n + 10 {
			if i == 10 {
				cpuStart = cpuTime(pid)
			}
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
		line := ""
		if pid > 0 {
			cpu[name] = (cpuTime(pid) - cpuStart) / time.Duration(len(took))
			line = fmt.Sprintf("  CPU per call %8s", cpu[name].Round(time.Microsecond))
		}
		slices.Sort(took)
		medians[name] = took[len(took)/2]
		fmt.Printf("%-12s median %8s  p90 %8s%s\n", name, took[len(took)/2].Round(10*time.Microsecond), took[len(took)*9/10].Round(10*time.Microsecond), line)
	}
	for _, pair := range [][2]string{{"bare-v2", "direct-v2"}, {"gateway-v2", "direct-v2"}, {"gateway-v1", "gateway-v2"}, {"person-v2", "role-v2"}} {
		if a, b := medians[pair[0]], medians[pair[1]]; a > 0 && b > 0 {
			fmt.Printf("median %s / %s: %.2fx\n", pair[0], pair[1], float64(a)/float64(b))
		}
	}
	if g, b := cpu["gateway-v2"], cpu["bare-v2"]; g > 0 && b > 0 {
		fmt.Printf("CPU per call gateway-v2 / bare-v2: %.2fx (the gateway's own part: %s)\n", float64(g)/float64(b), (g - b).Round(time.Microsecond))
	}
}

// cpuTime is the CPU time pid has used so far, or 0 for pid 0: the sum over its threads of the time
// /proc/PID/task/TID/schedstat counts in nanoseconds (utime and stime of /proc/PID/stat count clock
// ticks of 10 ms, too coarse for a few hundred calls of a fraction of a millisecond each). Go's threads
// live as long as the process, so none of the time is lost with a thread that ended.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total time.Duration
	for _, task := range tasks {
		data, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		var ns int64
		fmt.Sscan(string(data), &ns)
		total += time.Duration(ns)
	}
	return total
}
