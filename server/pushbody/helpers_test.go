package pushbody_test

import (
	"testing"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/contract"
	"github.com/syncproxy/syncproxy/server/pushbody"
)

// compileSpec compiles the decoder from the spec embedded in this build.
func compileSpec(tb testing.TB, limits ...pushbody.Limits) *pushbody.Decoder {
	tb.Helper()
	doc, err := api.GetSwagger()
	if err != nil {
		tb.Fatal(err)
	}
	l := pushbody.Limits{MaxRows: 10000, MaxJSONValueBytes: 1 << 20}
	if len(limits) > 0 {
		l = limits[0]
	}
	dec, err := pushbody.Compile(contract.FromDoc(doc), l)
	if err != nil {
		tb.Fatal(err)
	}
	return dec
}

// specTables are the synced tables of the spec embedded in this build.
func specTables(tb testing.TB) []contract.Table {
	tb.Helper()
	doc, err := api.GetSwagger()
	if err != nil {
		tb.Fatal(err)
	}
	tables, err := contract.FromDoc(doc).Tables()
	if err != nil {
		tb.Fatal(err)
	}
	return tables
}
