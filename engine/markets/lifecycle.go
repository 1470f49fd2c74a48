package markets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/internal/fill"
	"github.com/polyfeed/polyfeed/internal/gamma"
	"github.com/polyfeed/polyfeed/internal/runner"
)

// Expiry reasons, as counted in Stats.ExpiredBy. Stable strings, fit for metric labels.
const (
	ExpiryEndDate     = "end_date"    // EndDate (+ ExpiryGrace) passed
	ExpiryClosed      = "closed"      // absent from a complete Gamma listing, or listed closed
	ExpiryArchived    = "archived"    // listed with archived=true
	ExpiryResolved    = "resolved"    // market_resolved notice from the socket
	ExpiryUnconfirmed = "unconfirmed" // announced by the socket, never listed by Gamma
)

// lister lists the open markets; *gamma.Client implements it. A non-nil error means the
// list is incomplete (possibly empty) but what it holds is valid.
type lister interface {
	ListActive(ctx context.Context) ([]gamma.Market, gamma.DiscoverStats, error)
}

// unsubscriber unsubscribes expired assets in place; *venue.Pool implements it.
type unsubscriber interface {
	Unsubscribe(ids []string) error
}

// bookDropper forgets the books of removed assets; the data path implements it.
type bookDropper interface {
	DropBooks(assetIDs []string)
}

// Config configures a Lifecycle. Zero fields take the documented defaults in
// New.
type Config struct {
	// Tap sees every listing (see ListingTap). Optional.
	Tap ListingTap
	// Gamma configures the Gamma client: BaseURL (default gamma.DefaultBaseURL), retries,
	// timeouts, page size. Its Logger defaults to Logger.
	Gamma gamma.Config
	// DiscoveryInterval is the time between two Gamma listings. Default 60 s. The first
	// listing runs as soon as the lifecycle starts.
	DiscoveryInterval time.Duration
	// ExpiryInterval is the time between two end-date checks. Default 30 s.
	ExpiryInterval time.Duration
	// ExpiryGrace is added to a market's EndDate before it counts as ended: the venue often
	// keeps trading past the scheduled end, and Gamma's end dates move. A market Gamma lists
	// as closed, or one the socket reports resolved, expires at once regardless. Default
	// DefaultExpiryGrace (15 min); a negative value means none.
	ExpiryGrace time.Duration
	// SuspectExpiryShare: a complete listing that would expire more than this share of the
	// live markets for their absence (or that is empty while markets are live) is suspect:
	// nothing is expired on it, and it is counted and logged. A listing may always miss one
	// market, so small deployments can still lose one. Default DefaultSuspectExpiryShare
	// (0.10); values above 1 disable the check.
	SuspectExpiryShare float64
	// CleanupInterval is the time between two cleanups. Default 60 s.
	CleanupInterval time.Duration
	// CleanupGrace is how long an expired asset stays in the registry and keeps its final
	// book (readable, and counted in its connection's pollution) before both are removed.
	// Default 1 h.
	CleanupGrace time.Duration
	// ConfirmGrace: a market announced by a new_market notice and never listed by Gamma is
	// expired once a complete listing misses it after this long. Default 2 ×
	// DiscoveryInterval (the venue's listing lags its socket).
	ConfirmGrace time.Duration
	// UnsubscribeExpired: expired assets are unsubscribed in place with a live unsubscribe
	// operation, so they stop polluting their connection. Nil means true; set it to a false
	// value to leave them subscribed until the recycler replaces the connection.
	UnsubscribeExpired *bool
	// EventQueue is the capacity of the queue of socket market notices (OnMarketEvent).
	// Default 256: a wave of market creations arrives in bursts, and an overflow only delays
	// a market until the next discovery (Gamma is the source of truth), so notices beyond it
	// are dropped and counted.
	EventQueue int
	// OnNewMarket is called for each market that starts being tracked, OnMarketExpired for
	// each market that expires. Both run on the lifecycle goroutine, never under a lock, one
	// call at a time; they must not block for long (discovery and expiry wait for them).
	OnNewMarket     func(Market)
	OnMarketExpired func(Market)
	// Ownership, when set, limits which tracked markets are carried (see
	// ownership.go). Nil: every market is carried.
	Ownership Ownership
	// Now is the clock compared with end dates and grace periods. Default time.Now.
	Now func() time.Time
	// Logger receives discovery and expiry summaries, never one line per asset. Default:
	// discard.
	Logger *slog.Logger
}

