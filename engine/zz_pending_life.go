package engine

// TEMPORARY (never merged to main): placeholders so the App compiles while
// the lifecycle controller and the recycler are written. They are replaced
// by engine/lifecycle.go and engine/recycler.go.

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/polyfeed/polyfeed/engine/fixed"
)

type Market struct {
	ID, ConditionID, Question, Slug string
	AssetIDs, Outcomes              []string
	EndDate                         time.Time
	NegRisk                         bool
	TickSize                        fixed.Point
}

type LifecycleConfig struct {
	GammaURL                     string
	Logger                       *slog.Logger
	OnNewMarket, OnMarketExpired func(Market)
}

type RecyclerConfig struct{ Logger *slog.Logger }

type Lifecycle struct{}
type Recycler struct{}

func NewLifecycle(LifecycleConfig, *Registry, *Pool, *dataPath) (*Lifecycle, error) {
	return nil, errors.New("lifecycle not available yet: set DisableLifecycle")
}
func (*Lifecycle) Start(context.Context) error { return nil }
func (*Lifecycle) Stop(context.Context) error  { return nil }
func (*Lifecycle) Stats() any                  { return nil }
func (*Lifecycle) AddMarket(Market)            {}
func (*Lifecycle) OnMarketEvent(MarketEvent)   {}

func NewRecycler(RecyclerConfig, *Registry, *Pool, *dataPath) *Recycler { return &Recycler{} }
func (*Recycler) Start(context.Context) error                           { return nil }
func (*Recycler) Stop(context.Context) error                            { return nil }
func (*Recycler) Stats() any                                            { return nil }
