package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/publish"
)

// streamOptions are the settings of the NATS stream (docs/STREAM.md).
type streamOptions struct {
	Publish  bool
	URL      string // "" = embedded server
	Listen   string // embedded listener; "" = in-process only
	DataDir  string
	Memory   bool
	Prefix   string
	Creds    string
	TLSCA    string
	TLSCert  string
	TLSKey   string
	external bool // URL set

	gate     publish.Gate // set by run with --cluster
	replicas int          // streams' replicas; 0: the publisher's default
}

const natsStopTimeout = 10 * time.Second

func defineStreamFlags(fs *flag.FlagSet, o *streamOptions) {
	fs.BoolVar(&o.Publish, "publish", true, "stream the books to NATS JetStream (docs/STREAM.md)")
	fs.StringVar(&o.URL, "nats-url", "", "NATS server(s) to publish to, comma-separated nats://host:port; empty starts an embedded server")
	fs.StringVar(&o.Listen, "nats-listen", natsd.DefaultListen, "embedded NATS server's client address; empty: in-process only")
	fs.StringVar(&o.DataDir, "data-dir", "./"+natsd.DefaultDataDir, "embedded NATS server's JetStream storage directory")
	fs.BoolVar(&o.Memory, "nats-memory", false, "keep the streams in memory instead of on disk")
	fs.StringVar(&o.Prefix, "nats-prefix", publish.DefaultPrefix, "subject prefix (one token: letters, digits, _ or -); upper-cased it names the streams")
	fs.StringVar(&o.Creds, "nats-creds", "", "with --nats-url: NATS credentials file")
	fs.StringVar(&o.TLSCA, "nats-tls-ca", "", "with --nats-url: CA certificate file to verify the servers")
	fs.StringVar(&o.TLSCert, "nats-tls-cert", "", "with --nats-url: client certificate file (with --nats-tls-key)")
	fs.StringVar(&o.TLSKey, "nats-tls-key", "", "with --nats-url: client key file (with --nats-tls-cert)")
}

// checkStream validates the stream settings; set, name and bad are
// parseConfig's helpers.
func checkStream(o *streamOptions, set map[string]bool, name func(string) string, bad func(flag, format string, a ...any) error) error {
	if err := publish.CheckPrefix(o.Prefix); err != nil {
		return bad("nats-prefix", "%v", err)
	}
	o.external = o.URL != ""
	if o.external {
		for _, u := range strings.Split(o.URL, ",") {
			if err := checkURL(strings.TrimSpace(u), "nats", "tls", "ws", "wss"); err != nil {
				return bad("nats-url", "%v", err)
			}
		}
		for _, f := range []string{"nats-listen", "data-dir"} {
			if set[f] {
				return usagef("%s conflicts with %s (no server is started)", name(f), name("nats-url"))
			}
		}
	} else {
		for _, f := range []string{"nats-creds", "nats-tls-ca", "nats-tls-cert", "nats-tls-key"} {
			if set[f] {
				return usagef("%s has no effect without --nats-url", name(f))
			}
		}
		if o.Listen != "" {
			if err := checkAddr(o.Listen); err != nil {
				return bad("nats-listen", "%v", err)
			}
		}
		if o.DataDir == "" && !o.Memory {
			return bad("data-dir", "empty, want a directory (or --nats-memory)")
		}
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return usagef("--nats-tls-cert and --nats-tls-key go together")
	}
	return nil
}

// stream is the running NATS side: an embedded server (or none), the
// connection and the publisher.
type stream struct {
	srv *natsd.Server // nil with --nats-url
	nc  *nats.Conn
	pub *publish.Publisher
	log *slog.Logger
}

// startStream starts the embedded server (without --nats-url), connects,
// and starts the publisher for workers engine workers. On error, whatever
// was started is stopped.
func startStream(ctx context.Context, o streamOptions, workers int, log *slog.Logger) (_ *stream, err error) {
	s := &stream{log: log}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	opts := []nats.Option{
		nats.Name("polyfeed"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
	}
	url := o.URL
	if !o.external {
		srv, err := natsd.New(natsd.Config{Listen: o.Listen, DataDir: o.DataDir, Memory: o.Memory, Logger: log})
		if err != nil {
			return nil, err
		}
		if err := timed(log, "start", "nats-server", func() error { return srv.Start(ctx) }); err != nil {
			return nil, err
		}
		s.srv = srv
		url = srv.ClientURL()
		// The publisher talks to the embedded server over an in-process
		// pipe, with no system call or poller wake-up per write; the
		// listener is for the consumers. Side by side this took 3-14 %
		// off polyfeed's CPU at 2,000 msg/s (PERFORMANCE.md §7).
		if s.nc, err = srv.LocalConn(opts...); err != nil {
			return nil, fmt.Errorf("cannot connect to embedded NATS: %w", err)
		}
	} else {
		if o.Creds != "" {
			opts = append(opts, nats.UserCredentials(o.Creds))
		}
		if o.TLSCA != "" {
			opts = append(opts, nats.RootCAs(o.TLSCA))
		}
		if o.TLSCert != "" {
			opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
		}
		if s.nc, err = nats.Connect(o.URL, opts...); err != nil {
			return nil, fmt.Errorf("cannot connect to NATS %s: %w", o.URL, err)
		}
	}
	storage := jetstream.FileStorage
	if o.Memory {
		storage = jetstream.MemoryStorage
	}
	s.pub, err = publish.New(publish.Config{Conn: s.nc, Prefix: o.Prefix, Workers: workers, Storage: storage,
		Gate: o.gate, Replicas: o.replicas, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := timed(log, "start", "publisher", func() error { return s.pub.Start(ctx) }); err != nil {
		s.pub = nil
		return nil, err
	}
	if url == "" {
		url = "in-process"
	}
	log.Info("streaming the books", "nats", url, "prefix", o.Prefix,
		"streams", publish.EventsStream(o.Prefix)+","+publish.BooksStream(o.Prefix), "contract", "docs/STREAM.md v1")
	return s, nil
}

// stop stops the publisher (after the engine), closes the connection and
// stops the embedded server.
func (s *stream) stop() error {
	var err error
	if s.pub != nil {
		ctx, cancel := context.WithTimeout(context.Background(), publish.DefaultStopTimeout+time.Second)
		err = timed(s.log, "stop", "publisher", func() error { return s.pub.Stop(ctx) })
		cancel()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), natsStopTimeout)
		if e := timed(s.log, "stop", "nats-server", func() error { return s.srv.Stop(ctx) }); e != nil && err == nil {
			err = e
		}
		cancel()
	}
	return err
}

// streamHealth shows the embedded server's JetStream in /healthz detail.
// A stream down for a full disk does not make the process unhealthy: the
// books are still right, and natsd restarts JetStream once there is room.
func streamHealth(st *stream) func() map[string]string {
	if st == nil || st.srv == nil {
		return nil
	}
	return func() map[string]string {
		if st.srv.Stats().JetStreamDown {
			return map[string]string{"stream": "down: JetStream cannot write (disk full?); restarting it when there is room"}
		}
		return map[string]string{"stream": "ok"}
	}
}

// healthDetail merges the detail functions that are set.
func healthDetail(fs ...func() map[string]string) func() map[string]string {
	var set []func() map[string]string
	for _, f := range fs {
		if f != nil {
			set = append(set, f)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return func() map[string]string {
		out := map[string]string{}
		for _, f := range set {
			for k, v := range f() {
				out[k] = v
			}
		}
		return out
	}
}
