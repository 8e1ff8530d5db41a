// Package jobstest holds the tests every jobs.Store must pass, for each adapter's own test to run.
package jobstest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
)

// TestStore runs the store suite; open returns an empty store that the suite closes.
func TestStore(t *testing.T, open func(tb testing.TB) jobs.Store) {
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	newJob := func(i int, owner string) *jobs.Job {
		return &jobs.Job{ID: jobs.NewID(base.Add(time.Duration(i) * time.Second)), Command: fmt.Sprintf("dags test gw_%d", i),
			AirflowCmd: fmt.Sprintf("airflow dags test gw_%d", i), Owner: owner, State: jobs.Queued, CreatedAt: base.Add(time.Duration(i) * time.Second)}
	}

	t.Run("records", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		j := newJob(0, "ci-bot")
		j.Scope = "dags team_a_*"
		if err := s.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != jobs.Queued || got.Owner != "ci-bot" || got.Scope != j.Scope || got.Command != j.Command || got.AirflowCmd != j.AirflowCmd ||
			!got.CreatedAt.Equal(j.CreatedAt) || got.ExitCode != nil || got.StartedAt != nil || got.EndedAt != nil {
			t.Errorf("read back %+v, want %+v", got, j)
		}
		start, end, code := base.Add(time.Second), base.Add(3*time.Second+time.Microsecond), 2
		j.State, j.StartedAt, j.EndedAt, j.ExitCode, j.Truncated, j.Detail = jobs.Failed, &start, &end, &code, true, "why"
		if err := s.Update(ctx, j); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Get(ctx, j.ID)
		if got.State != jobs.Failed || got.ExitCode == nil || *got.ExitCode != 2 || !got.Truncated || got.Detail != "why" ||
			got.StartedAt == nil || !got.StartedAt.Equal(start) || got.EndedAt == nil || !got.EndedAt.Equal(end) {
			t.Errorf("after Update: %+v", got)
		}
		missing := jobs.NewID(base)
		if _, err := s.Get(ctx, missing); commands.ErrorCode(err) != commands.ENOTFOUND {
			t.Errorf("Get of a missing job: %v, want ENOTFOUND", err)
		}
		if err := s.Update(ctx, &jobs.Job{ID: missing, State: jobs.Running}); commands.ErrorCode(err) != commands.ENOTFOUND {
			t.Errorf("Update of a missing job: %v, want ENOTFOUND", err)
		}
		if err := s.Delete(ctx, missing); commands.ErrorCode(err) != commands.ENOTFOUND {
			t.Errorf("Delete of a missing job: %v, want ENOTFOUND", err)
		}
	})

	t.Run("output", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		j := newJob(0, "a")
		if err := s.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		pieces := []jobs.Chunk{
			{Offset: 0, Stream: commands.Stdout, Text: "héllo\n"},
			{Offset: 7, Stream: commands.Stderr, Text: "warn\n"},
			{Offset: 12, Stream: commands.Stdout, Text: "done\n"},
		}
		for _, c := range pieces {
			if err := s.Append(ctx, j.ID, c); err != nil {
				t.Fatal(err)
			}
		}
		// A piece written again, as after a write whose answer was lost, is kept once.
		if err := s.Append(ctx, j.ID, pieces[1]); err != nil {
			t.Errorf("a piece appended twice: %v", err)
		}
		for _, tc := range []struct {
			from  int64
			first int
		}{{0, 0}, {6, 0}, {7, 1}, {11, 1}, {12, 2}, {16, 2}, {17, 3}, {99, 3}} {
			got, err := s.Output(ctx, j.ID, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, pieces[tc.first:]) {
				t.Errorf("Output from %d: %+v, want %+v", tc.from, got, pieces[tc.first:])
			}
		}
		if err := s.Delete(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Output(ctx, j.ID, 0); len(got) != 0 {
			t.Errorf("the output outlived its job: %+v", got)
		}
	})

	t.Run("list", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var all []*jobs.Job
		for i := range 6 {
			j := newJob(i, []string{"a", "b"}[i%2])
			if i == 4 {
				j.State = jobs.Running
			}
			if err := s.Create(ctx, j); err != nil {
				t.Fatal(err)
			}
			all = append(all, j)
		}
		ids := func(list []*jobs.Job) []string {
			var out []string
			for _, j := range list {
				out = append(out, j.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    jobs.Filter
			want []int
		}{
			{"all", jobs.Filter{Limit: 10}, []int{5, 4, 3, 2, 1, 0}},
			{"limit", jobs.Filter{Limit: 2}, []int{5, 4}},
			{"owner", jobs.Filter{Owner: "a", Limit: 10}, []int{4, 2, 0}},
			{"state", jobs.Filter{State: jobs.Running, Limit: 10}, []int{4}},
			{"before", jobs.Filter{Before: all[3].ID, Limit: 10}, []int{2, 1, 0}},
			{"owner before", jobs.Filter{Owner: "b", Before: all[3].ID, Limit: 10}, []int{1}},
		} {
			got, err := s.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var want []*jobs.Job
			for _, i := range tc.want {
				want = append(want, all[i])
			}
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("%s: %v, want %v", tc.name, ids(got), ids(want))
			}
		}
	})

	t.Run("lost and pruned", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		queued, running, ended, old := newJob(0, "a"), newJob(1, "a"), newJob(2, "a"), newJob(3, "a")
		running.State = jobs.Running
		recent, long := base.Add(time.Hour), base
		code := 0
		ended.State, ended.EndedAt, ended.ExitCode = jobs.Succeeded, &recent, &code
		old.State, old.EndedAt = jobs.Failed, &long
		for _, j := range []*jobs.Job{queued, running, ended, old} {
			if err := s.Create(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Append(ctx, running.ID, jobs.Chunk{Offset: 0, Stream: commands.Stdout, Text: "before the crash\n"}); err != nil {
			t.Fatal(err)
		}
		at := base.Add(2 * time.Hour)
		ids, err := s.LoseExpired(ctx, at, "gone", at) // no replica has a heartbeat: all are lost
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{queued.ID, running.ID}; !slices.Equal(ids, want) {
			t.Errorf("LoseExpired: %v, want %v", ids, want)
		}
		for _, j := range []*jobs.Job{queued, running} {
			got, _ := s.Get(ctx, j.ID)
			if got.State != jobs.Lost || got.Detail != "gone" || got.EndedAt == nil || !got.EndedAt.Equal(at) {
				t.Errorf("after LoseExpired: %+v", got)
			}
		}
		if out, _ := s.Output(ctx, running.ID, 0); len(out) != 1 {
			t.Errorf("the lost job's output: %+v", out)
		}
		if got, _ := s.Get(ctx, ended.ID); got.State != jobs.Succeeded {
			t.Errorf("LoseExpired changed an ended job: %+v", got)
		}
		n, err := s.Prune(ctx, base.Add(30*time.Minute))
		if err != nil || n != 1 {
			t.Errorf("Prune: %d, %v; want 1", n, err)
		}
		if _, err := s.Get(ctx, old.ID); commands.ErrorCode(err) != commands.ENOTFOUND {
			t.Errorf("the pruned job is still there: %v", err)
		}
		if _, err := s.Get(ctx, ended.ID); err != nil {
			t.Errorf("Prune took a recent job: %v", err)
		}
	})

	t.Run("replicas", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		// Replica a renews its lease at base+50s, b last did at base+10s; c never did.
		of := map[string][]*jobs.Job{}
		for i, r := range []string{"a", "a", "b", "b", "c"} {
			j := newJob(i, "owner")
			j.Replica, j.State = r, jobs.Running
			if err := s.Create(ctx, j); err != nil {
				t.Fatal(err)
			}
			of[r] = append(of[r], j)
		}
		for r, at := range map[string]time.Time{"a": base.Add(50 * time.Second), "b": base.Add(10 * time.Second)} {
			if err := s.Heartbeat(ctx, r, base); err != nil {
				t.Fatal(err)
			}
			if err := s.Heartbeat(ctx, r, at); err != nil { // a renewal replaces the earlier heartbeat
				t.Fatal(err)
			}
		}
		got, _ := s.Get(ctx, of["a"][0].ID)
		if got.Replica != "a" {
			t.Errorf("the job's replica reads %q", got.Replica)
		}

		// A cancel left for a's second job is seen by a, and by no one else.
		if err := s.RequestCancel(ctx, of["a"][1].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RequestCancel(ctx, "0000000000000000000000000000dead"); commands.ErrorCode(err) != commands.ENOTFOUND {
			t.Errorf("a cancel for no job: %v", err)
		}
		if ids, err := s.CancelRequests(ctx, "a"); err != nil || !slices.Equal(ids, []string{of["a"][1].ID}) {
			t.Errorf("a's cancels: %v, %v", ids, err)
		}
		if ids, _ := s.CancelRequests(ctx, "b"); len(ids) != 0 {
			t.Errorf("b's cancels: %v", ids)
		}

		// With leases of 30 s at base+60s, b's lease has expired and c never had one: their jobs are lost.
		ids, err := s.LoseExpired(ctx, base.Add(30*time.Second), "gone", base.Add(60*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{of["b"][0].ID, of["b"][1].ID, of["c"][0].ID}
		if !slices.Equal(ids, want) {
			t.Errorf("LoseExpired: %v, want b's and c's %v", ids, want)
		}
		for r, jobsOf := range of {
			for _, j := range jobsOf {
				got, _ := s.Get(ctx, j.ID)
				if (got.State == jobs.Lost) != (r != "a") {
					t.Errorf("replica %s's job reads %s", r, got.State)
				}
			}
		}
		// What is lost is lost once.
		if ids, _ := s.LoseExpired(ctx, base.Add(30*time.Second), "gone", base.Add(60*time.Second)); len(ids) != 0 {
			t.Errorf("a second LoseExpired lost %v", ids)
		}
		// An ended job keeps its cancel request, and is not handed out.
		ended := of["a"][1]
		code := 0
		ended.State, ended.EndedAt, ended.ExitCode = jobs.Canceled, &base, &code
		if err := s.Update(ctx, ended); err != nil {
			t.Fatal(err)
		}
		if ids, _ := s.CancelRequests(ctx, "a"); len(ids) != 0 {
			t.Errorf("cancels of ended jobs are handed out: %v", ids)
		}
	})
}
