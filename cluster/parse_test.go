package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

const (
	goldenCID   = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
	goldenAsset = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden decodes the documented examples (docs/CLUSTER.md): a change to
// the formats must change the examples and the document with them.
func TestGolden(t *testing.T) {
	hb, err := parseHeartbeat("feed-1", golden(t, "heartbeat.json"))
	if err != nil || hb.Nonce != "9f2c4be07a61d3e5" || hb.Replicas != 1 || hb.Leaving {
		t.Errorf("heartbeat.json = %+v, %v", hb, err)
	}
	hb, err = parseHeartbeat("feed-1", golden(t, "heartbeat_leaving.json"))
	if err != nil || !hb.Leaving || hb.Replicas != 2 {
		t.Errorf("heartbeat_leaving.json = %+v, %v", hb, err)
	}
	if _, err := parseHeartbeat("feed-2", golden(t, "heartbeat.json")); err == nil {
		t.Error("a heartbeat under another member's key was accepted")
	}
	m, err := parseMarket(goldenCID, golden(t, "market.json"))
	if err != nil || len(m.AssetIDs) != 2 || m.AssetIDs[0] != goldenAsset || m.EndMs != 1764720000000 || m.TickSize != "0.01" {
		t.Errorf("market.json = %+v, %v", m, err)
	}
	if _, err := parseMarket("0xother", golden(t, "market.json")); err == nil {
		t.Error("a market under another key was accepted")
	}
	c, ok := parseClaim(golden(t, "claim.json"))
	if !ok || c.From != "feed-1" || c.Market != goldenCID || c.Epochs[goldenAsset] != 1764550012345 {
		t.Errorf("claim.json = %+v, %v", c, ok)
	}
	asset, epoch, ok := parseBook(golden(t, "book.json"))
	if !ok || asset != goldenAsset || epoch != 1764550012345 {
		t.Errorf("book.json = %s %d %v", asset, epoch, ok)
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		``, `null`, `[]`, `{"v":2,"type":"book","asset_id":"1","epoch":5}`,
		`{"v":1,"type":"delta","asset_id":"1","epoch":5}`,
		`{"v":1,"type":"book","asset_id":"","epoch":5}`,
		`{"v":1,"type":"book","asset_id":"1","epoch":0}`,
		`{"v":1,"type":"book","asset_id":"1","epoch":9007199254740992}`,
		`{"v":1,"type":"book","asset_id":"1","epoch":-1}`,
		`{"v":1,"type":"book","asset_id":"1","epoch":1.5}`,
	} {
		if _, _, ok := parseBook([]byte(in)); ok {
			t.Errorf("parseBook(%s) accepted", in)
		}
	}
	for _, in := range []string{
		``, `{}`, `{"v":1,"from":"a","market":"m","epochs":{}}`,
		`{"v":1,"from":"","market":"m","epochs":{"x":1}}`,
		`{"v":1,"from":"a","market":"m","epochs":{"":1}}`,
		`{"v":1,"from":"a","market":"m","epochs":{"x":9007199254740992}}`,
	} {
		if _, ok := parseClaim([]byte(in)); ok {
			t.Errorf("parseClaim(%s) accepted", in)
		}
	}
	for _, in := range []string{
		``, `{"condition_id":"k","asset_ids":[]}`, `{"condition_id":"k","asset_ids":[""]}`,
		`{"condition_id":"other","asset_ids":["1"]}`,
	} {
		if _, err := parseMarket("k", []byte(in)); err == nil {
			t.Errorf("parseMarket(%s) accepted", in)
		}
	}
}

// The decoders read what other processes wrote into NATS: they must reject
// garbage without panicking, and whatever they accept must be usable.
func FuzzParseBook(f *testing.F) {
	f.Add(golden(f, "book.json"))
	f.Add([]byte(`{"v":1,"type":"book","asset_id":"1","epoch":9007199254740991}`))
	f.Add([]byte(`{"v":1,"type":"book"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		asset, epoch, ok := parseBook(data)
		if ok && (asset == "" || epoch == 0 || epoch > maxEpoch) {
			t.Fatalf("parseBook accepted asset %q epoch %d", asset, epoch)
		}
	})
}

func FuzzParseClaim(f *testing.F) {
	f.Add(golden(f, "claim.json"))
	f.Add([]byte(`{"v":1,"from":"a","market":"m","epochs":{"x":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ok := parseClaim(data)
		if !ok {
			return
		}
		if c.From == "" || c.Market == "" || len(c.Epochs) == 0 {
			t.Fatalf("parseClaim accepted %+v", c)
		}
		for a, e := range c.Epochs {
			if a == "" || e > maxEpoch {
				t.Fatalf("parseClaim accepted epoch %q=%d", a, e)
			}
		}
	})
}

func FuzzParseMarket(f *testing.F) {
	f.Add(goldenCID, golden(f, "market.json"))
	f.Add("k", []byte(`{"condition_id":"k","asset_ids":["1","2"]}`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		m, err := parseMarket(key, data)
		if err == nil && (m.ConditionID != key || !m.valid()) {
			t.Fatalf("parseMarket accepted %+v under %q", m, key)
		}
	})
}

func FuzzParseHeartbeat(f *testing.F) {
	f.Add("feed-1", golden(f, "heartbeat.json"))
	f.Add("feed-1", golden(f, "heartbeat_leaving.json"))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		hb, err := parseHeartbeat(key, data)
		if err == nil && (hb.ID != key || hb.Nonce == "" || hb.Replicas < 1) {
			t.Fatalf("parseHeartbeat accepted %+v under %q", hb, key)
		}
	})
}
