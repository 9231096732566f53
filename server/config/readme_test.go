package config

import (
	"os"
	"strings"
	"testing"
)

// The README's configuration table is what operators read: every variable
// Load understands must be there, with its default.
func TestREADME_DocumentsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, v := range Vars {
		def := v.Default
		if !strings.HasPrefix(def, "(") {
			def = "`" + def + "`"
		}
		row := "| `" + v.Name + "` | " + def + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md lacks the row %q", row)
		}
	}
}
