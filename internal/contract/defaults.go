package contract

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// defaultPattern finds "Default false." or "; default USD." in a description:
// the spec writes the server's column defaults in prose.
var defaultPattern = regexp.MustCompile(`(?i)(?:^|[.;]\s*)default ([^\s.;][^;]*?)\.?\s*$`)

// Default is the server's default of a write property, the value a new row
// gets when a push leaves the column out (or sends null): the `default`
// keyword, else the description's "Default X." (X is the text itself for a
// string property, else JSON). The generators read it (the upsert's
// COALESCE, the Swift replica's local default) and check-db holds it to
// the column's default in the migrations.
func Default(schema *openapi3.Schema) (value any, ok bool) {
	if schema == nil {
		return nil, false
	}
	if schema.Default != nil {
		return schema.Default, true
	}
	match := defaultPattern.FindStringSubmatch(strings.TrimSpace(schema.Description))
	if match == nil {
		return nil, false
	}
	text := strings.TrimSpace(match[1])
	if strings.HasPrefix(WireType(schema), "string") {
		return text, true
	}
	if err := json.Unmarshal([]byte(text), &value); err != nil {
		return nil, false
	}
	return value, true
}
