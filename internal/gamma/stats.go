package gamma

import "time"

// Reason says why a market was skipped. Reasons are stable strings, fit for
// metric labels.
type Reason string

// Skip reasons, in the order DecodeMarket checks them (the first one wins).
const (
	ReasonMalformed          Reason = "malformed"            // not a JSON object
	ReasonMissingID          Reason = "missing_id"           // id absent, empty or not a string/integer
	ReasonBadFlag            Reason = "bad_flag"             // a boolean field that is neither bool nor null
	ReasonClosed             Reason = "closed"               // closed=true (active stays true on closed markets)
	ReasonNoOrderBook        Reason = "no_order_book"        // enableOrderBook false or null: nothing to subscribe
	ReasonMissingConditionID Reason = "missing_condition_id" // conditionId absent or empty
	ReasonBadConditionID     Reason = "bad_condition_id"     // conditionId not 0x + 64 hex digits
	ReasonMissingTokenIDs    Reason = "missing_token_ids"    // clobTokenIds absent, null or empty
	ReasonBadTokenIDs        Reason = "bad_token_ids"        // clobTokenIds not a (string-encoded) array of strings
	ReasonBadTokenID         Reason = "bad_token_id"         // a token id that is not a canonical decimal of ≤ 78 digits
	ReasonDuplicateTokenID   Reason = "duplicate_token_id"   // a token id repeated in the market, or held by an earlier market of the listing
	ReasonBadOutcomes        Reason = "bad_outcomes"         // outcomes not a (string-encoded) array of strings
	ReasonOutcomeMismatch    Reason = "outcome_mismatch"     // len(outcomes) != len(clobTokenIds)
	ReasonDuplicateMarket    Reason = "duplicate_market"     // market id already listed in this walk (offset paging shifts)
)

// Warning is a problem in a market that was kept. Warnings are counted only
// for accepted markets.
type Warning string

// Market-level and walk-level warnings.
const (
	// WarnBadEndDate: endDate present but not RFC 3339. The market is kept
	// with a zero EndDate: the date only schedules expiry, which Gamma's
	// closed flag and market_resolved also drive, and dropping a live market
	// over a date format would lose its book.
	WarnBadEndDate Warning = "bad_end_date"
	// WarnBadTickSize: orderPriceMinTickSize present but not a positive
	// decimal of at most 6 places. Kept with a zero TickSize; every book
	// snapshot carries the tick size again.
	WarnBadTickSize Warning = "bad_tick_size"
	// WarnMissingTickSize: orderPriceMinTickSize absent or null.
	WarnMissingTickSize Warning = "missing_tick_size"
	// WarnBadText: question or slug not a string; kept empty.
	WarnBadText Warning = "bad_text"
	// WarnKeysetUnavailable: the keyset endpoint answered 404/405/501 or a
	// body not of its shape; the walk fell back to offset paging.
	WarnKeysetUnavailable Warning = "keyset_unavailable"
	// WarnOffsetLimit: offset paging hit the venue's 422 "offset too large".
	WarnOffsetLimit Warning = "offset_limit"
	// WarnRepeatedPage: the server returned a cursor seen before or a page of
	// markets all seen before (for example a server ignoring after_cursor).
	WarnRepeatedPage Warning = "repeated_page"
	// WarnMaxPages: the walk stopped at Config.MaxPages.
	WarnMaxPages Warning = "max_pages"
	// WarnOffsetShift: an offset page did not begin with a market already met:
	// markets closed during the walk shifted the listing under it. Counted
	// per shift seen; the walk steps back to repair it, or ends partial.
	WarnOffsetShift Warning = "offset_shift"
)

// Suspicion says why a listing that reached its end still looks cut short.
// Suspicions are stable strings, fit for metric labels.
type Suspicion string

// Suspicions, reported with ErrSuspect.
const (
	// SuspectEmpty: the walk ended without a single market object (a 200
	// with [] or {"markets":[]}). The venue always lists open markets; an
	// empty answer is far likelier an outage than an empty venue.
	SuspectEmpty Suspicion = "empty"
	// SuspectNoCursor: the last keyset page held a full page of markets but
	// no next_cursor, and the offset listing did not confirm that nothing
	// follows (it listed a market there, failed, or the listing is deeper
	// than the venue's offset limit).
	SuspectNoCursor Suspicion = "full_page_without_cursor"
)

// ErrorClass groups failed HTTP attempts for counting.
type ErrorClass string

// Error classes.
const (
	ClassThrottled   ErrorClass = "429"            // rate limited
	ClassServer      ErrorClass = "5xx"            // server error
	ClassClient      ErrorClass = "4xx"            // 4xx other than 429 and 422; not retried
	ClassValidation  ErrorClass = "422"            // offset too large and friends; not retried
	ClassTimeout     ErrorClass = "timeout"        // RequestTimeout expired
	ClassNetwork     ErrorClass = "network"        // connection refused, reset, ...
	ClassBodyTooBig  ErrorClass = "body_too_large" // body over MaxBodyBytes; not retried
	ClassBadResponse ErrorClass = "bad_response"   // body not the expected JSON shape
)

// Mode is the pagination a walk used.
type Mode string

// Pagination modes.
const (
	ModeKeyset Mode = "keyset"
	ModeOffset Mode = "offset"
)

// DiscoverStats describes one listing walk. The maps are nil until a first
// count; reading a missing key yields 0.
type DiscoverStats struct {
	Mode      Mode          // pagination that produced the result
	Pages     int           // pages decoded
	Requests  int           // HTTP attempts, retries included
	Retries   int           // attempts after a failed one
	Received  int           // market objects received
	Accepted  int           // markets returned
	Complete  bool          // the walk reached the end of the listing and nothing looks cut short: ListActive returned nil
	Suspect   Suspicion     // why a walk that reached the end looks cut short ("": it does not); ListActive returned ErrSuspect
	Duration  time.Duration // wall time of the walk, by Config.Now
	Skipped   map[Reason]int
	Warnings  map[Warning]int
	APIErrors map[ErrorClass]int
	// Unusable holds the condition ids of open, book-carrying markets that were
	// listed but skipped as invalid (bad token ids or outcomes, a token held by
	// another market): they exist, so their absence from the result must not be
	// taken for a market that is gone. UnusableUnknown counts invalid markets
	// skipped before their condition id could be read (malformed object, bad id,
	// flag or condition id): while it is non-zero, absence from the result proves
	// nothing for any market.
	Unusable        []string
	UnusableUnknown int
	// Closed holds the condition ids of markets the listing returned with closed set:
	// Gamma says they are over, so they end at once, without waiting for
	// a second listing to miss them.
	Closed []string
}

// SkippedTotal is the number of markets skipped for any reason.
func (s *DiscoverStats) SkippedTotal() int {
	n := 0
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

func (s *DiscoverStats) skip(r Reason) {
	if s.Skipped == nil {
		s.Skipped = make(map[Reason]int)
	}
	s.Skipped[r]++
}

func (s *DiscoverStats) warn(w Warning) {
	if s.Warnings == nil {
		s.Warnings = make(map[Warning]int)
	}
	s.Warnings[w]++
}

func (s *DiscoverStats) apiError(c ErrorClass) {
	if s.APIErrors == nil {
		s.APIErrors = make(map[ErrorClass]int)
	}
	s.APIErrors[c]++
}
