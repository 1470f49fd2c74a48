// Unit tests of rules.mjs (run: node --test). They decode the publisher's documented
// examples (docs/stream/) and the consumer inputs of stream/testdata/v1, as the Go package does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { decode, fmtDec, parseDec, Tracker } from "./rules.mjs";

const golden = new URL("../../stream/testdata/v1/", import.meta.url);

test("decimals are exact", () => {
  assert.equal(fmtDec(parseDec("0.1") + parseDec("0.2")), "0.3");
  assert.equal(fmtDec(parseDec(".480")), "0.48");
  assert.equal(fmtDec(parseDec("3149725.72")), "3149725.72");
  assert.throws(() => parseDec("1e-2"));
  assert.throws(() => parseDec("0.0000001"));
  assert.throws(() => parseDec(0.5));
});

test("golden messages decode", () => {
  const files = readdirSync(golden).filter((f) => f.endsWith(".json"));
  assert.equal(files.length, 6);
  for (const f of files) {
    const raw = JSON.parse(readFileSync(new URL(f, golden), "utf8"));
    const m = decode("polyfeed", `polyfeed.v1.${raw.type}.${raw.asset_id}`, JSON.stringify(raw));
    assert.equal(m.asset, "7124");
    assert.equal(m.epoch, 1764547200000);
  }
  const book = decode("polyfeed", "polyfeed.v1.book.7124", readFileSync(new URL("book.json", golden)));
  assert.deepEqual(book.bids, [[480000n, 30000000n], [470000n, 12500000n]]);
  const delta = decode("polyfeed", "polyfeed.v1.delta.7124", readFileSync(new URL("delta_empty_side.json", golden)));
  assert.equal(delta.bestAsk, null);
});

// The publisher's documented examples (docs/stream/*.json, byte for byte its output).
const docs = new URL("../../docs/stream/", import.meta.url);
test("documented examples decode", () => {
  const files = readdirSync(docs).filter((f) => f.endsWith(".json"));
  assert.equal(files.length, 8, "examples in docs/stream/");
  const bySeq = new Map();
  for (const f of files) {
    const raw = readFileSync(new URL(f, docs), "utf8");
    const m = JSON.parse(raw);
    const d = decode("polyfeed", `polyfeed.v1.${m.type}.${m.asset_id}`, raw);
    assert.ok(f.startsWith(d.type), `${f} decodes as ${d.type}`);
    bySeq.set(d.seq, d);
  }
  // In seq order up to the first hole, every example after the book applies on top, and
  // its best_bid/best_ask agree with the book the examples before it build (as in Go).
  const t = new Tracker();
  t.live = true;
  for (let seq = 1; bySeq.has(seq); seq++) {
    const before = t.stats.mismatches;
    t.handle(bySeq.get(seq), 0);
    assert.equal(t.stats.mismatches, before, `example seq ${seq} disagrees with the book`);
  }
  assert.ok(t.stats.applied >= 2 && t.stats.gaps === 0, JSON.stringify(t.stats));
});

test("broken messages are refused", () => {
  const head = { v: 1, type: "tick", asset_id: "a", market: "m", epoch: 1, seq: 1, ts_ms: 1, tick_size: "0.01" };
  const bad = [
    { ...head, v: 2 },
    { ...head, epoch: 2 ** 53 },
    { ...head, seq: 1.5 },
    { ...head, tick_size: 0.01 },
    { ...head, type: "book", bids: [["0.4", "1"], ["0.5", "1"]], asks: [], valid: true },
    { ...head, type: "delta", changes: [["BID", "0.5", "1"]], best_bid: null, best_ask: null },
    { ...head, type: "status", state: "open" },
  ];
  for (const m of bad) {
    assert.throws(() => decode("p", `p.v1.${m.type}.a`, JSON.stringify(m)), undefined, JSON.stringify(m));
  }
  assert.throws(() => decode("p", "p.v1.trade.a", JSON.stringify(head)), /subject/);
});