// Defaults of the knobs the operator sets by flag.
const (
	DefaultDiscoveryInterval  = 60 * time.Second
	DefaultExpiryInterval     = 30 * time.Second
	DefaultExpiryGrace        = 15 * time.Minute
	DefaultCleanupGrace       = time.Hour
	DefaultSuspectExpiryShare = 0.10
)

// absentListings is how many consecutive complete listings must miss a market before it
// expires for its absence: one listing that silently lost part of the set costs nothing.
const absentListings = 2

func (c *Config) fill() {
	fill.Positive(&c.DiscoveryInterval, DefaultDiscoveryInterval)
	fill.Positive(&c.ExpiryInterval, DefaultExpiryInterval)
	switch {
	case c.ExpiryGrace == 0:
		c.ExpiryGrace = DefaultExpiryGrace
	case c.ExpiryGrace < 0:
		c.ExpiryGrace = 0
	}
	fill.Positive(&c.SuspectExpiryShare, DefaultSuspectExpiryShare)
	fill.Positive(&c.CleanupInterval, 60*time.Second)
	fill.Positive(&c.CleanupGrace, DefaultCleanupGrace)
	fill.Positive(&c.ConfirmGrace, 2*c.DiscoveryInterval)
	if c.UnsubscribeExpired == nil {
		t := true
		c.UnsubscribeExpired = &t
	}
	fill.Positive(&c.EventQueue, 256)
	fill.Clock(&c.Now)
	fill.Logger(&c.Logger)
}

// Stats is a point-in-time view of the lifecycle controller.
type Stats struct {
	// Markets is the number of live (not expired) markets tracked; Assets their assets.
	Markets int `json:"markets"`
	Assets  int `json:"assets"`
	// Discoveries counts listings attempted; FailedDiscoveries those that returned an error
	// (PartialDiscoveries of which still returned markets). Discovered is the number of
	// markets in the last listing.
	Discoveries        uint64 `json:"discoveries"`
	FailedDiscoveries  uint64 `json:"failed_discoveries"`
	PartialDiscoveries uint64 `json:"partial_discoveries"`
	Discovered         int    `json:"discovered"`
	// NewMarkets counts markets that started being tracked (from Gamma, the socket or
	// AddMarket); Confirmed counts socket or manual markets later listed by Gamma.
	NewMarkets uint64 `json:"new_markets"`
	Confirmed  uint64 `json:"confirmed"`
	// ExpiredMarkets counts markets that expired, by reason in ExpiredBy; ExpiredAssets and
	// RemovedAssets count assets marked expired and removed after CleanupGrace.
	ExpiredMarkets uint64            `json:"expired_markets"`
	ExpiredAssets  uint64            `json:"expired_assets"`
	RemovedAssets  uint64            `json:"removed_assets"`
	ExpiredBy      map[string]uint64 `json:"expired_by"`
	// APIErrors counts failed Gamma HTTP attempts (retries included).
	APIErrors uint64 `json:"api_errors"`
	// Notices counts socket market notices accepted; NoticesDropped those lost to a full
	// queue.
	Notices        uint64 `json:"notices"`
	NoticesDropped uint64 `json:"notices_dropped"`
	// SuspectListings counts listings that looked cut short (empty, a keyset page without
	// its cursor, or one that would expire more than SuspectExpiryShare of the live
	// markets): nothing was expired on them. AbsentOnce is the number of live markets the
	// last complete listing missed for the first time: they expire if the next one misses
	// them too.
	SuspectListings uint64 `json:"suspect_listings"`
	AbsentOnce      int    `json:"absent_once"`
	// RetrackedMarkets counts expired markets Gamma listed as open again (end date in the
	// future or none): they were tracked and subscribed again.
	RetrackedMarkets uint64 `json:"retracked_markets"`
	// ExpiriesDeferred counts markets past their end date that were kept for ExpiryGrace
	// (each counted once).
	ExpiriesDeferred uint64 `json:"expiries_deferred"`
	// Settings are the operator's knobs in force (see Config).
	Settings Settings `json:"settings"`
	// UnsubscribeErrors counts failed in-place unsubscribes (the recycler's pollution trigger
	// then cleans the connection).
	UnsubscribeErrors uint64 `json:"unsubscribe_errors"`
	// LastDiscovery is when the last listing started; LastDiscoveryDuration how long it took;
	// LastDiscoveryError its error ("" on success).
	LastDiscovery         time.Time     `json:"last_discovery"`
	LastDiscoveryDuration time.Duration `json:"last_discovery_duration_ns"`
	LastDiscoveryError    string        `json:"last_discovery_error,omitempty"`
}

