-- wrk script: POST unique, signed FileUploadComplete bodies to /callback.
-- Environment: BENCH_BODIES (file, one body per line), BENCH_TS and BENCH_SIG (the
-- X-VOD-TIMESTAMP / X-VOD-SIGNATURE pair; VOD signs the URL and time only, never the body).
-- Counts 200 "stored", 200 "duplicate" and other answers per thread; done() prints one JSON
-- line starting with BENCH_JSON so that bench/run.py need not parse wrk's text.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  nbodies = 0
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    nbodies = nbodies + 1
    bodies[nbodies] = line
  end
  idx = 0
  wrapped = 0
  stored = 0
  duplicate = 0
  other = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-VOD-TIMESTAMP"] = os.getenv("BENCH_TS")
  wrk.headers["X-VOD-SIGNATURE"] = os.getenv("BENCH_SIG")
end

function request()
  idx = idx + 1
  if idx > nbodies then
    idx = 1
    wrapped = wrapped + 1
  end
  return wrk.format(nil, nil, nil, bodies[idx])
end

function response(status, headers, body)
  if status == 200 then
    if string.find(body, "duplicate", 1, true) then
      duplicate = duplicate + 1
    else
      stored = stored + 1
    end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local s, d, o, w, sent = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("stored")
    d = d + t:get("duplicate")
    o = o + t:get("other")
    w = w + t:get("wrapped")
    sent = sent + t:get("idx") + t:get("wrapped") * t:get("nbodies")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"stored":%d,"duplicate":%d,"other":%d,' ..
    '"wrapped":%d,"sent":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, s, d, o, w, sent, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
