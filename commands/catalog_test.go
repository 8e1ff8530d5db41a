package commands_test

import (
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

func TestCheckVersion(t *testing.T) {
	for _, tt := range []struct {
		version     string
		refused     bool
		warns       bool
		messageSays string
	}{
		{"2.5.3", true, false, "2.6.0 to the newest 3.x"},
		{"1.10.15", true, false, "2.6.0 to the newest 3.x"},
		{"4.0.0", true, false, "2.6.0 to the newest 3.x"},
		{"not a version", true, false, "cannot read"},
		{"2.6.0", false, false, ""},
		{"2.6.0rc1", false, false, ""},
		{"2.10.5", false, false, ""},
		{"2.11.2", false, false, ""},
		{"3.0.6", false, false, ""},
		{commands.NewestTested, false, false, ""},
		{"3.3.3", false, true, "newer than " + commands.NewestTested},
		{"3.9.0.dev0", false, true, "newer than " + commands.NewestTested},
	} {
		warning, err := commands.CheckVersion(tt.version)
		switch {
		case tt.refused && err == nil:
			t.Errorf("CheckVersion(%q) let it run; want it refused", tt.version)
		case !tt.refused && err != nil:
			t.Errorf("CheckVersion(%q): %v", tt.version, err)
		case tt.warns != (warning != ""):
			t.Errorf("CheckVersion(%q) warned %q; want a warning: %v", tt.version, warning, tt.warns)
		case tt.messageSays != "" && !strings.Contains(warning+errString(err), tt.messageSays):
			t.Errorf("CheckVersion(%q) says %q%v; want it to say %q", tt.version, warning, err, tt.messageSays)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
