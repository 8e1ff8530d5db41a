// Command executors compares the ways a command can run, in one run on one machine: the Airflow CLI
// started directly, a gateway on the subprocess executor, and a gateway on the warm executor. For each
// command it prints the median latency of N runs of each, through HTTP for the gateways, and the ratios;
// then the throughput of C clients sending one command for a while to each gateway, and the resident
// memory of the warm gateway and its forkserver.
//
//	go run ./bench/executors -airflow BIN -home AIRFLOW_HOME -token T -warm URL -warm-pid PID -subprocess URL
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
)

func main() {
	airflow := flag.String("airflow", "", "the airflow binary, run directly")
	home := flag.String("home", "", "AIRFLOW_HOME of the direct runs (the gateways' own)")
	token := flag.String("token", "", "a token of both gateways")
	warmURL := flag.String("warm", "", "the gateway on the warm executor")
	warmPID := flag.Int("warm-pid", 0, "its pid, for its memory and its forkserver's")
	subURL := flag.String("subprocess", "", "the gateway on the subprocess executor")
	plainURL := flag.String("no-templates", "", "a gateway on the warm executor without templates (none: no such column)")
	n := flag.Int("n", 20, "runs of each command each way")
	list := flag.String("commands", "version|variables get gw_bench|pools list -o json|dags list -o json|dags details gw_conf|dags list-runs gw_conf",
		"the commands, separated by |")
	clients := flag.Int("clients", 32, "clients of the throughput test")
	duration := flag.Duration("duration", 30*time.Second, "length of each throughput test")
	throughputCommand := flag.String("throughput-command", "variables get gw_bench", "the command of the throughput test")
	floorScript := flag.String("floor", "", "floor.py, to measure each command's own work in a warm process (none: no floor column)")
	flag.Parse()

	fmt.Printf("%-24s %10s %12s %12s %10s %10s %14s %16s\n", "command", "direct", "subprocess", "no templates", "warm", "floor",
		"direct/warm", "subprocess/warm")
	for _, command := range strings.Split(*list, "|") {
		direct := median(*n, func() time.Duration { return runDirect(*airflow, *home, command) })
		sub := median(*n, func() time.Duration { return runHTTP(*subURL, *token, command) })
		plain := "-"
		if *plainURL != "" {
			plain = ms(median(*n, func() time.Duration { return runHTTP(*plainURL, *token, command) }))
		}
		hot := median(*n, func() time.Duration { return runHTTP(*warmURL, *token, command) })
		floor := "-"
		if *floorScript != "" {
			floor = runFloor(*airflow, *home, *floorScript, *n, command)
		}
		fmt.Printf("%-24s %10s %12s %12s %10s %10s %13.1fx %15.1fx\n", command, ms(direct), ms(sub), plain, ms(hot), floor,
			float64(direct)/float64(hot), float64(sub)/float64(hot))
	}

	fmt.Printf("\n%d clients sending `%s` for %s:\n", *clients, *throughputCommand, *duration)
	subOK, subAll := load(*subURL, *token, *throughputCommand, *clients, *duration)
	hotOK, hotAll := load(*warmURL, *token, *throughputCommand, *clients, *duration)
	perSecond := func(ok int) float64 { return float64(ok) / duration.Seconds() }
	fmt.Printf("  subprocess    %6d answered 200 of %6d (%.1f/s)\n", subOK, subAll, perSecond(subOK))
	if *plainURL != "" {
		plainOK, plainAll := load(*plainURL, *token, *throughputCommand, *clients, *duration)
		fmt.Printf("  no templates  %6d answered 200 of %6d (%.1f/s)\n", plainOK, plainAll, perSecond(plainOK))
	}
	fmt.Printf("  warm          %6d answered 200 of %6d (%.1f/s)\n", hotOK, hotAll, perSecond(hotOK))
	if subOK > 0 {
		fmt.Printf("  warm/subprocess %.1fx\n", float64(hotOK)/float64(subOK))
	}

	if *warmPID > 0 {
		fmt.Printf("\nmemory at the end: warm gateway RSS %s (peak %s)\n", procfs.Status(*warmPID, "VmRSS"), procfs.Status(*warmPID, "VmHWM"))
		if fs := forkserverOf(*warmPID); fs > 0 {
			rss, pss := smaps(fs)
			fmt.Printf("  forkserver %7d: RSS %4d MB, PSS %4d MB\n", fs, rss>>10, pss>>10)
			for _, pid := range procfs.PIDs() {
				// Once the load is over, the forkserver's children are its templates.
				if p, ok := procfs.Stat(pid); ok && p.PPID == fs {
					r, p := smaps(pid)
					fmt.Printf("  template   %7d: RSS %4d MB, PSS %4d MB\n", pid, r>>10, p>>10)
					rss, pss = rss+r, pss+p
				}
			}
			fmt.Printf("  the warm executor: RSS %d MB summed (shared pages counted in each), PSS %d MB\n", rss>>10, pss>>10)
		}
	}
}

