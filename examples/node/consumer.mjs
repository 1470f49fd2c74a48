#!/usr/bin/env node
// A polyfeed stream consumer in Node, on npm's official NATS client. It follows the
// wire contract v1 (docs/STREAM.md) the same way the Go package stream does:
//   1. read the latest book of every selected asset from <PREFIX>_BOOKS;
//   2. replay <PREFIX>_EVENTS from --lookback-ms ago (by start time), starting each
//      asset at its first book; when the replay is done, assets with no book in the
//      window take the one from step 1;
//   3. continue live: a gap fetches the asset's last book from <PREFIX>_BOOKS
//      (direct get, last by subject); lower epochs are ignored; a higher epoch waits
//      for a book of that epoch; stale holds until the next valid book.
//   In a NATS cluster each consumer runs on one node: while the events consumer
//   delivers nothing, its state is checked every 2 s, and it is opened again after
//   the last sequence read when that node is gone (see checkStalled); the read of
//   step 1 starts over (see loadCandidates).
// It prints top of book per update. Typing "dump" on stdin prints every book as one
// JSON line; end of stdin (or SIGINT/SIGTERM) prints them too, then exits.
//
//   node consumer.mjs --servers nats://127.0.0.1:4222 [--prefix polyfeed]
//        [--asset ID,...] [--market ID,...] [--lookback-ms 70000] [--quiet]
import { connect } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { decode, fmtDec, Tracker } from "./rules.mjs";

const { values: args } = parseArgs({
  options: {
    servers: { type: "string", default: "nats://127.0.0.1:4222" },
    prefix: { type: "string", default: "polyfeed" },
    asset: { type: "string", multiple: true, default: [] },
    market: { type: "string", multiple: true, default: [] },
    "lookback-ms": { type: "string", default: "70000" },
    quiet: { type: "boolean", default: false },
  },
});
const prefix = args.prefix;
const up = prefix.toUpperCase();
const EVENTS = `${up}_EVENTS`;
const BOOKS = `${up}_BOOKS`;
const assets = new Set(args.asset.flatMap((s) => s.split(",")).filter(Boolean));
const markets = new Set(args.market.flatMap((s) => s.split(",")).filter(Boolean));
const serverFiltered = assets.size > 0 && markets.size === 0;
const wants = (m) => (assets.size === 0 && markets.size === 0) || assets.has(m.asset) || markets.has(m.market);
const IDLE_MS = 500;

let stopping = false;
const nc = await connect({ servers: args.servers.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250, name: "polyfeed-node-example" });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc, { checkAPI: false });