// Settings are the lifecycle's knobs as filled in, for /stats.
type Settings struct {
	DiscoveryInterval  string  `json:"discovery_interval"`
	ExpiryInterval     string  `json:"expiry_interval"`
	ExpiryGrace        string  `json:"expiry_grace"`
	CleanupGrace       string  `json:"cleanup_grace"`
	SuspectExpiryShare float64 `json:"suspect_expiry_share"`
}

// origin is who first told the lifecycle about a market.
type origin uint8

const (
	fromGamma origin = iota
	fromSocket
	fromManual
)

// tracked is one tracked market. Guarded by Lifecycle.mu.
type tracked struct {
	m         Market
	origin    origin
	confirmed bool      // listed by Gamma at least once
	addedAt   time.Time // when it started being tracked
	expired   bool
	expiredAt time.Time
	expiredBy string // the reason, one of the Expiry* constants
	// missed counts the consecutive complete listings that did not list the market.
	missed int
	// deferred: past its end date, kept for ExpiryGrace (counted once).
	deferred bool
	parked   bool // known but not carried: Config.Ownership refused it
	// cleaned: its registry entries were removed after CleanupGrace. The market itself is
	// kept as a tombstone while Gamma still lists it (end date passed, not closed yet), so
	// the next discovery does not add it again.
	cleaned bool
}

// notice is a socket market notice, as queued.
type notice struct {
	resolved       bool
	id, cond       string
	question, slug string
	assets         []string
	outcomes       []string
}

// effects are the side effects of one step, run by the lifecycle goroutine after Lifecycle.mu
// is released: socket writes may block up to a write timeout, and callbacks must never run
// under a lock.
type effects struct {
	unsub   []string
	drop    []string
	revive  []Market // expired markets tracked again: books dropped, then assets PENDING
	added   []Market
	expired []Market
}

func (e *effects) empty() bool {
	return len(e.unsub) == 0 && len(e.drop) == 0 && len(e.revive) == 0 && len(e.added) == 0 && len(e.expired) == 0
}

// Lifecycle keeps the registry's set of assets equal to the venue's open markets: it registers
// the assets of new markets as PENDING (the pool subscribes them), expires the assets of ended,
// closed and resolved markets (unsubscribing them in place), and removes expired assets and
// their books after CleanupGrace.
//
// Sources. Gamma is the source of truth and is listed every DiscoveryInterval. Socket notices
// (new_market, market_resolved) only make the lifecycle react sooner: a new_market registers
// its assets at once and must be confirmed by a later listing; market_resolved expires at once.
// A listing that failed or was cut short never expires anything: absence from a partial list
// proves nothing. Neither does a suspect one: empty while markets are live, or missing more
// than SuspectExpiryShare of them. A tracked market expires for its absence only when two
// consecutive complete listings miss it (Gamma omits closed markets); one listed closed ends at
// once. Expiry is not terminal: an expired market Gamma lists open again (end date ahead, or
// none) is tracked again, unless the socket reported it resolved.
//
// Gamma flags. archived=true is treated as closed (no new subscription; a tracked market
// expires): an archived market is hidden from the venue's listings and trades no more.
// acceptingOrders=false is not an expiry: trading is paused but the book exists and still
// changes (cancels), so the market stays subscribed. enableOrderBook=false markets are
// filtered by the Gamma client and never registered.
//
// Concurrency: every exported method is safe for concurrent use. Start launches one goroutine,
// owned by the Lifecycle and ended by Stop; discovery, expiry, cleanup, notice handling and
// every callback run on it. OnMarketEvent never blocks (the router calls it on its hot
// goroutine). AddMarket registers synchronously on the caller's goroutine and leaves its
// callback to the lifecycle goroutine.
type Lifecycle struct {
	cfg    Config
	reg    *assets.Registry
	lister lister
	pool   unsubscriber
	books  bookDropper
	log    *slog.Logger

	notices chan notice   // see Config.EventQueue
	wake    chan struct{} // 1-buffered: callbacks were queued off the lifecycle goroutine

	mu      sync.Mutex
	markets map[string]*tracked // by condition id
	later   effects             // queued by AddMarket for the lifecycle goroutine
	st      Stats
	suspect bool // the last listing was suspect: log the next one only when this changes

	noticesIn, noticesDropped atomic.Uint64

	idle func() // releases the Gamma client's idle connections at Stop; nil for a lister

	own ownState // Config.Ownership's bookkeeping (ownership.go)

	group runner.Group // owns run
}

