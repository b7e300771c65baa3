package rooms

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// modulePath is this module's import path.
const modulePath = "github.com/sanctuary-sfu/sanctuary"

// TestStandardLibraryOnly fails if rooms depends, directly or not, on
// anything but the standard library: no pion, no websocket, and no other
// package of this module.
func TestStandardLibraryOnly(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s: %v", root, err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "./rooms")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps ./rooms: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps ./rooms: %v", err)
	}
	deps := strings.Fields(string(out))
	self := modulePath + "/rooms"
	if len(deps) == 0 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps ./rooms did not list %s last:\n%s", self, out)
	}
	for _, dep := range deps {
		if dep == self {
			continue
		}
		first, _, _ := strings.Cut(dep, "/")
		if strings.Contains(first, ".") || dep == modulePath || strings.HasPrefix(dep, modulePath+"/") {
			t.Errorf("rooms depends on %s: only the standard library is allowed", dep)
		}
	}
}
