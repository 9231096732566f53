package pgcluster

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestReplica_StreamsStopsAndCatchesUp: a replica made by StartReplica is a
// hot standby that sees the primary's commits, refuses writes, misses
// nothing it was stopped for once started again (its slot kept the WAL),
// and Remove drops its slot on the primary.
func TestReplica_StreamsStopsAndCatchesUp(t *testing.T) {
	ctx, primary := tempCluster(t)
	exec := func(url, sql string) error { return execSQL(ctx, url, sql) }
	count := func(url string) int {
		t.Helper()
		var n int
		if err := queryOne(ctx, url, "SELECT count(*) FROM t", &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, sql := range []string{"CREATE TABLE t (n int)", "INSERT INTO t VALUES (1)"} {
		if err := execSQL(ctx, primary.URL("postgres"), sql); err != nil {
			t.Fatal(err)
		}
	}
	replica, err := primary.StartReplica(ctx, ReplicaOptions{Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			replica.Remove()
		}
	})
	if replica.Primary() != primary || replica.Port() == primary.Port() {
		t.Fatalf("replica of port %d on port %d", primary.Port(), replica.Port())
	}
	var standby bool
	if err := queryOne(ctx, replica.URL("postgres"), "SELECT pg_is_in_recovery()", &standby); err != nil || !standby {
		t.Fatalf("pg_is_in_recovery() on the replica = %v, %v; want true", standby, err)
	}
	if err := exec(replica.URL("postgres"), "INSERT INTO t VALUES (2)"); err == nil {
		t.Fatal("the replica accepted a write")
	}

	if err := exec(primary.URL("postgres"), "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if err := replica.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(replica.URL("postgres")); n != 2 {
		t.Fatalf("replica has %d rows after catching up, want 2", n)
	}

	if err := replica.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Enough WAL that a checkpoint would recycle it without the slot.
	if err := exec(primary.URL("postgres"), "INSERT INTO t SELECT g FROM generate_series(3, 20000) g"); err != nil {
		t.Fatal(err)
	}
	if err := exec(primary.URL("postgres"), "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	if err := replica.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := replica.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(replica.URL("postgres")); n != 20000 {
		t.Fatalf("replica has %d rows after a restart, want 20000", n)
	}

	if err := replica.Remove(); err != nil {
		t.Fatal(err)
	}
	removed = true
	var slots int
	if err := queryOne(ctx, primary.URL("postgres"), "SELECT count(*) FROM pg_replication_slots", &slots); err != nil || slots != 0 {
		t.Fatalf("%d replication slots left on the primary after Remove (%v)", slots, err)
	}
}

func execSQL(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
