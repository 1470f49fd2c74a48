package sim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Config configures a Server. The zero value is usable: New fills the defaults documented on
// each field. Rates documented as "0 means default, negative means none" follow that rule
// because their venue-faithful default is not zero.
type Config struct {
	// Addr is the listen address. Default "127.0.0.1:0" (a random loopback port).
	Addr string
	// Seed selects the whole universe: markets, ids, books and event sequence.
	Seed int64
	// Markets is the number of markets at start. Default 100.
	Markets int
	// Rate is the number of event messages per second over all markets. Default 1000.
	Rate float64
	// Tick is the generation step: every Tick, Rate*Tick messages are generated and the
	// virtual clock advances by Tick. Whole milliseconds, >= 1ms. Default 10ms.
	Tick time.Duration
	// Manual disables the wall-clock driver: events are generated only by Step. For
	// deterministic tests.
	Manual bool
	// Epoch is the virtual time of tick 0 (timestamps, end dates). Default: time.Now() at New,
	// truncated to the millisecond. Set it for byte-identical runs.
	Epoch time.Time
	// ChurnPerMinute is how many markets expire (closed flips to true) and how many new ones
	// appear per minute of virtual time. Default 0 (no churn: end dates are weeks away).
	ChurnPerMinute float64
	// ResolvedDropRate is the probability that a market_resolved message is not sent at all
	// when a market closes (the venue's delivery is unreliable). Default 0.
	ResolvedDropRate float64
	// NoBookEvery makes every Nth market enableOrderBook=false (no book on the WS; clients
	// must filter). Default 50; negative means none.
	NoBookEvery int
	// OmitTypeRate is the probability that a book, price_change, last_trade_price or
	// tick_size_change message has no event_type key (as some venue frames). 0 means 0.05,
	// negative means none.
	OmitTypeRate float64
	// BuysSellsRate is the probability that a book uses buys/sells instead of bids/asks.
	// 0 means 0.02, negative means none.
	BuysSellsRate float64
	// MaxBatch is the largest number of messages packed in one array frame. Default 4; 1
	// sends every message as its own object frame.
	MaxBatch int
	// MaxQueueBytes bounds each socket's unsent bytes. A socket whose client reads too slowly
	// to stay under it is dropped (TCP closed, counted as a slow-consumer close), as a venue
	// does. Default 64 MiB.
	MaxQueueBytes int
	// WriteTimeout bounds one socket write; a socket whose write times out is dropped.
	// Default 5s.
	WriteTimeout time.Duration
	// IdleTimeout closes a socket that sends nothing (no PING, no subscribe) for this long,
	// as the venue drops sockets without keepalive. Default 15s; negative disables.
	IdleTimeout time.Duration
	// Faults are the injected faults at start; change them at run time with SetFaults.
	Faults Faults
	// Logger receives lifecycle logs (never per event). Default: discard.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Markets == 0 {
		c.Markets = 100
	}
	if c.Rate == 0 {
		c.Rate = 1000
	}
	if c.Tick == 0 {
		c.Tick = 10 * time.Millisecond
	}
	if c.Epoch.IsZero() {
		c.Epoch = time.Now().Truncate(time.Millisecond)
	}
	if c.NoBookEvery == 0 {
		c.NoBookEvery = 50
	}
	c.OmitTypeRate = rateDefault(c.OmitTypeRate, 0.05)
	c.BuysSellsRate = rateDefault(c.BuysSellsRate, 0.02)
	if c.MaxBatch == 0 {
		c.MaxBatch = 4
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = 64 << 20
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var errs []error
	if c.Markets < 0 {
		errs = append(errs, fmt.Errorf("markets must be >= 0, got %d", c.Markets))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate must be >= 0, got %v", c.Rate))
	}
	if c.Tick < time.Millisecond || c.Tick%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("tick must be a whole number of milliseconds >= 1ms, got %v", c.Tick))
	}
	if c.ChurnPerMinute < 0 {
		errs = append(errs, fmt.Errorf("churn must be >= 0, got %v", c.ChurnPerMinute))
	}
	if c.ResolvedDropRate < 0 || c.ResolvedDropRate > 1 {
		errs = append(errs, fmt.Errorf("resolved drop rate must be in [0,1], got %v", c.ResolvedDropRate))
	}
	if c.OmitTypeRate > 1 || c.BuysSellsRate > 1 {
		errs = append(errs, errors.New("omit-type and buys/sells rates must be <= 1"))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("max batch must be >= 1, got %d", c.MaxBatch))
	}
	if c.MaxQueueBytes < 1<<16 {
		errs = append(errs, fmt.Errorf("max queue bytes must be >= 65536, got %d", c.MaxQueueBytes))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write timeout must be > 0, got %v", c.WriteTimeout))
	}
	if err := c.Faults.fill(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot use config: %w", errors.Join(errs...))
	}
	return nil
}

func rateDefault(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