// New returns a lifecycle controller that is not started yet, listing markets with a
// Gamma client built from cfg. reg must not be nil; pool is normally the *venue.Pool (nil: expired
// assets are not unsubscribed); books is the data path (nil: books are not dropped).
func New(cfg Config, reg *assets.Registry, pool unsubscriber, books bookDropper) (*Lifecycle, error) {
	gcfg := cfg.Gamma
	if gcfg.Logger == nil {
		gcfg.Logger = cfg.Logger
	}
	gc, err := gamma.New(gcfg)
	if err != nil {
		return nil, err // "cannot create gamma client: …" says it all
	}
	l := newWithLister(cfg, reg, gc, pool, books)
	l.idle = gc.CloseIdleConnections
	return l, nil
}

// newWithLister builds a lifecycle on any lister (nil: no discovery, only notices and
// AddMarket).
func newWithLister(cfg Config, reg *assets.Registry, lister lister, pool unsubscriber, books bookDropper) *Lifecycle {
	cfg.fill()
	if reg == nil {
		panic("markets: New needs a registry")
	}
	l := &Lifecycle{
		cfg:     cfg,
		reg:     reg,
		lister:  lister,
		pool:    pool,
		books:   books,
		log:     cfg.Logger,
		notices: make(chan notice, cfg.EventQueue),
		wake:    make(chan struct{}, 1),
		markets: make(map[string]*tracked),
	}
	l.st.ExpiredBy = make(map[string]uint64)
	l.st.Settings = Settings{
		DiscoveryInterval: cfg.DiscoveryInterval.String(), ExpiryInterval: cfg.ExpiryInterval.String(),
		ExpiryGrace: cfg.ExpiryGrace.String(), CleanupGrace: cfg.CleanupGrace.String(),
		SuspectExpiryShare: cfg.SuspectExpiryShare,
	}
	return l
}

// Start launches the lifecycle goroutine, which lists Gamma at once and then runs every
// interval until Stop. ctx only guards the call. Start may be called once.
func (l *Lifecycle) Start(ctx context.Context) error {
	return l.group.Start(ctx, l.run)
}

// Stop ends the lifecycle goroutine (an in-flight Gamma listing is cancelled) and waits for
// it, bounded by ctx. Callbacks queued but not yet run are dropped. Stop is idempotent; a
// Lifecycle never started stops at once.
func (l *Lifecycle) Stop(ctx context.Context) error {
	if !l.group.Stop() { // a stopped lifecycle cannot start
		return nil
	}
	if err := l.group.Wait(ctx); err != nil {
		return ctx.Err() // the caller names the lifecycle
	}
	if l.idle != nil {
		l.idle()
	}
	return nil
}

func (l *Lifecycle) run(ctx context.Context) {
	l.discover(ctx)
	disc := time.NewTicker(l.cfg.DiscoveryInterval)
	defer disc.Stop()
	exp := time.NewTicker(l.cfg.ExpiryInterval)
	defer exp.Stop()
	clean := time.NewTicker(l.cfg.CleanupInterval)
	defer clean.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-disc.C:
			l.discover(ctx)
		case <-exp.C:
			l.checkExpiry()
		case <-clean.C:
			l.cleanup()
		case n := <-l.notices:
			l.handleNotice(n)
		case <-l.wake:
			l.mu.Lock()
			eff := l.later
			l.later = effects{}
			l.mu.Unlock()
			l.apply(eff)
		}
	}
}

