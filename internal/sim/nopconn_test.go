package sim

import (
	"net"
	"time"

	"github.com/lxzan/gws"
)

// nopConn stands in for a socket's TCP connection where a test drives subscribe directly.
type nopConn struct{ net.Conn }

func (nopConn) Close() error                     { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }
func (nopConn) Write(b []byte) (int, error)      { return len(b), nil }

// dialNoRead connects a client that never reads (no ReadLoop): a slow consumer.
func dialNoRead(s *Server, h gws.Event) (*gws.Conn, error) {
	conn, _, err := gws.NewClient(h, &gws.ClientOption{Addr: s.WSURL()})
	return conn, err
}
