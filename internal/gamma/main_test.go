package gamma

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: clients close their idle
// connections and servers their handlers through t.Cleanup.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
