package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/gamma"
)

func TestPrintPlan(t *testing.T) {
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	markets := []gamma.Market{
		{ConditionID: "0xaa", TokenIDs: []string{"1", "2"}, Question: "Will\nit  rain?", EndDate: now.Add(24 * time.Hour)},
		{ConditionID: "0xbb", TokenIDs: []string{"3", "4"}, Question: "Past end", EndDate: now.Add(-time.Hour)},
		{ConditionID: "0xcc", TokenIDs: []string{"5"}, Question: "No end date"},
	}
	st := gamma.DiscoverStats{Mode: gamma.ModeKeyset, Pages: 1, Received: 5, Complete: true,
		Skipped: map[gamma.Reason]int{gamma.ReasonClosed: 1, gamma.ReasonNoOrderBook: 1}}
	var b bytes.Buffer
	if err := printPlan(&b, markets, st, 2, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"0xaa          2       2026-01-03  Will it rain?\n",
		"0xcc          1       -           No end date\n",
		"would subscribe 5 assets of 3 markets on 3 connections (2 assets per connection)\n",
		"keyset paging, 1 pages, 5 received, 2 skipped (closed=1, no_order_book=1), complete=true",
		"note: 1 of these markets are past their end date",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}