// AddMarket tracks a market by hand (for instance one the operator wants before Gamma lists
// it) and registers its assets as PENDING. It is expired by its end date, a market_resolved
// notice, or Gamma once Gamma has listed it, but never for being absent from Gamma before
// that. It returns an error for a market without a condition id or assets, or one already
// tracked.
func (l *Lifecycle) AddMarket(m Market) error {
	if m.ConditionID == "" || len(m.AssetIDs) == 0 || slices.Contains(m.AssetIDs, "") {
		return fmt.Errorf("cannot add market %q: need a condition id and non-empty asset ids", m.ID)
	}
	m.AssetIDs, m.Outcomes = slices.Clone(m.AssetIDs), slices.Clone(m.Outcomes)
	l.mu.Lock()
	if _, ok := l.markets[m.ConditionID]; ok {
		l.mu.Unlock()
		return fmt.Errorf("cannot add market %q: condition %s already tracked", m.ID, m.ConditionID)
	}
	l.trackLocked(m, fromManual, l.cfg.Now(), &l.later)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending; it takes these effects too
	}
	return nil
}

// Market returns a tracked market (live or expired but not yet forgotten).
func (l *Lifecycle) Market(conditionID string) (m Market, expired, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lm, ok := l.markets[conditionID]
	if !ok {
		return Market{}, false, false
	}
	return lm.m, lm.expired, true
}

// Stats returns a snapshot of the lifecycle's counters.
func (l *Lifecycle) Stats() Stats {
	l.mu.Lock()
	st := l.st
	st.ExpiredBy = make(map[string]uint64, len(l.st.ExpiredBy))
	for k, v := range l.st.ExpiredBy {
		st.ExpiredBy[k] = v
	}
	for _, lm := range l.markets {
		if !lm.expired {
			st.Markets++
			st.Assets += len(lm.m.AssetIDs)
		}
	}
	l.mu.Unlock()
	st.Notices = l.noticesIn.Load()
	st.NoticesDropped = l.noticesDropped.Load()
	return st
}

// OnMarketEvent takes a new_market or market_resolved notice from the socket.
// It never blocks: the router calls it on its own goroutine.
func (l *Lifecycle) OnMarketEvent(ev Event) {
	l.onNotice(notice{resolved: ev.Resolved, id: ev.ID, cond: ev.Market, question: ev.Question,
		slug: ev.Slug, assets: ev.AssetIDs, outcomes: ev.Outcomes})
}

// onNotice queues a socket notice without blocking; a full queue drops it (counted).
func (l *Lifecycle) onNotice(n notice) {
	select {
	case l.notices <- n:
		l.noticesIn.Add(1)
	default:
		l.noticesDropped.Add(1)
	}
}

// discover lists Gamma once and merges the result.
func (l *Lifecycle) discover(ctx context.Context) {
	if l.lister == nil {
		return
	}
	start := l.cfg.Now()
	wall := time.Now()
	markets, st, err := l.lister.ListActive(ctx)
	if ctx.Err() != nil {
		return // stopping: a cancelled listing is neither a failure nor a result
	}
	took := time.Since(wall)
	apiErrs := 0
	for _, n := range st.APIErrors {
		apiErrs += n
	}
	l.mu.Lock()
	l.st.Discoveries++
	l.st.Discovered = len(markets)
	l.st.APIErrors += uint64(apiErrs)
	l.st.LastDiscovery, l.st.LastDiscoveryDuration, l.st.LastDiscoveryError = start, took, ""
	if err != nil {
		l.st.FailedDiscoveries++
		l.st.LastDiscoveryError = err.Error()
		if len(markets) > 0 {
			l.st.PartialDiscoveries++
		}
	}
	var eff effects
	// A market Gamma listed but that could not be used (bad token ids) still
	// exists: it counts as listed. One whose condition id was unreadable could
	// be any market, so the listing proves no absence at all.
	complete := err == nil && st.UnusableUnknown == 0
	if l.cfg.Tap != nil && len(markets) > 0 { // tap: listing
		tapListing(l.cfg.Tap, markets, complete)
	}
	suspect := l.mergeLocked(markets, st.Unusable, st.Closed, complete, l.cfg.Now(), &eff)
	if errors.Is(err, gamma.ErrSuspect) {
		suspect = "gamma: " + err.Error()
	}
	if suspect != "" {
		l.st.SuspectListings++
	}
	first := suspect != "" && !l.suspect
	l.suspect = suspect != ""
	l.mu.Unlock()
	if first { // once per run of suspect listings: one outage is one line
		l.log.Warn("market listing suspect: nothing expired for absence", "markets", len(markets), "why", suspect)
	}
	if err != nil {
		l.log.Warn("market discovery incomplete: nothing expired for absence", "markets", len(markets), "err", err)
	} else if !complete {
		l.log.Warn("market discovery skipped unreadable markets: nothing expired for absence", "markets", len(markets), "unreadable", st.UnusableUnknown)
	}
	l.log.Debug("market discovery", "markets", len(markets), "new", len(eff.added),
		"expired", len(eff.expired), "complete", err == nil, "duration", took)
	l.apply(eff)
}

