// The contract's consumer rules (polyfeed wire contract v1, docs/STREAM.md), with no
// NATS in sight: decode a message, keep one asset's book, decide when a book from the
// books stream is needed. consumer.mjs feeds it. Prices and sizes are exact: BigInt
// millionths, printed back as the shortest decimal string ("0.48", "25").

const SCALE = 1_000_000n;
const DECIMAL = /^[0-9]*\.?[0-9]*$/;

/** parseDec reads a decimal string into BigInt millionths; it throws on anything else. */
export function parseDec(s) {
  if (typeof s !== "string" || !DECIMAL.test(s) || !/[0-9]/.test(s)) {
    throw new Error(`not a decimal string: ${JSON.stringify(s)}`);
  }
  let [int, frac = ""] = s.split(".");
  if (frac.length > 6) {
    if (/[^0]/.test(frac.slice(6))) throw new Error(`more than 6 decimals: ${s}`);
    frac = frac.slice(0, 6);
  }
  return BigInt(int || "0") * SCALE + BigInt((frac + "000000").slice(0, 6));
}

/** fmtDec prints BigInt millionths as the shortest decimal string. */
export function fmtDec(v) {
  const int = v / SCALE;
  const frac = v % SCALE;
  if (frac === 0n) return int.toString();
  return `${int}.${frac.toString().padStart(6, "0").replace(/0+$/, "")}`;
}

const TYPES = new Set(["book", "delta", "trade", "tick", "status"]);
const STATES = new Set(["stale", "live", "closed"]);
const safe = (n) => Number.isSafeInteger(n);

function positive(name, s) {
  const v = parseDec(s);
  if (v <= 0n) throw new Error(`${name} not above zero: ${s}`);
  return v;
}

function levels(name, raw, desc) {
  if (!Array.isArray(raw)) throw new Error(`${name} is not an array`);
  const out = [];
  for (const pair of raw) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new Error(`${name}: want [price, size]`);
    const p = positive(`${name} price`, pair[0]);
    const s = positive(`${name} size`, pair[1]);
    if (out.length > 0) {
      const prev = out[out.length - 1][0];
      if (desc ? p >= prev : p <= prev) throw new Error(`${name} not strictly ordered`);
    }
    out.push([p, s]);
  }
  return out;
}

/**
 * decode parses one message body and checks it against the contract and its subject
 * (<prefix>.v1.<type>.<asset>). It throws on a broken message.
 */
export function decode(prefix, subject, data) {
  const m = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
  if (m === null || typeof m !== "object") throw new Error("not an object");
  if (m.v !== 1) throw new Error(`unsupported version ${m.v}`);
  if (!TYPES.has(m.type)) throw new Error(`unknown type ${m.type}`);
  if (typeof m.asset_id !== "string" || m.asset_id === "" || typeof m.market !== "string") {
    throw new Error("missing asset_id or market");
  }
  if (!safe(m.epoch) || m.epoch < 1 || !safe(m.seq) || m.seq < 1 || !safe(m.ts_ms) || m.ts_ms < 0) {
    throw new Error("epoch, seq or ts_ms not a valid integer");
  }
  if (subject !== `${prefix}.v1.${m.type}.${m.asset_id}`) throw new Error(`subject ${subject} disagrees with the payload`);
  const out = { type: m.type, asset: m.asset_id, market: m.market, epoch: m.epoch, seq: m.seq, ts: m.ts_ms };
  switch (m.type) {
    case "book":
      if (typeof m.valid !== "boolean") throw new Error("book without valid");
      out.tick = positive("tick_size", m.tick_size);
      out.bids = levels("bids", m.bids, true);
      out.asks = levels("asks", m.asks, false);
      out.valid = m.valid;
      break;
    case "delta":
      if (!Array.isArray(m.changes) || !("best_bid" in m) || !("best_ask" in m)) {
        throw new Error("delta without changes, best_bid or best_ask");
      }
      out.changes = m.changes.map((c) => {
        if (!Array.isArray(c) || c.length !== 3 || (c[0] !== "BUY" && c[0] !== "SELL")) {
          throw new Error("bad change");
        }
        return [c[0], positive("change price", c[1]), parseDec(c[2])];
      });
      out.bestBid = m.best_bid === null ? null : positive("best_bid", m.best_bid);
      out.bestAsk = m.best_ask === null ? null : positive("best_ask", m.best_ask);
      break;
    case "trade":
      if (m.side !== "BUY" && m.side !== "SELL") throw new Error(`trade side ${m.side}`);
      out.price = positive("price", m.price);
      out.size = positive("size", m.size);
      out.side = m.side;
      break;
    case "tick":
      out.tick = positive("tick_size", m.tick_size);
      break;
    case "status":
      if (!STATES.has(m.state)) throw new Error(`unknown state ${m.state}`);
      out.state = m.state;
      out.reason = typeof m.reason === "string" ? m.reason : "";
      break;
  }
  return out;
}