const msg = (type, epoch, seq, extra = {}) => ({ type, asset: "a", market: "m", epoch, seq, ts: seq, ...extra });
const book = (epoch, seq, bids = [], valid = true) => msg("book", epoch, seq, { bids, asks: [], tick: 10000n, valid });
const delta = (epoch, seq, price, size, bestBid) =>
  msg("delta", epoch, seq, { changes: [["BUY", price, size]], bestBid, bestAsk: null });

test("gap, resync, epochs, stale", () => {
  const t = new Tracker();
  t.live = true;
  let now = 0;
  const step = (m) => t.handle(m, (now += 2000));
  step(book(10, 1, [[450000n, 1n]]));
  assert.equal(step(delta(10, 2, 460000n, 1n, 460000n)).changed, true);
  // Gap: fetch; a book older than the gap is refused, one that reaches it is taken.
  const v = step(delta(10, 4, 470000n, 1n, 470000n));
  assert.equal(v.fetch, true);
  assert.equal(t.stats.gaps, 1);
  assert.equal(t.offer(v.a, book(10, 2)), false);
  assert.equal(t.offer(v.a, book(10, 3, [[460000n, 1n], [450000n, 1n]])), true);
  step(delta(10, 4, 470000n, 1n, 470000n));
  assert.equal(v.a.book.best("BUY"), 470000n);
  // An old book is ignored: a book never moves backwards.
  step(book(10, 2, []));
  assert.equal(v.a.book.seq, 4);
  // Lower epoch ignored; higher epoch waits for its book.
  step(delta(9, 50, 1n, 1n, 470000n));
  assert.equal(v.a.book.best("BUY"), 470000n);
  assert.equal(step(delta(11, 1, 480000n, 1n, 480000n)).fetch, true);
  assert.equal(v.a.book.state, "syncing");
  step(book(11, 2, [[440000n, 1n]]));
  assert.equal(v.a.book.state, "live");
  assert.equal(t.stats.epochChanges, 1);
  // Stale until the next valid book; live is informational.
  step(msg("status", 11, 3, { state: "stale", reason: "r" }));
  step(msg("status", 11, 4, { state: "live", reason: "r" }));
  assert.equal(v.a.book.state, "stale");
  step(book(11, 5, [[440000n, 1n]]));
  assert.equal(v.a.book.state, "live");
  step(msg("status", 11, 6, { state: "closed", reason: "resolved" }));
  assert.equal(v.a.book.state, "closed");
});

test("closed books are forgotten after the window, others kept", () => {
  const t = new Tracker({ forgetClosedMs: 60_000 });
  t.live = true;
  const other = { ...book(1, 1, [[450000n, 1n]]), asset: "b" };
  t.handle(book(1, 1, [[450000n, 1n]]), 0);
  t.handle(other, 0);
  t.handle(msg("status", 1, 2, { state: "closed", reason: "resolved" }), 1_000);
  assert.equal(t.assets.get("a").book.state, "closed");
  // Still readable inside the window.
  t.handle({ ...msg("trade", 1, 2, { price: 1n, size: 1n, side: "BUY" }), asset: "b" }, 30_000);
  assert.equal(t.assets.has("a"), true);
  // Past it: dropped at the next sweep; the live one stays.
  t.handle({ ...msg("trade", 1, 3, { price: 1n, size: 1n, side: "BUY" }), asset: "b" }, 62_000);
  assert.equal(t.assets.has("a"), false);
  assert.equal(t.assets.has("b"), true);
  assert.equal(t.stats.forgotten, 1);
  // Negative keeps every book.
  const keep = new Tracker({ forgetClosedMs: -1 });
  keep.handle(book(1, 1), 0);
  keep.handle(msg("status", 1, 2, { state: "closed", reason: "r" }), 0);
  keep.handle({ ...book(1, 1), asset: "c" }, 10 ** 9);
  assert.equal(keep.assets.has("a"), true);
});
