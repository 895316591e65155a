package pipeline

import (
	"strings"
	"testing"
)

func TestTwoProcessesCannotRunAsTheSameInstance(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockInstance(dir, RoleTransform, "host-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockInstance(dir, RoleTransform, "host-a"); err == nil || !strings.Contains(err.Error(), "--instance-id") {
		t.Errorf("second lock of the same instance: %v; want an error that says to set --instance-id", err)
	}
	other, err := lockInstance(dir, RoleSink, "host-a")
	if err != nil {
		t.Errorf("another role on the same instance id: %v", err)
	} else {
		other()
	}
	unlock()
	again, err := lockInstance(dir, RoleTransform, "host-a")
	if err != nil {
		t.Errorf("lock after unlock: %v", err)
	} else {
		again()
	}
	if id := instanceIDFromHost(); id == "" || strings.ContainsAny(id, "/ ") {
		t.Errorf("instance id from host %q", id)
	}
}
