package jobs

import "time"

// SetSaveEnd sets how long, and how often, the end of a job is retried while the store refuses it.
func SetSaveEnd(within, every time.Duration) (restore func()) {
	was, wasEvery := saveEndFor.Load(), saveEndEvery.Load()
	saveEndFor.Store(int64(within))
	saveEndEvery.Store(int64(every))
	return func() { saveEndFor.Store(was); saveEndEvery.Store(wasEvery) }
}
