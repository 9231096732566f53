package syncstore

// dedupeLastWins keeps, for every key, only the last row with that key, in the
// order of their last occurrence, and says how many rows it dropped. Postgres
// rejects an INSERT ... ON CONFLICT DO UPDATE that touches one row twice
// ("cannot affect row a second time"), so no batch reaches it undeduplicated.
func dedupeLastWins[T any, K comparable](rows []T, key func(T) K) (kept []T, dropped int) {
	last := make(map[K]int, len(rows))
	for i, r := range rows {
		last[key(r)] = i
	}
	if len(last) == len(rows) {
		return rows, 0
	}
	kept = make([]T, 0, len(last))
	for i, r := range rows {
		if last[key(r)] == i {
			kept = append(kept, r)
		}
	}
	return kept, len(rows) - len(kept)
}
