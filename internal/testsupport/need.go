// Package testsupport holds what every package's tests share: the rule for
// a test that needs a real service, and the one test database opener.
package testsupport

import (
	"os"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// service is a broken environment, never a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need returns the value of the environment variable that points a test at
// a real service (what names it for the message). When the variable is
// empty the test skips, or fails under CI=true.
func Need(t testing.TB, what, envVar string) string {
	t.Helper()
	v := os.Getenv(envVar)
	NeedService(t, what+" ("+envVar+")", v != "")
	return v
}

// NeedService skips the test when ok is false (what names the missing
// service), or fails it under CI=true.
func NeedService(t testing.TB, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("%s is not configured, and CI=true needs it (run scripts/testenv.sh up and eval its env)", what)
	}
	t.Skipf("%s is not configured; run scripts/testenv.sh up and eval \"$(scripts/testenv.sh env)\"", what)
}
