package commands

import (
	"context"
	"sync"
	"time"
)

// Options are the execution limits of a Service.
type Options struct {
	MaxConcurrent         int
	QueueTimeout          time.Duration
	CommandTimeout        time.Duration
	LongCommandTimeout    time.Duration
	FilterLoadingMessages bool
	// StateDir holds the gateway's own files, outside the DAGs folder: daemons' pid and log files, and
	// the backups deploy_dag keeps.
	StateDir       string
	MaxUploadBytes int64
	// DAGIndexMaxAge is how old the DAG index may grow, while its reads fail, before scopes stop matching
	// tags and teams against it (they then match none); zero for no limit.
	DAGIndexMaxAge time.Duration
}

// Service runs invocations on an Executor with bounded concurrency and per-class time limits.
type Service struct {
	*Policy
	exec     Executor
	opts     Options
	slots    chan struct{}
	deployMu sync.Mutex // one deploy_dag at a time decides what a file name holds
	daemonMu sync.Mutex // one daemon start at a time checks and writes the pid files
	index    dagIndex   // the DAGs scopes match against (access.go)
	reads    indexReads // how the reads of it fared (dagindex.go)
}

// NewService returns a Service; at most opts.MaxConcurrent commands run at once.
func NewService(policy *Policy, exec Executor, opts Options) *Service {
	return &Service{Policy: policy, exec: exec, opts: opts, slots: make(chan struct{}, max(1, opts.MaxConcurrent))}
}

// ExecutorStatus says which executor runs the commands.
func (s *Service) ExecutorStatus() ExecutorStatus {
	if r, ok := s.exec.(StatusReporter); ok {
		return r.Status()
	}
	return ExecutorStatus{Name: "subprocess"}
}

// Slots returns how many command slots there are, and how many are taken now.
func (s *Service) Slots() (total, busy int) { return cap(s.slots), len(s.slots) }

// MaxUploadBytes is the size limit of a deploy_dag file.
func (s *Service) MaxUploadBytes() int64 { return s.opts.MaxUploadBytes }

// Run waits for a free slot (at most QueueTimeout) and runs inv. It returns EUNAVAILABLE when no slot freed
// in time, ETIMEOUT with the partial Result when the command ran past its limit, and the Result otherwise,
// whatever the command's exit code.
func (s *Service) Run(ctx context.Context, inv *Invocation) (*Result, error) {
	return s.RunWatched(ctx, inv, Watch{})
}

// Watch is told what a command does while it runs. Every field may be nil or empty.
type Watch struct {
	// Started is called when the command has a slot and starts.
	Started func()
	// Output is handed the command's output as it comes, in whole lines, filtered and masked as the
	// Result shows it: the pieces of a stream put together are the Result's text of that stream. It may be
	// called for both streams at once. Output a mask can only judge whole (connections) comes at the end.
	Output func(s Stream, text string)
	// Marker is passed on as Exec.Marker.
	Marker string
	// KeepLogLines keeps Airflow's log lines in stdout whatever FilterLoadingMessages says: for output
	// that is followed as it comes, where the log is how a long command shows its progress.
	KeepLogLines bool
}

// RunWatched runs inv as Run does, and tells w what it does while it runs.
func (s *Service) RunWatched(ctx context.Context, inv *Invocation, w Watch) (*Result, error) {
	limit := s.opts.CommandTimeout
	if inv.Entry.Long {
		limit = s.opts.LongCommandTimeout
	}
	x := Exec{Args: inv.Args(), Limit: limit, Marker: w.Marker, AirflowUser: inv.airflowUser}
	var feed *liveFeed
	if w.Output != nil {
		feed = newLiveFeed(w.Output, s.opts.FilterLoadingMessages && !w.KeepLogLines, masksWhole(inv) || inv.Filtered())
		x.Live = feed.write
	}
	res, err := s.runExec(ctx, x, w.Started)
	if res != nil {
		maskOutput(inv, res)
		if inv.Filtered() {
			index, _ := s.DAGIndex()
			filterListing(inv, res, index)
		}
	}
	if feed != nil {
		feed.finish(res)
	}
	return res, err
}

// AwaitSettled waits until the executor runs commands the way it will from then on (a warm executor once
// its first forkserver is warm or has failed to get warm), for at most wait, or until ctx ends. The
// gateway's own commands at start wait so, rather than pay a cold start of Airflow beside the warm-up, to
// fork from the warm process a moment later.
func (s *Service) AwaitSettled(ctx context.Context, wait time.Duration) {
	settler, ok := s.exec.(Settler)
	if !ok {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-settler.Settled():
	case <-timer.C:
	case <-ctx.Done():
	}
}

// CheckDB reports whether Airflow's metadata database answers `airflow db check` within limit. It runs
// without taking a command slot, as a health check must even when every slot is busy (Ask).
func (s *Service) CheckDB(ctx context.Context, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res, err := s.Ask(ctx, Exec{Args: []string{"db", "check"}, Limit: limit})
	return err == nil && res.ExitCode == 0 && !res.TimedOut
}

// Ask runs one of the gateway's own short commands (a health check, a question to Airflow's
// configuration) at once, without taking a command slot, so that busy slots never hold it up: it may run
// beside MaxConcurrent others, so callers run at most one at a time.
func (s *Service) Ask(ctx context.Context, x Exec) (*Result, error) {
	return s.exec.Run(ctx, x)
}

// RunExec runs a command as Run does; it is for the gateway's own commands, already known to be safe.
func (s *Service) RunExec(ctx context.Context, x Exec) (*Result, error) {
	return s.runExec(ctx, x, nil)
}

func (s *Service) runExec(ctx context.Context, x Exec, started func()) (*Result, error) {
	queued := time.Now()
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-s.slots }()
	waited := time.Since(queued)
	if started != nil {
		started()
	}
	if x.Caller == "" {
		x.Caller = CallerOf(ctx)
	}
	res, err := s.exec.Run(ctx, x)
	if res == nil {
		return nil, err
	}
	res.QueueWait = waited
	if s.opts.FilterLoadingMessages {
		res.Stdout = FilterLoadingMessages(res.Stdout)
	}
	if err != nil {
		return res, err // a failure of the executor that still has output to show
	}
	if res.TimedOut {
		return res, Errorf(ETIMEOUT, "the command ran past its time limit of %s and was stopped; the output so far is included", x.Limit)
	}
	return res, nil
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(s.opts.QueueTimeout)
	defer timer.Stop()
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return Errorf(EUNAVAILABLE, "all %d command slots stayed busy for %s; retry in a few seconds", cap(s.slots), s.opts.QueueTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
