package main

import (
	"errors"
	"strings"
	"testing"
)

// TestClusterFlags: --cluster needs a real NATS (--nats-url), publishing and
// the lifecycle; the cluster flags need --cluster; the default member id is
// stable (host name and admin port).
func TestClusterFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"--cluster=a"}, "needs --nats-url"},
		{[]string{"--cluster=a", "--nats-url=nats://127.0.0.1:4222", "--publish=false"}, "needs publishing"},
		{[]string{"--cluster=a", "--nats-url=nats://127.0.0.1:4222", "--enable-lifecycle=false"}, "needs the lifecycle"},
		{[]string{"--cluster=a", "--nats-url=nats://127.0.0.1:4222", "--replicas=0"}, "invalid --replicas"},
		{[]string{"--replicas=2"}, "no effect without --cluster"},
		{[]string{"--cluster-id=x"}, "no effect without --cluster"},
		{[]string{"--cluster=a", "--nats-url=nats://127.0.0.1:4222,nats://127.0.0.1:4223", "--replicas=2"}, ""},
	} {
		o, err := parseConfig(tt.args, env())
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case tt.want != "" && (err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: err %v; want a usage error with %q", tt.args, err, tt.want)
		case tt.want == "" && !strings.HasSuffix(o.Cluster.ID, "-9090"):
			t.Errorf("%v: default member id %q; want the host name and admin port", tt.args, o.Cluster.ID)
		}
	}
}