// retrying calls fn until it succeeds, a second apart, logging the first failure of
// each kind: JetStream answers 503 while a cluster elects a leader (a node lost, a
// loaded machine), and the events consumer cannot be opened again before the
// stream has a leader.
const failed = new Set();
async function retrying(what, fn) {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (stopping || nc.isClosed()) throw err;
      if (!failed.has(what)) {
        failed.add(what);
        console.error(`cannot ${what}; retrying every second: ${err.message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
const tracker = new Tracker();
let decodeLogged = false;

function decodeOrCount(subject, data) {
  try {
    const m = decode(prefix, subject, data);
    return wants(m) ? m : null;
  } catch (err) {
    tracker.stats.decodeErrors++;
    if (!decodeLogged) {
      decodeLogged = true;
      console.error(`message breaks the stream contract; counting the rest: ${subject}: ${err.message}`);
    }
    return null;
  }
}

// Every change of state goes through one queue, so messages, the end of the replay
// and fetches never interleave.
let chain = Promise.resolve();
const enqueue = (fn) => (chain = chain.then(fn).catch((err) => console.error(`consumer: ${err.message}`)));

function show(book) {
  if (args.quiet) return;
  const bid = book.best("BUY");
  const ask = book.best("SELL");
  const side = (p, levels) => (p === null ? "-" : `${fmtDec(p)} x ${fmtDec(levels.get(p))}`);
  const spread = bid !== null && ask !== null ? fmtDec(ask - bid) : "-";
  console.log(`${book.asset} ${book.state} bid ${side(bid, book.bids)} ask ${side(ask, book.asks)} spread ${spread} seq ${book.epoch}:${book.seq} lag ${Date.now() - book.ts}ms`);
}

// Step 1: the books stream's latest books. Its consumer runs on one node of the
// stream's cluster; when that node dies while our connection stays up, deliveries
// just stop. So a pause ends the read only when the server says nothing is left to
// deliver; when it cannot say, or says messages are left, twice in a row with no
// message between, the read starts over on a new consumer.
async function loadCandidates() {
  const filter = serverFiltered ? [...assets].map((a) => `${prefix}.v1.book.${a}`) : [`${prefix}.v1.book.>`];
  for (let again = false; ; again = true) {
    const out = await retrying(`read the books stream ${BOOKS}`, () => readBooks(filter));
    if (out) return out;
    if (!again) console.error(`the read of the books stream ${BOOKS} stopped delivering; reading it again`);
  }
}

// readBooks reads the books stream once: the latest book by asset, or null if its
// consumer stopped delivering.
async function readBooks(filter) {
  const out = new Map();
  const c = await js.consumers.get(BOOKS, { filter_subjects: filter, deliver_policy: DeliverPolicy.LastPerSubject });
  const msgs = await c.consume();
  let complete = false;
  let received = 0;
  let suspect = "";
  let timer;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(checkPause, IDLE_MS);
  };
  async function checkPause() {
    const before = received;
    let found = "";
    try {
      const info = await c.info();
      if (info.num_pending > 0) found = `${info.num_pending} messages left to deliver`;
    } catch (err) {
      found = `cannot read its state: ${err.message}`;
    }
    if (received !== before) return; // delivering again: the loop re-armed
    if (found === "") complete = true;
    if (found === "" || suspect !== "") {
      msgs.stop();
      return;
    }
    suspect = found;
    arm();
  }
  arm();
  for await (const msg of msgs) {
    received++;
    suspect = "";
    const m = decodeOrCount(msg.subject, msg.data);
    if (m && m.type === "book") out.set(m.asset, m);
    if (msg.info.pending === 0) {
      complete = true;
      break;
    }
    arm();
  }
  clearTimeout(timer);
  msgs.stop();
  return complete ? out : null;
}

async function fetchBook(asset) {
  try {
    const sm = await jsm.direct.getMessage(BOOKS, { last_by_subj: `${prefix}.v1.book.${asset}` });
    if (!sm) return null;
    const m = decodeOrCount(sm.subject, sm.data);
    return m && m.type === "book" ? m : null;
  } catch {
    return null;
  }
}

async function resync(a) {
  const m = await fetchBook(a.book.asset);
  if (!m) {
    tracker.stats.resyncMisses++;
    return false;
  }
  return tracker.offer(a, m);
}

async function processMsg(m) {
  const now = Date.now();
  let v = tracker.handle(m, now);
  if (v.fetch) {
    if (await resync(v.a)) {
      show(v.a.book);
      v = tracker.handle(m, now); // applies on top, or is old against the book
    } else {
      tracker.stats.ignored++;
      v.changed = true;
    }
  }
  if (v.changed) show(v.a.book);
}

let candidates = new Map();
async function catchUp() {
  if (tracker.live) return;
  tracker.live = true;
  for (const [id, m] of candidates) {
    const a = tracker.assets.get(id);
    if (a && a.synced) continue;
    if (!a) {
      // Silent for the whole window though books come every 60 s: closed or gone.
      const na = tracker.get(id, m.market);
      tracker.offer(na, m);
      na.book.state = "stale";
      na.book.reason = "no message in the look-back window";
      show(na.book);
    } else if (await resync(a)) show(a.book);
  }
  candidates = new Map();
}

function dump() {
  const books = {};
  for (const [id, a] of [...tracker.assets].sort()) books[id] = a.book.toJSON();
  process.stdout.write(JSON.stringify({ books, stats: tracker.stats, live: tracker.live }) + "\n");
}

// Step 2 and 3: replay the window, then live. The loop starts over, by time, when the
// events stream was recreated (a server with memory storage came back empty and the
// publisher created the streams again, numbering from 1): an ordered consumer would
// otherwise wait, silent, for the new stream to reach the sequence already read.
candidates = await loadCandidates();
const lookbackMs = Number(args["lookback-ms"]);
const filter = serverFiltered ? [...assets].map((a) => `${prefix}.v1.*.${a}`) : [`${prefix}.v1.>`];
let created = (await retrying(`read the events stream ${EVENTS}`, () => jsm.streams.info(EVENTS))).created;
let lastSeq = 0;
let recreated = false;
let msgs = null;
let idle;
const armIdle = () => {
  clearTimeout(idle);
  idle = setTimeout(() => enqueue(catchUp), IDLE_MS);
};

async function checkRecreated() {
  if (stopping || recreated || nc.isClosed()) return;
  try {
    const info = await jsm.streams.info(EVENTS);
    if (info.created !== created || info.state.last_seq < lastSeq) {
      console.error(`events stream ${EVENTS} was recreated; reading it again from the look-back window`);
      created = info.created;
      recreated = true;
      msgs?.stop();
    }
  } catch {
    // unreachable for now: the next check tries again
  }
}
const recreatedTimer = setInterval(() => enqueue(checkRecreated), 2000);

// An ordered consumer is R1: it runs on one node of the stream's cluster. When that
// node dies while our connection, to another node, stays up, nothing tells us: no
// disconnect, no error from the iterator, and no messages or heartbeats any more.
// The client library notices the missed heartbeats (after 30 s) but only asks for
// the consumer's state, which keeps failing, and never opens it again. So while the
// events consumer delivers nothing we ask for its state every 2 s ourselves: an
// error (offline, gone, nobody answers), or messages pending that were not
// delivered, found by two checks in a row with no message between them, opens it
// again after the last sequence read. Requiring two spares a server that is merely
// slow to answer once. The check runs beside the queue, not in it, so that a slow
// answer never holds up messages.
let events = null;
let lastMsgAt = Date.now();
let suspect = "";
let stalled = false;
let checking = false;
async function checkStalled() {
  if (stopping || recreated || stalled || checking || !events || nc.isClosed()) return;
  if (Date.now() - lastMsgAt < IDLE_MS) return;
  const c = events;
  checking = true;
  let found = "";
  try {
    const info = await c.info();
    if (info.num_pending > 0 && info.delivered.stream_seq <= lastSeq) {
      found = `${info.num_pending} messages pending, none delivered after stream sequence ${lastSeq}`;
    }
  } catch (err) {
    found = `cannot read its state: ${err.message}`;
  } finally {
    checking = false;
  }
  if (c !== events || stopping || recreated) return; // opened again meanwhile
  const prev = suspect;
  suspect = found;
  if (found === "" || prev === "") return;
  console.error(`events consumer stopped delivering; opening it again after stream sequence ${lastSeq}: ${found}`);
  tracker.stats.restarts++;
  stalled = true;
  msgs?.stop();
}
const stalledTimer = setInterval(checkStalled, 2000);

async function shutdown() {
  if (stopping) return;
  stopping = true;
  clearTimeout(idle);
  clearInterval(recreatedTimer);
  clearInterval(stalledTimer);
  msgs?.stop();
  await enqueue(() => {});
  dump();
  await nc.close();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (line.trim() === "dump") enqueue(dump);
});
rl.on("close", shutdown);

while (!stopping) {
  // By time the first time and after a recreated stream; after a stall, from the
  // message after the last one read.
  const from = lastSeq > 0
    ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }
    : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Date.now() - lookbackMs).toISOString() };
  let opened;
  try {
    opened = await retrying(`open the events consumer on ${EVENTS}`, async () => {
      const c = await js.consumers.get(EVENTS, { filter_subjects: filter, ...from });
      return { c, it: await c.consume() };
    });
  } catch (err) {
    if (stopping || nc.isClosed()) break;
    throw err;
  }
  events = opened.c;
  msgs = opened.it;
  recreated = false;
  stalled = false;
  suspect = "";
  lastMsgAt = Date.now();
  armIdle();
  for await (const msg of msgs) {
    const m = decodeOrCount(msg.subject, msg.data);
    const pending = msg.info.pending;
    lastSeq = msg.info.streamSequence;
    lastMsgAt = Date.now();
    suspect = "";
    await enqueue(async () => {
      if (m) await processMsg(m);
      if (pending === 0) await catchUp();
    });
    armIdle();
  }
  if (recreated) lastSeq = 0;
  else if (!stalled) break;
}