/** One asset's book: price -> size maps, best computed on demand. */
export class Book {
  constructor(asset, market) {
    this.asset = asset;
    this.market = market;
    this.epoch = 0;
    this.seq = 0;
    this.ts = 0;
    this.tick = 0n;
    this.state = "syncing";
    this.reason = "joining";
    this.bids = new Map();
    this.asks = new Map();
    this.last = null;
  }

  reset(m) {
    this.market = m.market;
    this.epoch = m.epoch;
    this.seq = m.seq;
    this.ts = m.ts;
    this.tick = m.tick;
    this.bids = new Map(m.bids);
    this.asks = new Map(m.asks);
  }

  apply([side, price, size]) {
    const levels = side === "BUY" ? this.bids : this.asks;
    if (size === 0n) levels.delete(price);
    else levels.set(price, size);
  }

  best(side) {
    let best = null;
    for (const p of (side === "BUY" ? this.bids : this.asks).keys()) {
      if (best === null || (side === "BUY" ? p > best : p < best)) best = p;
    }
    return best;
  }

  sorted(side) {
    const desc = side === "BUY";
    return [...(desc ? this.bids : this.asks).entries()]
      .sort((a, b) => (a[0] === b[0] ? 0 : (a[0] < b[0]) !== desc ? -1 : 1))
      .map(([p, s]) => [fmtDec(p), fmtDec(s)]);
  }

  toJSON() {
    return {
      asset_id: this.asset, market: this.market, state: this.state, reason: this.reason,
      epoch: this.epoch, seq: this.seq, ts_ms: this.ts, tick_size: fmtDec(this.tick),
      bids: this.sorted("BUY"), asks: this.sorted("SELL"),
      last_trade: this.last && { price: fmtDec(this.last.price), size: fmtDec(this.last.size), side: this.last.side },
    };
  }
}

/**
 * Tracker applies the rules to every asset: apply a book, then only same-epoch
 * messages with seq = last + 1; a gap (or a delta whose best prices disagree) asks for
 * the asset's last book from the books stream; lower epochs are ignored; a higher
 * epoch waits for a book of that epoch. `live` is false while the look-back window
 * replays: an asset then waits for its first book in the window instead of fetching.
 */
export class Tracker {
  /**
   * forgetClosedMs is how long a closed book stays readable before it is dropped, so
   * a consumer that runs for days does not keep every market it ever saw (the Go
   * package's ForgetClosed, same default; negative keeps them all).
   */
  constructor({ refetchMs = 1000, forgetClosedMs = 10 * 60 * 1000 } = {}) {
    this.assets = new Map();
    this.live = false;
    this.refetchMs = refetchMs;
    this.forgetClosedMs = forgetClosedMs;
    this.lastSweep = 0;
    // restarts is counted by the NATS wiring (consumer.mjs): times the events
    // consumer was opened again after it stopped delivering.
    this.stats = { applied: 0, ignored: 0, gaps: 0, mismatches: 0, resyncs: 0, resyncMisses: 0, epochChanges: 0, staleNotices: 0, decodeErrors: 0, forgotten: 0, restarts: 0 };
  }

  /**
   * forget drops the books closed for longer than forgetClosedMs. handle calls it,
   * sweeping at most every quarter of the window (and at least once a minute).
   */
  forget(now) {
    if (this.forgetClosedMs < 0 || now - this.lastSweep < Math.min(this.forgetClosedMs / 4, 60_000)) return;
    this.lastSweep = now;
    for (const [asset, a] of this.assets) {
      if (a.closedAt !== 0 && now - a.closedAt >= this.forgetClosedMs) {
        this.assets.delete(asset);
        this.stats.forgotten++;
      }
    }
  }