// smaps is a process's resident memory, and its proportional share of it, in kB.
func smaps(pid int) (rss, pss int64) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, line := range strings.Split(string(data), "\n") {
		var v int64
		if _, err := fmt.Sscanf(line, "Rss: %d kB", &v); err == nil {
			rss = v
		} else if _, err := fmt.Sscanf(line, "Pss: %d kB", &v); err == nil {
			pss = v
		}
	}
	return rss, pss
}

// median runs f n times and returns the median of what it measured.
func median(n int, f func() time.Duration) time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = f()
	}
	slices.Sort(ds)
	return ds[n/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func runDirect(bin, home, command string) time.Duration {
	cmd := exec.Command(bin, strings.Fields(command)...)
	cmd.Env = append(os.Environ(), "AIRFLOW_HOME="+home)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		fail("airflow %s: %v\n%s", command, err, out)
	}
	return time.Since(start)
}

// runFloor has floor.py time the command's own work in one warm process (the median of n runs after
// one to warm up), with the Python of the Airflow installation.
func runFloor(bin, home, script string, n int, command string) string {
	python, err := warm.PythonOf(bin)
	if err != nil {
		fail("the Python of %s: %v", bin, err)
	}
	cmd := exec.Command(python, append([]string{script, fmt.Sprint(n)}, strings.Fields(command)...)...)
	cmd.Env = append(os.Environ(), "AIRFLOW_HOME="+home)
	out, err := cmd.Output()
	if err != nil {
		fail("floor of %s: %v", command, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1] + " ms"
}

var client = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// send runs one command through a gateway and returns the HTTP status and the exit code header.
func send(base, token, command string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/command?command="+url.QueryEscape(command), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Airflow-Exit-Code")
}

func runHTTP(base, token, command string) time.Duration {
	start := time.Now()
	if status, exit := send(base, token, command); status != 200 || exit != "0" {
		fail("%s %s: status %d, exit code %s", base, command, status, exit)
	}
	return time.Since(start)
}

// load has clients send command for d and counts the answers, and those that were 200 with exit code 0.
func load(base, token, command string, clients int, d time.Duration) (ok, all int) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var good, total atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, exit := send(base, token, command)
				if ctx.Err() != nil {
					return // answered after the end: not counted
				}
				total.Add(1)
				if status == 200 && exit == "0" {
					good.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(good.Load()), int(total.Load())
}

// forkserverOf finds the warm executor's forkserver among the gateway's children.
func forkserverOf(gateway int) int {
	for _, pid := range procfs.PIDs() {
		if p, ok := procfs.Stat(pid); ok && p.PPID == gateway && slices.Contains(procfs.Argv(pid), warm.ProcessTag) {
			return pid
		}
	}
	return 0
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "executors: "+format+"\n", args...)
	os.Exit(1)
}
