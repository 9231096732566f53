package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// serverUser is the unprivileged system account that runs PostgreSQL when
// this process runs as root (postgres refuses to run as root).
const serverUser = "postgres"

// runAs describes the OS user that runs initdb, pg_ctl and postgres.
type runAs struct {
	name string
	uid  int
	gid  int
	// cred is nil when the children run as the current user.
	cred *syscall.Credential
}

// serverAccount returns the account that must own and run the cluster: the
// system user "postgres" when this process is root, the current user otherwise.
func serverAccount() (*runAs, error) {
	if os.Geteuid() != 0 {
		name := strconv.Itoa(os.Geteuid())
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		return &runAs{name: name, uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root and cannot find system user %q to run postgres as: %w", serverUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: user %s: bad uid %q", serverUser, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: user %s: bad gid %q", serverUser, u.Gid)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	return &runAs{name: u.Username, uid: int(uid), gid: int(gid), cred: cred}, nil
}

// command builds a command that runs as the server account, in directory dir,
// with HOME=dir and without inherited PG* variables (they would change what
// initdb and pg_ctl do).
func (r *runAs) command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir // the caller's cwd (e.g. /root) may be unreadable for postgres
	env := []string{"HOME=" + dir}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	// Own process group: a Ctrl-C aimed at our process must not reach
	// pg_ctl (postgres itself is detached by pg_ctl via setsid).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: r.cred}
	return cmd
}

// chown gives path to the server account (no-op unless we are root).
func (r *runAs) chown(path string) error {
	if r.cred == nil {
		return nil
	}
	return os.Lchown(path, r.uid, r.gid)
}

// chownTree gives every file under root to the server account if root itself
// is owned by someone else (e.g. a data dir created by an earlier non-root run).
func (r *runAs) chownTree(root string) error {
	if r.cred == nil {
		return nil
	}
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == r.uid {
		return nil
	}
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, r.uid, r.gid)
	})
}

// canTraverse reports whether the server account can search directory p
// (and therefore every directory above it).
func (r *runAs) canTraverse(ctx context.Context, p string) bool {
	if r.cred == nil {
		return syscall.Access(p, 1 /* X_OK */) == nil
	}
	// root passes every access check, so ask as the server account itself.
	testBin, err := exec.LookPath("test")
	if err != nil {
		testBin = "/usr/bin/test"
	}
	cmd := exec.CommandContext(ctx, testBin, "-d", p, "-a", "-x", p)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	return cmd.Run() == nil
}

// checkTraversable returns a clear error naming the first directory on the
// way to p that the server account cannot enter.
func (r *runAs) checkTraversable(ctx context.Context, p string) error {
	if r.canTraverse(ctx, p) {
		return nil
	}
	// Find the culprit, top down.
	var chain []string
	for d := p; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	culprit := p
	for i := len(chain) - 1; i >= 0; i-- {
		if !r.canTraverse(ctx, chain[i]) {
			culprit = chain[i]
			break
		}
	}
	mode := ""
	if fi, err := os.Stat(culprit); err == nil {
		mode = " (mode " + fi.Mode().Perm().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			mode += fmt.Sprintf(", owner uid %d gid %d", st.Uid, st.Gid)
		}
		mode += ")"
	} else if errors.Is(err, fs.ErrNotExist) {
		mode = " (does not exist)"
	}
	return fmt.Errorf("pgcluster: directory %s is not traversable by user %s (uid %d)%s; "+
		"postgres must be able to reach %s: choose a cluster dir under a world-searchable path (e.g. /tmp) or chmod o+x the directory: %w",
		culprit, r.name, r.uid, mode, p, ErrNotTraversable)
}
