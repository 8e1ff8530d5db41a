// Command load puts a running gateway under load: N clients send one command each, again and again, for a
// while. It reports the answers by status, the latency percentiles, the gateway's peak resident memory,
// and the Airflow processes still alive afterwards.
//
//	go run ./bench/load -url http://127.0.0.1:8080 -token TOKEN -pid GATEWAY_PID -airflow /path/to/bin/airflow
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080", "the gateway")
	token := flag.String("token", "", "a token for the gateway")
	clients := flag.Int("clients", 200, "concurrent clients")
	duration := flag.Duration("duration", 60*time.Second, "how long to send requests")
	command := flag.String("command", "version", "the command each client sends")
	dialect := flag.String("dialect", "command", "how it is sent: command (GET /api/v1/command) or mwaa (POST /aws_mwaa/cli, text/plain)")
	pid := flag.Int("pid", 0, "the gateway's pid, to read its peak resident memory")
	airflow := flag.String("airflow", "", "the airflow binary, to count its processes left behind")
	flag.Parse()

	newRequest := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, *target+"/api/v1/command?command="+url.QueryEscape(*command), nil)
		if *dialect == "mwaa" {
			req, _ = http.NewRequest(http.MethodPost, *target+"/aws_mwaa/cli", strings.NewReader(*command))
			req.Header.Set("Content-Type", "text/plain")
		}
		req.Header.Set("Authorization", "Bearer "+*token)
		return req
	}
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	ctx, stop := context.WithTimeout(context.Background(), *duration)
	defer stop()

	var mu sync.Mutex
	statuses := map[string]int{}
	var latencies []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req := newRequest()
				t0 := time.Now()
				resp, err := client.Do(req)
				status := "error"
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = strconv.Itoa(resp.StatusCode)
				}
				took := time.Since(t0)
				mu.Lock()
				statuses[status]++
				latencies = append(latencies, took)
				mu.Unlock()
				if err != nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	// Half-way, the Airflow processes alive show the slots at work (and that the count below can see them).
	during := -1
	if *airflow != "" {
		time.Sleep(*duration / 2)
		during = len(airflowProcesses(*airflow, *pid))
	}
	wg.Wait()
	elapsed := time.Since(start)

	fmt.Printf("%d clients sending `%s` in the %s dialect for %s (last answer after %s)\n", *clients, *command, *dialect, *duration, elapsed.Round(time.Millisecond))
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		fmt.Printf("  status %-5s %6d\n", k, statuses[k])
		total += statuses[k]
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	fmt.Printf("  answers      %6d (%.1f per second)\n", total, float64(total)/elapsed.Seconds())
	if len(latencies) > 0 {
		fmt.Printf("  latency      p50 %s  p99 %s  max %s\n", pct(latencies, 50), pct(latencies, 99), latencies[len(latencies)-1].Round(time.Millisecond))
	}
	if *pid > 0 {
		fmt.Printf("  gateway peak RSS %s\n", procfs.Status(*pid, "VmHWM"))
	}
	if *airflow != "" {
		time.Sleep(2 * time.Second) // commands stopped at the end are reaped
		left := airflowProcesses(*airflow, *pid)
		fmt.Printf("  airflow processes half-way: %d; left behind: %d\n", during, len(left))
		for _, p := range left {
			st, _ := procfs.Stat(p)
			fmt.Printf("    %d (parent %d, state %s)  [%.200s]\n", p, st.PPID, st.State, strings.Join(procfs.Argv(p), " "))
		}
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)].Round(time.Millisecond)
}

// airflowProcesses lists the pids of live processes whose command line runs the airflow binary, or names
// the warm executor's forkserver (its children keep its command line); the forkserver itself, a child of
// the gateway, is not counted.
func airflowProcesses(bin string, gateway int) []int {
	var pids []int
	for _, pid := range procfs.PIDs() {
		p, ok := procfs.Stat(pid)
		argv := procfs.Argv(pid)
		runsAirflow := len(argv) > 0 && argv[0] == bin || len(argv) > 1 && argv[1] == bin
		warmChild := slices.Contains(argv, warm.ProcessTag) && p.PPID != gateway
		if ok && p.State != "Z" && (runsAirflow || warmChild) {
			pids = append(pids, pid)
		}
	}
	return pids
}
