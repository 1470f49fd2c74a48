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

const nc = await connect({ servers: args.servers.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250, name: "polyfeed-node-example" });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
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

// Step 1: the books stream's latest books.
async function loadCandidates() {
  const out = new Map();
  const filter = serverFiltered ? [...assets].map((a) => `${prefix}.v1.book.${a}`) : [`${prefix}.v1.book.>`];
  const c = await js.consumers.get(BOOKS, { filter_subjects: filter, deliver_policy: DeliverPolicy.LastPerSubject });
  const msgs = await c.consume();
  let timer;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => msgs.stop(), IDLE_MS);
  };
  arm();
  for await (const msg of msgs) {
    const m = decodeOrCount(msg.subject, msg.data);
    if (m && m.type === "book") out.set(m.asset, m);
    if (msg.info.pending === 0) break;
    arm();
  }
  clearTimeout(timer);
  msgs.stop();
  return out;
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
let created = (await jsm.streams.info(EVENTS)).created;
let lastSeq = 0;
let recreated = false;
let msgs = null;
let stopping = false;
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

async function shutdown() {
  if (stopping) return;
  stopping = true;
  clearTimeout(idle);
  clearInterval(recreatedTimer);
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
  const start = new Date(Date.now() - lookbackMs);
  const events = await js.consumers.get(EVENTS, { filter_subjects: filter, deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.toISOString() });
  msgs = await events.consume();
  recreated = false;
  armIdle();
  for await (const msg of msgs) {
    const m = decodeOrCount(msg.subject, msg.data);
    const pending = msg.info.pending;
    lastSeq = msg.info.streamSequence;
    await enqueue(async () => {
      if (m) await processMsg(m);
      if (pending === 0) await catchUp();
    });
    armIdle();
  }
  if (!recreated) break;
  lastSeq = 0;
}
