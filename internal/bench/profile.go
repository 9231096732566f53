package bench

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startCPUProfile writes PREFIX.PHASE.pprof while a phase runs; the profile
// covers the whole process (server, clients and raw side alike). An empty
// prefix profiles nothing.
func startCPUProfile(prefix, phase string) (stop func() error, err error) {
	if prefix == "" {
		return func() error { return nil }, nil
	}
	path := prefix + "." + phase + ".pprof"
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
