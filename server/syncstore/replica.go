package syncstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
)

// Reads from streaming replicas.
//
// A pull page or a digest may be read on a streaming replica (a hot
// standby) instead of the primary, when the replica's snapshot holds what the
// request needs for its contractor; everything else (pushes, conflicts,
// Idempotency-Keys, the tenant lookup) stays on the primary.
//
// Why a replica's snapshot needs no lock on the clock. On the primary a walk
// reads the clock FOR SHARE, because its reads are separate statements: the
// lock makes it wait for a push in flight, so that no change with a seq at
// or below the horizon can commit after the walk has passed it. A hot
// standby refuses FOR SHARE, and needs none, for three reasons:
//
//  1. Pushes of one contractor commit in seq order: a push updates the
//     clock row and holds that row lock until it commits, so the push that
//     takes seq N+1 cannot update the row before push N has committed, and
//     its commit record follows N's in the WAL.
//  2. A standby replays the WAL in order and its snapshots see exactly the
//     transactions whose commit records it has replayed. So a snapshot that
//     sees the clock at seq S sees every push up to S (all committed before
//     S, so replayed before it) and none after S (not replayed, or it would
//     see the clock past S).
//  3. The clock and the rows are read in one snapshot (a REPEATABLE READ
//     transaction on the replica): the page is exactly the state at S. A
//     replica that replays further meanwhile does not change what the
//     transaction sees, and no push can be "in flight" in a snapshot.
//
// So a replica at S may serve every walk whose changes it holds: a resting
// cursor at Base needs S >= Base (the walk is (Base, S], and the cursor it
// hands out, S, is never behind the one the device sent); a later page of a
// walk needs S >= its horizon (every change of the walk is there; a row
// rewritten after the horizon is either not replayed, then it still shows
// the version it had at the horizon, which every server at or past the
// horizon agrees on, or it is, then its seq is past the horizon and the next
// walk brings it, as on the primary); a held pull woken by version V needs
// S >= V. A replica behind that is passed over for the next one, then the
// primary: a device never goes back and never misses a change, whichever
// database answers which page.
//
// The walk's time (serverTime, which clients may keep as since) is the
// clock's seq_at: a time push S read before its rows' updated_at (queries/
// clock.sql says why), which every push after S reads a later time than (it
// waits for S to commit).
// The replica's own clock would be later than pushes it has not replayed.
//
// Purge marks are read in the same snapshot as the rows. A purge raises the
// marks in one transaction, waits, then deletes the tombstones in another
// that starts after the first committed: its commit record follows the
// marks' in the WAL. A snapshot without the raised marks therefore still has
// the tombstones (the delta is whole), and one without the tombstones has
// the marks (410). A replica never answers a delta that silently lacks a
// deletion, however far behind it is and whatever the primary has deleted.

// Replicas are the streaming replicas reads may be served from, and the
// record of where each read was served (server/replica implements it).
type Replicas interface {
	// Candidates lists the replicas worth trying now (in lag bounds and not
	// failed since they were last found healthy), in the order to try them.
	Candidates() []Replica
	// Served records that a read (op: "pull" or "digest") was answered by
	// source: a replica's name, or Primary.
	Served(op, source string)
	// Passed records that a replica was tried and passed over: reason
	// "behind" (it had not replayed what the request needs) or "failed".
	Passed(op, replica, reason string)
}

// Replica is one streaming replica.
type Replica interface {
	Name() string
	// BeginTx starts a transaction on the replica.
	BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error)
	// Failed takes the replica out of Candidates until it is found healthy
	// again.
	Failed(err error)
	// Timeout bounds one read on the replica; past it the primary answers.
	Timeout() time.Duration
}

// Primary is the source label of reads the primary served.
const Primary = "primary"

// Read operations, as Replicas records them.
const (
	opPull   = "pull"
	opDigest = "digest"
)

type noReplicas struct{}

func (noReplicas) Candidates() []Replica         { return nil }
func (noReplicas) Served(string, string)         {}
func (noReplicas) Passed(string, string, string) {}

// errReplicaBehind is a replica that has not replayed what a read needs.
var errReplicaBehind = errors.New("the replica has not replayed what the read needs")

