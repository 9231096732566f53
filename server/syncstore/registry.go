package syncstore

import (
	"fmt"
	"strings"
)

// CheckRegistry says whether decoded, the tables of the push decoder by
// ordinal, are the registry's. Both come from openapi.yaml, the registry
// when it was generated and the decoder from the spec embedded in the
// binary, so they differ only in a build whose generated files are stale;
// a push relies on them agreeing (the decoder's i-th table is the
// registry's i-th), so the server checks it once, at start.
func CheckRegistry(decoded []string) error {
	registry := make([]string, len(tables))
	for i, t := range tables {
		registry[i] = t.name
	}
	if strings.Join(decoded, ",") != strings.Join(registry, ",") {
		return fmt.Errorf("the spec's tables are %s, the generated registry's %s: run make generate",
			strings.Join(decoded, ", "), strings.Join(registry, ", "))
	}
	return nil
}