  get(asset, market) {
    let a = this.assets.get(asset);
    if (!a) {
      a = { book: new Book(asset, market), epoch: 0, synced: false, hadBook: false, high: 0, nextFetch: 0, closedAt: 0 };
      this.assets.set(asset, a);
    }
    return a;
  }

  /** handle returns {a, changed, fetch}. */
  handle(m, now) {
    this.forget(now);
    const a = this.get(m.asset, m.market);
    const v = { a, changed: false, fetch: false };
    if (m.epoch < a.epoch) {
      this.stats.ignored++;
      return v;
    }
    if (m.epoch > a.epoch) {
      if (a.epoch !== 0) this.stats.epochChanges++;
      a.epoch = m.epoch;
      a.high = 0;
      a.nextFetch = 0;
      if (a.synced) {
        this.desync(a, "new epoch");
        v.changed = true;
      }
    }
    // high is the highest seq seen in the epoch: a book below it is old and would move
    // the book backwards; a book from the books stream must reach high - 1.
    const old = m.seq < a.high || (a.synced && m.seq === a.high);
    if (m.seq > a.high) a.high = m.seq;
    if (m.type === "book") {
      if (old) {
        this.stats.ignored++;
        return v;
      }
      this.applyBook(a, m);
      v.changed = true;
      return v;
    }
    if (!a.synced) return this.unsynced(a, m, now, v);
    if (m.seq <= a.book.seq) {
      this.stats.ignored++;
      return v;
    }
    if (m.seq > a.book.seq + 1) {
      this.stats.gaps++;
      this.desync(a, "gap");
      v.changed = true;
      return this.unsynced(a, m, now, v);
    }
    const b = a.book;
    switch (m.type) {
      case "delta":
        for (const c of m.changes) b.apply(c);
        if (b.best("BUY") !== m.bestBid || b.best("SELL") !== m.bestAsk) {
          this.stats.mismatches++;
          this.desync(a, "best price mismatch");
          v.changed = true;
          return this.unsynced(a, m, now, v);
        }
        break;
      case "trade":
        b.last = { price: m.price, size: m.size, side: m.side, ts: m.ts };
        break;
      case "tick":
        b.tick = m.tick;
        break;
      case "status":
        if (m.state === "stale") {
          this.stats.staleNotices++;
          b.state = "stale";
          b.reason = m.reason;
        } else if (m.state === "closed") {
          b.state = "closed";
          b.reason = m.reason;
          a.closedAt = now;
        } // live is informational: only a valid book ends stale
        break;
    }
    b.market = m.market;
    b.seq = m.seq;
    b.ts = m.ts;
    this.stats.applied++;
    v.changed = true;
    return v;
  }

  unsynced(a, m, now, v) {
    if ((!a.hadBook && !this.live) || now < a.nextFetch) {
      this.stats.ignored++;
      return v;
    }
    a.nextFetch = now + this.refetchMs;
    v.fetch = true;
    return v;
  }

  desync(a, reason) {
    a.synced = false;
    a.book.state = "syncing";
    a.book.reason = reason;
  }

  applyBook(a, m) {
    a.book.reset(m);
    a.synced = true;
    a.hadBook = true;
    a.high = Math.max(a.high, m.seq);
    a.nextFetch = 0;
    if (m.valid) {
      a.book.state = "live";
      a.book.reason = "";
    } else {
      this.stats.staleNotices++;
      a.book.state = "stale";
      a.book.reason = "book not valid";
    }
    this.stats.applied++;
  }

  /** offer gives an unsynced asset a book from the books stream; true if taken. */
  offer(a, m) {
    if (a.synced) return false;
    if (!(m.epoch > a.epoch || (m.epoch === a.epoch && m.seq >= a.high - 1))) {
      this.stats.resyncMisses++;
      return false;
    }
    if (m.epoch > a.epoch) {
      if (a.epoch !== 0) this.stats.epochChanges++;
      a.epoch = m.epoch;
      a.high = 0;
    }
    this.applyBook(a, m);
    this.stats.resyncs++;
    return true;
  }
}
