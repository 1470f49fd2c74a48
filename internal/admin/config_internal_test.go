package admin

import "testing"

func TestIsLoopback(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:9090": true,
		"127.0.0.2:1":    true,
		"[::1]:9090":     true,
		"localhost:9090": true,
		":9090":          false, // every interface
		"0.0.0.0:9090":   false,
		"[::]:9090":      false,
		"10.1.2.3:9090":  false,
		"admin.lan:9090": false, // a name could resolve anywhere
		"garbage":        false,
	}
	for addr, want := range tests {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v; want %v", addr, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != DefaultAddr || c.ReadHeaderTimeout != DefaultReadHeaderTimeout || c.ReadTimeout != DefaultReadTimeout ||
		c.WriteTimeout != DefaultWriteTimeout || c.IdleTimeout != DefaultIdleTimeout ||
		c.MaxHeaderBytes != DefaultMaxHeaderBytes || c.MaxProfileDuration != DefaultMaxProfileDuration ||
		c.Logger == nil || c.Now == nil {
		t.Errorf("Config{}.withDefaults() = %+v; want every default filled", c)
	}
	if !isLoopback(c.Addr) {
		t.Errorf("default Addr %q is not loopback", c.Addr)
	}
}