// snapshot is how a read runs on a replica: one snapshot, read only.
var snapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// onReplica runs read on each candidate in turn until one serves it. served
// is false when none did (then the primary must). An error that is the
// request's (a 410, a cancelled request) is served; a replica that fails is
// taken out of the candidates and the next one tried.
func onReplica[T any](ctx context.Context, rs Replicas, op string, read func(context.Context, pgx.Tx) (T, error)) (T, bool, error) {
	var zero T
	for _, r := range rs.Candidates() {
		out, err := readOn(ctx, r, read)
		switch {
		case err == nil:
			rs.Served(op, r.Name())
			return out, true, nil
		case errors.Is(err, errReplicaBehind):
			rs.Passed(op, r.Name(), "behind")
		case ctx.Err() != nil:
			return zero, true, ctx.Err() // the request's deadline or its client: not the replica's doing
		case isClientError(err):
			rs.Served(op, r.Name())
			return zero, true, err
		default:
			r.Failed(err)
			rs.Passed(op, r.Name(), "failed")
		}
	}
	return zero, false, nil
}

// readOn runs read in one read-only snapshot of r, within r's timeout.
func readOn[T any](ctx context.Context, r Replica, read func(context.Context, pgx.Tx) (T, error)) (T, error) {
	var out T
	ctx, cancel := context.WithTimeout(ctx, r.Timeout())
	defer cancel()
	tx, err := r.BeginTx(ctx, snapshot)
	if err != nil {
		return out, fmt.Errorf("replica %s: begin: %w", r.Name(), err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only: nothing to undo
	out, err = read(ctx, tx)
	if err != nil {
		return out, err
	}
	return out, nil
}

// isClientError: the read found the request wrong, on any server.
func isClientError(err error) bool {
	var resync *ResyncRequired
	var bad *BadCursor
	return errors.As(err, &resync) || errors.As(err, &bad)
}

// pullFromReplica serves the page of c from a replica that holds what it
// needs (see above); served is false when none could.
func (s *Store) pullFromReplica(ctx context.Context, contractorID uuid.UUID, req PullRequest, c cursor) (*Page, bool, error) {
	return onReplica(ctx, s.replicas, opPull, func(ctx context.Context, tx pgx.Tx) (*Page, error) {
		clock, err := db.New(tx).ReplicaClock(ctx, contractorID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errReplicaBehind // a contractor the replica has not replayed yet
		}
		if err != nil {
			return nil, fmt.Errorf("replica clock: %w", err)
		}
		need := c.Base
		if c.Paging {
			need = c.Horizon
		}
		if clock.Seq < max(need, req.MinVersion) {
			return nil, errReplicaBehind
		}
		if err := c.stillKnown(clock.PurgedSeq, clock.PurgedAt, startedFrom(req)); err != nil {
			return nil, err
		}
		if !c.Paging {
			changed, err := changedTables(clock.TableSeqs, c.Base)
			if err != nil {
				return nil, err
			}
			c = c.startWalk(clock.Seq, walkTime(clock.SeqAt, c.Since), changed)
		}
		return s.walk(ctx, tx, contractorID, c, req.Limit)
	})
}

// walkTime is the time of a walk a replica serves, in Unix microseconds:
// seq_at, the time of the last push it holds; for a walk filtered by since,
// not before since, which the client keeps as the time it has seen
// everything before (a replica further behind than that would hand it back
// an earlier one, and the device's next walk would start further back).
func walkTime(seqAt api.Timestamp, since int64) int64 {
	return max(seqAt.UnixMicro(), since)
}

// digestFromReplica computes the digest on a replica that has replayed at
// least the contractor's version on the primary when the request came: the
// figures a device compares its replica with are then never older than
// what it has pulled (as on the primary). That costs one read of the clock
// row on the primary, and moves the digest's scan of every row off it.
func (s *Store) digestFromReplica(ctx context.Context, contractorID uuid.UUID, want tableSet) (Digest, bool, error) {
	if len(s.replicas.Candidates()) == 0 {
		return Digest{}, false, nil
	}
	primary, err := db.New(s.pool).PeekClock(ctx, contractorID)
	if err != nil {
		return Digest{}, false, nil // the primary's own path reports it
	}
	return onReplica(ctx, s.replicas, opDigest, func(ctx context.Context, tx pgx.Tx) (Digest, error) {
		q := db.New(tx)
		clock, err := q.ReplicaClock(ctx, contractorID)
		if errors.Is(err, pgx.ErrNoRows) {
			return Digest{}, errReplicaBehind
		}
		if err != nil {
			return Digest{}, fmt.Errorf("replica clock: %w", err)
		}
		if clock.Seq < primary.Seq {
			return Digest{}, errReplicaBehind
		}
		return digestAt(ctx, q, contractorID, want, clock.Seq, clock.SeqAt)
	})
}