// mergeLocked folds one listing into the tracked markets; present are the
// condition ids of markets listed but not usable, which are not absent, and
// closed those of markets listed closed, which end at once. It
// returns why a complete listing is suspect ("" when it is not, or when it is
// incomplete anyway). l.mu held.
func (l *Lifecycle) mergeLocked(list []gamma.Market, present, closed []string, complete bool, now time.Time, eff *effects) (suspect string) {
	listed := make(map[string]struct{}, len(list)+len(present)+len(closed))
	for _, c := range present {
		listed[c] = struct{}{}
	}
	for _, c := range closed {
		listed[c] = struct{}{}
		if lm, ok := l.markets[c]; ok {
			l.expireLocked(lm, ExpiryClosed, now, eff)
		}
	}
	cutoff := now.Add(-l.cfg.ExpiryGrace)
	for i := range list {
		g := &list[i]
		listed[g.ConditionID] = struct{}{}
		lm, known := l.markets[g.ConditionID]
		if g.Closed || g.Archived {
			if known {
				l.expireLocked(lm, ifElse(g.Archived, ExpiryArchived, ExpiryClosed), now, eff)
			}
			continue
		}
		if !known {
			l.trackLocked(MarketFromGamma(*g), fromGamma, now, eff)
			l.markets[g.ConditionID].confirmed = true
			continue
		}
		lm.missed = 0
		if lm.expired {
			// Listed open again: an absence that was not a closure, or an end date that
			// moved. A resolved market stays resolved, and one whose end date (plus
			// grace) has passed would only expire again.
			if lm.expiredBy != ExpiryResolved && (g.EndDate.IsZero() || !g.EndDate.Before(cutoff)) {
				l.retrackLocked(lm, MarketFromGamma(*g), eff)
			}
			continue
		}
		if !lm.confirmed {
			lm.confirmed = true
			l.st.Confirmed++
		}
		// Gamma's metadata wins over a notice's, and end dates move (markets get extended).
		fresh := MarketFromGamma(*g)
		for _, id := range fresh.AssetIDs {
			if !slices.Contains(lm.m.AssetIDs, id) && (lm.parked || l.reg.Add(id, fresh.ConditionID, fresh.EndDate)) {
				lm.m.AssetIDs = append(lm.m.AssetIDs, id)
			}
		}
		fresh.AssetIDs = lm.m.AssetIDs
		if !fresh.EndDate.Equal(lm.m.EndDate) {
			lm.deferred = false
		}
		lm.m = fresh
	}
	if !complete {
		return ""
	}
	var absent []*tracked
	live := 0
	for cond, lm := range l.markets {
		if !lm.expired {
			live++
		}
		if _, ok := listed[cond]; ok {
			continue
		}
		switch {
		case lm.expired && lm.cleaned:
			delete(l.markets, cond) // gone from Gamma and from the registry: forget it
		case lm.expired:
		case lm.confirmed, lm.origin == fromSocket && now.Sub(lm.addedAt) >= l.cfg.ConfirmGrace:
			absent = append(absent, lm)
		}
	}
	switch {
	case len(list) == 0 && len(present) == 0 && len(closed) == 0 && live > 0:
		return fmt.Sprintf("empty listing while %d markets are live", live)
	case len(absent) > 1 && float64(len(absent)) > l.cfg.SuspectExpiryShare*float64(live):
		return fmt.Sprintf("listing misses %d of %d live markets (more than %.0f %%)", len(absent), live, 100*l.cfg.SuspectExpiryShare)
	}
	l.st.AbsentOnce = 0
	for _, lm := range absent {
		if lm.missed++; lm.missed < absentListings {
			l.st.AbsentOnce++
			continue
		}
		l.expireLocked(lm, ifElse(lm.confirmed, ExpiryClosed, ExpiryUnconfirmed), now, eff)
	}
	return ""
}

