package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints one line per step, stamped with the time since the start.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, start: time.Now()}
}

func (p *progress) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "bench [%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// phase reports a finished phase with how long it took.
func (p *progress) phase(t0 time.Time, name, format string, args ...any) {
	p.line("%-7s done in %.1fs: %s", name, time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
}
