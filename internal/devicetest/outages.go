package devicetest

// Outages of the database under a running server (Options.Outages): stopped
// cleanly, killed as by a crash, or frozen so that it answers nothing.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// outageCluster fails t unless the suite asked for outages and owns its
// cluster: one suite's outage must never reach another's server.
func (s *Server) outageCluster(t testing.TB) {
	t.Helper()
	if !s.opts.Outages || s.Cluster == nil {
		t.Fatal("devicetest: database outages need Options.Outages and a cluster of the suite's own")
	}
}

// StopDatabase stops Postgres cleanly under the running server.
func (s *Server) StopDatabase(t testing.TB) {
	t.Helper()
	s.outageCluster(t)
	if err := s.Cluster.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// StartDatabase starts Postgres again (after crash recovery, if it was
// killed). The server is not told: whether it reconnects is up to it. The
// tests' own Checks pool is reset, its connections having died with the old
// server.
func (s *Server) StartDatabase(t testing.TB) {
	t.Helper()
	s.outageCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Cluster.Start(ctx); err != nil {
		t.Fatalf("restart cluster: %v", err)
	}
	s.Checks.Reset()
}

// RestartAtEnd starts Postgres again when t ends, whatever happened to it
// during t, so the next test finds it up.
func (s *Server) RestartAtEnd(t testing.TB) {
	t.Helper()
	s.outageCluster(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := s.Cluster.Start(ctx); err != nil {
			t.Errorf("restart cluster: %v", err)
		}
		s.Checks.Reset()
	})
}

// KillDatabase stops Postgres the way a crash does (pg_ctl stop -m
// immediate): no shutdown checkpoint, sessions are not rolled back cleanly,
// the next start runs crash recovery. pgcluster only stops cleanly, so this
// runs pg_ctl itself, as the account that owns the cluster.
func (s *Server) KillDatabase(t testing.TB) {
	t.Helper()
	s.outageCluster(t)
	pgCtl, err := exec.LookPath("pg_ctl")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pgCtl, "stop", "-D", filepath.Join(s.Cluster.Dir(), "data"), "-m", "immediate", "-w", "-s")
	cmd.Dir = s.Cluster.Dir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if os.Geteuid() == 0 { // postgres refuses root; pgcluster runs it as "postgres"
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
}

// FreezeDatabase stops every process of the cluster with SIGSTOP (the
// postmaster first, so it forks no new ones): connections and queries get
// no answer at all. It returns the function that resumes them, which also
// runs when t ends.
func (s *Server) FreezeDatabase(t testing.TB) (thaw func()) {
	t.Helper()
	s.outageCluster(t)
	raw, err := os.ReadFile(filepath.Join(s.Cluster.Dir(), "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	postmaster, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	pids := []int{postmaster}
	if err := syscall.Kill(postmaster, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut after ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(postmaster) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if syscall.Kill(pid, syscall.SIGSTOP) == nil {
				pids = append(pids, pid)
			}
		}
	}
	thawed := false
	thaw = func() {
		if thawed {
			return
		}
		thawed = true
		for i := len(pids) - 1; i >= 0; i-- {
			syscall.Kill(pids[i], syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	return thaw
}