// retrackLocked tracks an expired market again with Gamma's fresh metadata: its
// assets become PENDING (the pool subscribes them) once apply has dropped their
// stale books. l.mu held.
func (l *Lifecycle) retrackLocked(lm *tracked, fresh Market, eff *effects) {
	for _, id := range lm.m.AssetIDs {
		if !slices.Contains(fresh.AssetIDs, id) {
			fresh.AssetIDs = append(fresh.AssetIDs, id)
		}
	}
	lm.m = fresh
	lm.expired, lm.expiredAt, lm.expiredBy = false, time.Time{}, ""
	lm.cleaned, lm.missed, lm.deferred, lm.confirmed = false, 0, false, true
	l.st.RetrackedMarkets++
	if l.parkRetracked(lm, eff) {
		return
	}
	eff.revive = append(eff.revive, lm.m)
	eff.added = append(eff.added, lm.m)
}

// trackLocked starts tracking a market and registers its assets. l.mu held.
func (l *Lifecycle) trackLocked(m Market, origin origin, now time.Time, eff *effects) {
	lm := &tracked{m: m, origin: origin, addedAt: now}
	if l.park(lm) {
		l.markets[m.ConditionID] = lm
		l.st.NewMarkets++
		eff.added = append(eff.added, lm.m)
		return
	}
	lm.m.AssetIDs = lm.m.AssetIDs[:0:0]
	for _, id := range m.AssetIDs {
		// An id the registry already holds (another market's, or an expired one) is not
		// this market's to manage.
		if l.reg.Add(id, m.ConditionID, m.EndDate) {
			lm.m.AssetIDs = append(lm.m.AssetIDs, id)
		}
	}
	l.markets[m.ConditionID] = lm
	l.st.NewMarkets++
	eff.added = append(eff.added, lm.m)
}

// expireLocked expires a market's assets in the registry and queues the unsubscribe and the
// callback. l.mu held.
func (l *Lifecycle) expireLocked(lm *tracked, reason string, now time.Time, eff *effects) {
	if lm.expired {
		return
	}
	lm.expired, lm.expiredAt, lm.expiredBy, lm.missed = true, now, reason, 0
	ids := lm.m.AssetIDs
	for _, id := range l.reg.ByCondition(lm.m.ConditionID) {
		if !slices.Contains(ids, id) {
			ids = append(slices.Clip(ids), id)
		}
	}
	l.reg.MarkExpired(ids, now)
	l.st.ExpiredMarkets++
	l.st.ExpiredAssets += uint64(len(ids))
	l.st.ExpiredBy[reason]++
	if *l.cfg.UnsubscribeExpired {
		eff.unsub = append(eff.unsub, ids...)
	}
	eff.expired = append(eff.expired, lm.m)
}

// checkExpiry expires every live market whose end date (plus grace) has passed, and any
// registry asset with a passed expiry that no tracked market accounts for.
func (l *Lifecycle) checkExpiry() {
	now := l.cfg.Now()
	cutoff := now.Add(-l.cfg.ExpiryGrace)
	var eff effects
	l.mu.Lock()
	for _, lm := range l.markets {
		switch {
		case lm.expired || lm.m.EndDate.IsZero() || !lm.m.EndDate.Before(now):
		case lm.m.EndDate.Before(cutoff):
			l.expireLocked(lm, ExpiryEndDate, now, &eff)
		case !lm.deferred:
			lm.deferred = true
			l.st.ExpiriesDeferred++
		}
	}
	var orphans []string
	for _, id := range l.reg.ExpiringBefore(cutoff) {
		e, ok := l.reg.Get(id)
		if !ok {
			continue
		}
		if lm, ok := l.markets[e.ConditionID]; ok && !lm.expired {
			continue // the market's own end date decides (Gamma may have moved it)
		}
		orphans = append(orphans, id)
	}
	if len(orphans) > 0 {
		l.reg.MarkExpired(orphans, now)
		l.st.ExpiredAssets += uint64(len(orphans))
		if *l.cfg.UnsubscribeExpired {
			eff.unsub = append(eff.unsub, orphans...)
		}
	}
	l.mu.Unlock()
	l.apply(eff)
}

