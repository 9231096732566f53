package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sampleInterval is how often a phase's memory is read. The server runs in
// this process, and VmHWM cannot be reset from inside it, so a phase's peak
// is the largest VmRSS seen by sampling.
const sampleInterval = 50 * time.Millisecond

// sampler records the process's peak RSS and Go heap while recording is on.
type sampler struct {
	recording atomic.Bool
	stop      chan struct{}
	done      chan struct{}

	mu       sync.Mutex
	fig      MemoryFigures
	startMem runtime.MemStats
}

// startSampler collects garbage first, so the baseline is the live heap and
// a phase's peak is what the phase itself added.
func startSampler(recording bool) *sampler {
	runtime.GC()
	debug.FreeOSMemory()
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.ReadMemStats(&s.startMem)
	s.fig.BaselineRSSBytes = readProcStatus("VmRSS")
	s.recording.Store(recording)
	go s.loop()
	return s
}

// record turns sampling on or off (e.g. only while HTTP pulls run).
func (s *sampler) record(on bool) {
	if on {
		s.sample() // a short section still gets one sample
	}
	s.recording.Store(on)
}

func (s *sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.recording.Load() {
				s.sample()
			}
		}
	}
}

func (s *sampler) sample() {
	rss := readProcStatus("VmRSS")
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fig.Samples++
	s.fig.PeakRSSBytes = max(s.fig.PeakRSSBytes, rss)
	s.fig.PeakHeapInuseBytes = max(s.fig.PeakHeapInuseBytes, m.HeapInuse)
}

// finish stops sampling and returns the phase's figures.
func (s *sampler) finish() MemoryFigures {
	if s.recording.Load() {
		s.sample()
	}
	close(s.stop)
	<-s.done
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fig
	f.AllocatedBytes = m.TotalAlloc - s.startMem.TotalAlloc
	f.NumGC = m.NumGC - s.startMem.NumGC
	f.PeakRSSMiB = float64(f.PeakRSSBytes) / (1 << 20)
	return f
}

// readProcStatus returns a /proc/self/status memory field in bytes, or 0
// where there is no /proc.
func readProcStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		f := bytes.Fields(rest) // "123456 kB"
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
