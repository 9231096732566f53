package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// machineInfo describes the host and the Postgres the figures come from.
func machineInfo(ctx context.Context, e *env) (Machine, error) {
	m := Machine{
		NProc:         runtime.NumCPU(),
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		CPUModel:      cpuModel(),
		MemTotalBytes: procMeminfo("MemTotal"),
		GoVersion:     runtime.Version(),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{"server_version", &m.Postgres},
		{"fsync", &m.Fsync},
		{"synchronous_commit", &m.SynchronousCommit},
		{"full_page_writes", &m.FullPageWrites},
		{"shared_buffers", &m.SharedBuffers},
		{"max_connections", &m.MaxConnections},
	} {
		// SHOW takes no parameters; the names above are constants.
		if err := e.rawPool.QueryRow(ctx, "SHOW "+s.name).Scan(s.dst); err != nil {
			return m, fmt.Errorf("bench: SHOW %s: %w", s.name, err)
		}
	}
	return m, nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return runtime.GOARCH
}

// procMeminfo returns a /proc/meminfo field in bytes, or 0.
func procMeminfo(field string) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}