// cleanup removes assets expired longer than CleanupGrace from the registry and their books
// from the data path.
func (l *Lifecycle) cleanup() {
	now := l.cfg.Now()
	cutoff := now.Add(-l.cfg.CleanupGrace)
	ids := l.reg.ExpiredBefore(cutoff)
	var eff effects
	l.mu.Lock()
	removed := 0
	for _, id := range ids {
		if l.reg.Remove(id) {
			removed++
		}
	}
	eff.drop = ids
	l.st.RemovedAssets += uint64(removed)
	for _, lm := range l.markets {
		if lm.expired && !lm.cleaned && lm.expiredAt.Before(cutoff) {
			lm.cleaned = true
		}
	}
	l.mu.Unlock()
	if removed > 0 {
		l.log.Info("removed expired assets", "assets", removed)
	}
	l.apply(eff)
}

// handleNotice reacts to a socket market notice.
func (l *Lifecycle) handleNotice(n notice) {
	if n.cond == "" {
		return
	}
	now := l.cfg.Now()
	var eff effects
	l.mu.Lock()
	lm, known := l.markets[n.cond]
	switch {
	case n.resolved && known:
		l.expireLocked(lm, ExpiryResolved, now, &eff)
	case n.resolved:
		// Not tracked (yet): keep a tombstone so a lagging listing does not add it, and
		// expire whatever the registry holds for it.
		lm = &tracked{m: Market{ID: n.id, ConditionID: n.cond, AssetIDs: slices.Clone(n.assets)}, origin: fromSocket, addedAt: now}
		l.markets[n.cond] = lm
		l.expireLocked(lm, ExpiryResolved, now, &eff)
		eff.expired = eff.expired[:len(eff.expired)-1] // never announced as new: no expiry callback
	case !known && len(n.assets) > 0 && !slices.Contains(n.assets, ""):
		l.trackLocked(Market{
			ID: n.id, ConditionID: n.cond, Question: n.question, Slug: n.slug,
			AssetIDs: slices.Clone(n.assets), Outcomes: slices.Clone(n.outcomes),
		}, fromSocket, now, &eff)
	}
	l.mu.Unlock()
	l.apply(eff)
}

// apply runs a step's side effects on the lifecycle goroutine, with no lock held.
func (l *Lifecycle) apply(eff effects) {
	if eff.empty() {
		return
	}
	if len(eff.unsub) > 0 && l.pool != nil {
		if err := l.pool.Unsubscribe(eff.unsub); err != nil {
			l.mu.Lock()
			l.st.UnsubscribeErrors++
			l.mu.Unlock()
			l.log.Warn("cannot unsubscribe expired assets", "assets", len(eff.unsub), "err", err)
		}
	}
	if len(eff.drop) > 0 && l.books != nil {
		l.books.DropBooks(eff.drop)
	}
	// A market tracked again: its books froze when it expired, so they go first (the data
	// path applies the drop ahead of any frame the new subscription brings), then its assets
	// become PENDING and the pool subscribes them.
	for _, m := range eff.revive {
		if l.books != nil {
			l.books.DropBooks(m.AssetIDs)
		}
		l.reg.Revive(m.AssetIDs, m.ConditionID, m.EndDate)
	}
	if len(eff.revive) > 0 {
		l.log.Info("expired markets listed open again: tracked again", "markets", len(eff.revive))
	}
	if f := l.cfg.OnNewMarket; f != nil {
		for _, m := range eff.added {
			f(m)
		}
	}
	if f := l.cfg.OnMarketExpired; f != nil {
		for _, m := range eff.expired {
			f(m)
		}
	}
	if len(eff.expired) > 0 {
		l.log.Info("markets expired", "markets", len(eff.expired))
	}
}

func ifElse(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}
